//! The agents' gRPC service on a real server: registration, sessions (assignments, peers,
//! status batches, heartbeats), tokens, and a follower sending agents to the leader.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use skiff_core::objects::TaskState;
use skiff_core::{Command, Expect, Key, Name, Object, Response};
use skiff_proto::agent::agent_client::AgentClient;
use skiff_proto::agent::agent_message::Kind as Up;
use skiff_proto::agent::server_message::Kind as Down;
use skiff_proto::agent::{
    self as proto, AgentMessage, Assignments, Hello, Peers, RegisterRequest, ServerMessage,
    StatusBatch, TaskStatus,
};
use skiff_server::Consistency;
use support::{task, Cluster, COMPOSE};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

/// The tests put tasks by hand, as the orchestrator and scheduler would: those loops stay off.
fn without_controllers(mut config: skiff_server::ServerConfig) -> skiff_server::ServerConfig {
    config.controllers = false;
    config
}

async fn client(c: &Cluster, i: usize) -> AgentClient<Channel> {
    AgentClient::connect(format!("http://{}", c.servers[i].local_addr()))
        .await
        .unwrap()
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn registration(id: &str, address: &str) -> RegisterRequest {
    RegisterRequest {
        node_id: id.into(),
        name: format!("host-{id}"),
        address: address.into(),
        labels: [("zone".to_owned(), "a".to_owned())].into(),
        cpus_milli: 2000,
        memory_bytes: 4 << 30,
    }
}

/// Registers node `id` through the leader.
async fn register(c: &Cluster, id: &str, address: &str) -> proto::RegisterReply {
    let mut agent = client(c, c.leader().await).await;
    agent
        .register(authed(registration(id, address), &c.admin))
        .await
        .unwrap()
        .into_inner()
}

/// The record of `key` on server 0, as JSON.
async fn record(c: &Cluster, key: Key) -> Option<Value> {
    c.servers[0]
        .control()
        .read(Consistency::Stale, |s| s.get(&key).cloned())
        .await
        .unwrap()
        .map(|r| serde_json::to_value(r.object).unwrap())
}

fn task_key(id: &str) -> Key {
    Key::Task {
        id: Name::new(id).unwrap(),
    }
}

/// An open session: what the agent sends, and what it receives (the service data, which
/// comes between the other messages, set aside in `endpoints`).
struct Session {
    up: mpsc::Sender<AgentMessage>,
    down: Streaming<ServerMessage>,
    endpoints: Vec<proto::Endpoints>,
}

async fn session(c: &Cluster, i: usize, node: &str) -> Result<Session, Status> {
    let (up, rx) = mpsc::channel(16);
    let hello = Up::Hello(Hello {
        node_id: node.into(),
    });
    up.send(AgentMessage { kind: Some(hello) }).await.unwrap();
    let mut agent = client(c, i).await;
    let down = agent
        .session(authed(ReceiverStream::new(rx), &c.admin))
        .await?
        .into_inner();
    Ok(Session {
        up,
        down,
        endpoints: Vec::new(),
    })
}

impl Session {
    /// The next message but the service data's.
    async fn next(&mut self) -> Down {
        loop {
            match self.next_any().await {
                Down::Endpoints(bytes) => self
                    .endpoints
                    .push(prost::Message::decode(bytes).expect("Endpoints")),
                other => return other,
            }
        }
    }

    async fn next_any(&mut self) -> Down {
        let message = tokio::time::timeout(support::DEADLINE, self.down.message())
            .await
            .expect("a message within the deadline")
            .expect("no error")
            .expect("the session goes on");
        message.kind.unwrap()
    }

    /// Reads messages until the service data received satisfies `wanted`.
    async fn endpoints_until(&mut self, wanted: impl Fn(&[proto::Endpoints]) -> bool) {
        while !wanted(&self.endpoints) {
            if let Down::Endpoints(bytes) = self.next_any().await {
                self.endpoints
                    .push(prost::Message::decode(bytes).expect("Endpoints"));
            }
        }
    }

    async fn assignments(&mut self) -> Assignments {
        match self.next().await {
            Down::Assignments(a) => a,
            other => panic!("expected assignments, got {other:?}"),
        }
    }

    /// The next assignments that satisfy `wanted`, skipping others (the agent's own status
    /// writes come back as upserts, one per write).
    async fn assignments_until(&mut self, wanted: impl Fn(&Assignments) -> bool) -> Assignments {
        loop {
            let a = self.assignments().await;
            if wanted(&a) {
                return a;
            }
        }
    }

    async fn peers(&mut self) -> Peers {
        match self.next().await {
            Down::Peers(p) => p,
            other => panic!("expected peers, got {other:?}"),
        }
    }

    async fn report(&self, id: &str, state: proto::TaskState, message: &str) {
        let status = TaskStatus {
            task_id: id.into(),
            state: state as i32,
            message: message.into(),
            container_id: format!("c-{id}"),
            ip: "10.208.0.7".into(),
            exit_code: None,
            restart_count: 0,
            health: proto::Health::Unknown as i32,
            at_ms: 1,
        };
        let batch = Up::Status(StatusBatch {
            statuses: vec![status],
        });
        self.up
            .send(AgentMessage { kind: Some(batch) })
            .await
            .unwrap();
    }
}

fn ids(a: &Assignments) -> Vec<&str> {
    a.tasks.iter().map(|t| t.id.as_str()).collect()
}

/// Waits until task `id`'s record on server 0 satisfies `done`.
async fn wait_task(c: &Cluster, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    loop {
        let task = record(c, task_key(id)).await.unwrap();
        if done(&task["task"]) {
            return task["task"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "task {id}: {task}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_creates_the_node_and_a_re_registration_keeps_its_subnet() {
    let c = Cluster::with(1, without_controllers).await;
    let first = register(&c, "n1", "10.0.0.1:7401").await;
    assert_eq!(
        (first.node_id.as_str(), first.pod_subnet.as_str()),
        ("n1", "10.208.0.0/24")
    );
    let second = register(&c, "n2", "10.0.0.2:7401").await;
    assert_eq!(second.pod_subnet, "10.208.1.0/24");
    let node = record(
        &c,
        Key::Node {
            id: Name::new("n1").unwrap(),
        },
    )
    .await
    .unwrap();
    let node = &node["node"];
    assert_eq!(node["availability"], "active");
    assert_eq!(node["status"], "ready");
    assert_eq!(node["labels"]["zone"], "a");
    assert_eq!(node["capacity"], node["allocatable"]);

    // An operator drains n1 and the node monitor marks it down; its agent comes back elsewhere.
    let mut drained: Object = serde_json::from_value(serde_json::json!({ "node": node })).unwrap();
    if let Object::Node(n) = &mut drained {
        n.availability = skiff_core::objects::Availability::Drain;
        n.status = skiff_core::objects::NodeStatus::Down;
    }
    c.put(drained).await;
    let again = register(&c, "n1", "10.0.0.9:7401").await;
    assert_eq!(again.pod_subnet, "10.208.0.0/24");
    assert!(again.revision > first.revision);
    let node = record(
        &c,
        Key::Node {
            id: Name::new("n1").unwrap(),
        },
    )
    .await
    .unwrap();
    assert_eq!(node["node"]["availability"], "drain");
    assert_eq!(node["node"]["status"], "ready");
    assert_eq!(node["node"]["address"], "10.0.0.9:7401");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_registrations_and_tokens_are_refused_with_what_to_fix() {
    let c = Cluster::with(1, without_controllers).await;
    let mut agent = client(&c, 0).await;
    type Tweak = fn(&mut RegisterRequest);
    let cases: [(&str, Tweak); 4] = [
        ("node_id", |r| r.node_id = "Not_A_Label".into()),
        ("address", |r| r.address = "no-port".into()),
        ("cpus_milli", |r| r.cpus_milli = 0),
        ("labels.a b", |r| {
            r.labels.insert("a b".into(), "x".into());
        }),
    ];
    for (field, tweak) in cases {
        let mut request = registration("n1", "10.0.0.1:7401");
        tweak(&mut request);
        let e = agent.register(authed(request, &c.admin)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(&format!("{field}: ")), "{e:?}");
    }
    assert!(record(
        &c,
        Key::Node {
            id: Name::new("n1").unwrap()
        }
    )
    .await
    .is_none());

    let request = || registration("n1", "10.0.0.1:7401");
    let e = agent.register(Request::new(request())).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("Bearer"), "{e:?}");
    let forged = "skiff.admin.0000000000000000000000000000000000000000000000000000000000000000";
    let e = agent.register(authed(request(), forged)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let reader = c.token("read", &[]).await;
    let e = agent
        .register(authed(request(), &reader))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("admin"), "{e:?}");
    let (up, rx) = mpsc::channel(1);
    drop(up);
    let e = agent
        .session(authed(ReceiverStream::new(rx), &reader))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_starts_with_the_full_set_and_follows_changes_and_peers() {
    let c = Cluster::with(1, without_controllers).await;
    c.create_env("dev").await;
    let (status, body) = c.apply_yaml("dev", COMPOSE, &c.admin).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::CREATED,
        "{body}"
    );
    register(&c, "n1", "10.0.0.1:7401").await;
    register(&c, "n2", "10.0.0.2:7401").await;
    c.put(task("t1", "dev", "shop", "web", Some("n1"))).await;
    c.put(task("t2", "dev", "shop", "web", Some("n2"))).await;
    let mut orphaned = task("t3", "dev", "shop", "cache", Some("n1"));
    if let Object::Task(t) = &mut orphaned {
        t.observed = TaskState::Orphaned;
    }
    c.put(orphaned).await;

    let e = session(&c, 0, "n9")
        .await
        .err()
        .expect("an unknown node is refused");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let mut s = session(&c, 0, "n1").await.unwrap();
    let full = s.assignments().await;
    assert!(full.full);
    assert_eq!(ids(&full), ["t1"]);
    assert_eq!(full.tasks[0].slot, "1");
    let spec: skiff_api::app::ServiceSpec =
        serde_json::from_slice(&full.tasks[0].spec_json).unwrap();
    assert_eq!(spec.image, "nginx:1");
    let peers = s.peers().await;
    assert_eq!(peers.peers.len(), 1);
    assert_eq!(
        (
            peers.peers[0].node_id.as_str(),
            peers.peers[0].address.as_str(),
            peers.peers[0].pod_subnet.as_str()
        ),
        ("n2", "10.0.0.2", "10.208.1.0/24")
    );
    assert!(c.servers[0].heartbeats().last("n1").is_some());

    // Put, moved away, deleted.
    let revision = c.put(task("t4", "dev", "shop", "cache", Some("n1"))).await;
    let change = s.assignments().await;
    assert!(!change.full);
    assert_eq!((ids(&change), change.revision), (vec!["t4"], revision));
    c.put(task("t1", "dev", "shop", "web", Some("n2"))).await;
    assert_eq!(s.assignments().await.removed, ["t1"]);

    // Status: forward changes are written, a backward one is dropped and the session goes on.
    s.report("t4", proto::TaskState::Preparing, "pulling").await;
    s.report("t4", proto::TaskState::Running, "up").await;
    let t4 = wait_task(&c, "t4", |t| t["observed"] == "running").await;
    assert_eq!(t4["message"], "up");
    assert_eq!(t4["container_id"], "c-t4");
    assert_eq!(t4["desired"], "running");
    assert_eq!(t4["node"], "n1");
    // The agent's write is a change of t4, sent back as an upsert.
    let echo = s
        .assignments_until(|a| {
            a.tasks
                .iter()
                .any(|t| t.observed == proto::TaskState::Running as i32)
        })
        .await;
    assert_eq!(ids(&echo), ["t4"]);
    s.report("t4", proto::TaskState::Assigned, "backwards")
        .await;
    s.report("t2", proto::TaskState::Running, "not mine").await;
    s.report("t4", proto::TaskState::Complete, "done").await;
    let t4 = wait_task(&c, "t4", |t| t["observed"] == "complete").await;
    assert_eq!(t4["message"], "done");
    assert_eq!(
        record(&c, task_key("t2")).await.unwrap()["task"]["observed"],
        "pending"
    );
    s.assignments_until(|a| {
        a.tasks
            .iter()
            .any(|t| t.observed == proto::TaskState::Complete as i32)
    })
    .await;

    c.servers[0]
        .control()
        .propose(Command::Delete {
            key: task_key("t4"),
            expect: Expect::Any,
        })
        .await
        .map(|r| assert!(matches!(r, Response::Ok { .. })))
        .unwrap();
    assert_eq!(s.assignments().await.removed, ["t4"]);

    // A new node is a new peer.
    register(&c, "n3", "10.0.0.3:7401").await;
    let peers = s.peers().await;
    let ids: Vec<&str> = peers.peers.iter().map(|p| p.node_id.as_str()).collect();
    assert_eq!(ids, ["n2", "n3"]);
    drop(s);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_must_start_with_hello() {
    let c = Cluster::with(1, without_controllers).await;
    let (up, rx) = mpsc::channel(4);
    let heartbeat = Up::Heartbeat(proto::Heartbeat {
        applied_revision: 0,
    });
    up.send(AgentMessage {
        kind: Some(heartbeat),
    })
    .await
    .unwrap();
    let e = client(&c, 0)
        .await
        .session(authed(ReceiverStream::new(rx), &c.admin))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("Hello"), "{e:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_sends_agents_to_the_leader() {
    let c = Cluster::with(2, without_controllers).await;
    let leader = c.leader().await;
    let follower = c.follower().await;
    let leader_addr = c.servers[leader].local_addr().to_string();
    assert_eq!(
        register(&c, "n1", "10.0.0.1:7401").await.pod_subnet,
        "10.208.0.0/24"
    );
    let e = session(&c, follower, "n1").await.err().expect("refused");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains(&leader_addr), "{e:?}");
    assert_eq!(
        e.metadata().get("skiff-leader").unwrap().to_str().unwrap(),
        leader_addr
    );
    let mut agent = client(&c, follower).await;
    let e = agent
        .register(authed(registration("n2", "10.0.0.2:7401"), &c.admin))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains(&leader_addr), "{e:?}");
    c.shutdown().await;
}

/// Every endpoint (task id, ip, ready) the messages `received` leave the agent holding for
/// `env`, applied in order as an agent would.
fn held(received: &[proto::Endpoints], env: &str) -> Vec<(String, String, bool)> {
    let mut table = std::collections::BTreeMap::new();
    for m in received.iter().filter(|m| m.env == env) {
        if m.full {
            table.clear();
        }
        for e in &m.endpoints {
            table.insert(e.task_id.clone(), (e.ip.clone(), e.ready));
        }
        for id in &m.removed_endpoints {
            table.remove(id);
        }
    }
    table
        .into_iter()
        .map(|(id, (ip, ready))| (id, ip, ready))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_get_the_service_data_of_the_environments_their_node_runs_tasks_of() {
    let c = Cluster::with(1, without_controllers).await;
    c.create_env("dev").await;
    c.create_env("prod").await;
    for env in ["dev", "prod"] {
        let (status, body) = c.apply_yaml(env, COMPOSE, &c.admin).await;
        assert!(status.is_success(), "{env}: {body}");
    }
    register(&c, "n1", "10.0.0.1:7401").await;
    register(&c, "n2", "10.0.0.2:7401").await;
    c.put(task("t1", "dev", "shop", "web", Some("n1"))).await;
    let mut s1 = session(&c, 0, "n1").await.unwrap();
    let mut s2 = session(&c, 0, "n2").await.unwrap();
    for s in [&mut s1, &mut s2] {
        s.assignments().await;
        s.peers().await;
    }
    // n1 runs a task of dev: the whole of dev (its services; no address yet), nothing of prod.
    s1.endpoints_until(|e| e.iter().any(|m| m.env == "dev" && m.full))
        .await;
    let first = s1.endpoints.iter().find(|m| m.full).unwrap();
    let mut names: Vec<&str> = first.services.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["cache", "web"]);
    assert!(first.endpoints.is_empty());

    // A task of dev on n2 runs: n2 now gets dev's data, and n1 the change, ready.
    c.put(task("t2", "dev", "shop", "web", Some("n2"))).await;
    s2.assignments().await;
    s2.report("t2", proto::TaskState::Running, "up").await;
    let want = vec![("t2".to_string(), "10.208.0.7".to_string(), true)];
    s1.endpoints_until(|e| held(e, "dev") == want).await;
    s2.endpoints_until(|e| held(e, "dev") == want).await;
    assert!(
        s1.endpoints
            .iter()
            .chain(&s2.endpoints)
            .all(|m| m.env == "dev"),
        "prod's data went to nodes without prod tasks"
    );

    // t1 leaves n1: n1 runs nothing of dev any more and is told to drop it all.
    c.put(task("t1", "dev", "shop", "web", Some("n2"))).await;
    s1.endpoints_until(|e| {
        e.last()
            .is_some_and(|m| m.env == "dev" && m.full && m.services.is_empty())
    })
    .await;
    c.shutdown().await;
}
