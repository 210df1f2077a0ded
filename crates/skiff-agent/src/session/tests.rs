//! The session against fake servers on 127.0.0.1 (tier 2: real gRPC, no cluster).

use std::collections::BTreeMap;
use std::time::Duration;

use skiff_proto::agent::{
    agent_message::Kind as Up, server_message::Kind as Down, Assignments, DesiredState, Peer,
    Peers as PeersMessage, ServerMessage, TaskState, TaskStatus,
};
use tokio::sync::watch;

use super::fake::{assigned, eventually, FakeServer};
use super::*;

const TOKEN: &str = "sk-test-token";

fn config(servers: Vec<String>, data_dir: Option<PathBuf>) -> SessionConfig {
    SessionConfig {
        servers,
        token: Some(TOKEN.into()),
        node_id: None,
        name: "host-1".into(),
        address: "127.0.0.1:7410".into(),
        labels: BTreeMap::from([("zone".into(), "a".into())]),
        capacity: Capacity {
            cpus_milli: 4000,
            memory_bytes: 8 << 30,
        },
        heartbeat_interval: Duration::from_millis(50),
        data_dir,
        quiet: true,
    }
}

/// A running session and the ends of its channels.
struct Running {
    board: StatusBoard,
    desired: watch::Receiver<DesiredSet>,
    peers: watch::Receiver<Peers>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<Registration, SessionError>>,
}

fn start(config: SessionConfig, board: StatusBoard) -> Running {
    let outputs = Outputs::new();
    let (desired, peers) = (outputs.desired.subscribe(), outputs.peers.subscribe());
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run(config, board.clone(), outputs, stop_rx));
    Running {
        board,
        desired,
        peers,
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) -> Registration {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the session stops")
            .unwrap()
            .unwrap()
    }
}

fn assignments(revision: u64, full: bool, tasks: &[&str], removed: &[&str]) -> ServerMessage {
    let tasks = tasks
        .iter()
        .enumerate()
        .map(|(i, id)| assigned(id, i as u32 + 1, DesiredState::Running))
        .collect();
    ServerMessage {
        kind: Some(Down::Assignments(Assignments {
            revision,
            full,
            tasks,
            removed: removed.iter().map(|s| s.to_string()).collect(),
        })),
    }
}

fn status(id: &str, state: TaskState) -> TaskStatus {
    TaskStatus {
        task_id: id.into(),
        state: state as i32,
        ..Default::default()
    }
}

/// The task ids of every status batch a session received, batch by batch.
fn batches(server: &FakeServer, session: usize) -> Vec<Vec<String>> {
    server.with(|s| {
        s.sessions[session]
            .received
            .iter()
            .filter_map(|m| match &m.kind {
                Some(Up::Status(batch)) => {
                    Some(batch.statuses.iter().map(|s| s.task_id.clone()).collect())
                }
                _ => None,
            })
            .collect()
    })
}

fn heartbeats(server: &FakeServer, session: usize) -> Vec<u64> {
    server.with(|s| {
        s.sessions[session]
            .received
            .iter()
            .filter_map(|m| match &m.kind {
                Some(Up::Heartbeat(beat)) => Some(beat.applied_revision),
                _ => None,
            })
            .collect()
    })
}

fn task_ids(set: &DesiredSet) -> Vec<&str> {
    set.tasks.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn registers_then_publishes_assignments_and_peers_and_sends_heartbeats() {
    let server = FakeServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        config(vec![server.addr.clone()], Some(dir.path().to_owned())),
        StatusBoard::new(),
    );
    eventually("the session says hello", || {
        server.with(|s| s.sessions.len() == 1)
    })
    .await;
    let (request, token) = server.with(|s| s.registrations[0].clone());
    let node_id = std::fs::read_to_string(dir.path().join(NODE_ID_FILE)).unwrap();
    assert_eq!(request.node_id, node_id.trim());
    assert!(request.node_id.starts_with("node-"));
    assert_eq!(
        (request.name.as_str(), request.address.as_str()),
        ("host-1", "127.0.0.1:7410")
    );
    assert_eq!(request.labels.get("zone").map(String::as_str), Some("a"));
    assert_eq!((request.cpus_milli, request.memory_bytes), (4000, 8 << 30));
    assert_eq!(token.as_deref(), Some("Bearer sk-test-token"));
    assert_eq!(
        stored_pod_subnet(dir.path()).unwrap().as_deref(),
        Some("10.88.0.0/24")
    );
    let session_token = server.with(|s| s.sessions[0].token.clone());
    assert_eq!(session_token.as_deref(), Some("Bearer sk-test-token"));
    assert_eq!(
        server.with(|s| s.sessions[0].node_id().map(str::to_owned)),
        Some(request.node_id.clone())
    );

    // The full set, then a change.
    server
        .send(&request.node_id, assignments(10, true, &["a", "b"], &[]))
        .await;
    s.desired.wait_for(|set| set.revision == 10).await.unwrap();
    assert!(s.desired.borrow().complete);
    assert_eq!(task_ids(&s.desired.borrow()), ["a", "b"]);
    server
        .send(&request.node_id, assignments(11, false, &["c"], &["a"]))
        .await;
    s.desired.wait_for(|set| set.revision == 11).await.unwrap();
    assert_eq!(task_ids(&s.desired.borrow()), ["b", "c"]);

    // A task the agent cannot decode: the set stays as it was, the session goes on.
    let mut bad = assignments(12, false, &["d"], &["b"]);
    if let Some(Down::Assignments(a)) = &mut bad.kind {
        a.tasks[0].spec_json = b"{not json".to_vec();
    }
    server.send(&request.node_id, bad).await;
    let peers = vec![Peer {
        node_id: "node-2".into(),
        address: "10.0.0.2".into(),
        pod_subnet: "10.88.1.0/24".into(),
    }];
    let message = ServerMessage {
        kind: Some(Down::Peers(PeersMessage {
            peers: peers.clone(),
        })),
    };
    server.send(&request.node_id, message).await;
    s.peers.wait_for(|p| !p.is_empty()).await.unwrap();
    assert_eq!(*s.peers.borrow(), peers);
    assert_eq!(s.desired.borrow().revision, 11);
    assert_eq!(task_ids(&s.desired.borrow()), ["b", "c"]);
    assert_eq!(server.with(|s| s.sessions.len()), 1, "the session went on");

    // Heartbeats carry the revision applied.
    eventually("heartbeats with revision 11 arrive", || {
        heartbeats(&server, 0).iter().filter(|r| **r == 11).count() >= 2
    })
    .await;
    let registration = s.stop().await;
    assert_eq!(registration.pod_subnet, "10.88.0.0/24");
}

#[tokio::test]
async fn statuses_are_sent_as_they_change_and_all_again_after_a_reconnect() {
    let server = FakeServer::start().await;
    let board = StatusBoard::new();
    board.report(status("a", TaskState::Running));
    board.report(status("b", TaskState::Preparing));
    let mut cfg = config(vec![server.addr.clone()], None);
    cfg.node_id = Some("n1".into());
    let s = start(cfg, board);
    eventually("the statuses held are sent", || {
        server.with(|s| s.sessions.len() == 1) && batches(&server, 0) == [["a", "b"]]
    })
    .await;
    s.board.report(status("b", TaskState::Starting));
    s.board.report(status("c", TaskState::Preparing));
    s.board.report(status("b", TaskState::Running));
    eventually("the changes are sent in one batch", || {
        batches(&server, 0).len() == 2
    })
    .await;
    assert_eq!(batches(&server, 0)[1], ["b", "c"]);

    server.end_sessions();
    eventually("the agent is back", || {
        server.with(|s| s.sessions.len() == 2) && !batches(&server, 1).is_empty()
    })
    .await;
    assert_eq!(batches(&server, 1), [["a", "b", "c"]]);
    let states: Vec<_> = server.with(|s| match &s.sessions[1].received[1].kind {
        Some(Up::Status(batch)) => batch.statuses.iter().map(|s| s.state()).collect(),
        other => panic!("statuses first, not {other:?}"),
    });
    assert_eq!(
        states,
        [TaskState::Running, TaskState::Running, TaskState::Preparing]
    );
    s.stop().await;
}

#[tokio::test]
async fn a_killed_server_is_replaced_by_the_next_one() {
    let first = FakeServer::start().await;
    let second = FakeServer::start().await;
    let mut cfg = config(vec![first.addr.clone(), second.addr.clone()], None);
    cfg.node_id = Some("n1".into());
    let s = start(cfg, StatusBoard::new());
    eventually("a session with the first server", || {
        first.with(|s| s.sessions.len() == 1)
    })
    .await;
    first.kill().await;
    eventually("a session with the second server", || {
        second.with(|s| s.sessions.len() == 1)
    })
    .await;
    assert_eq!(
        second
            .with(|s| s.sessions[0].node_id().map(str::to_owned))
            .as_deref(),
        Some("n1")
    );
    eventually("heartbeats reach the second server", || {
        !heartbeats(&second, 0).is_empty()
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_follower_naming_the_leader_sends_the_agent_there() {
    let follower = FakeServer::start().await;
    let other = FakeServer::start().await;
    let leader = FakeServer::start().await;
    let refusal = format!(
        "this server does not lead the cluster; server 3 at {} does",
        leader.addr
    );
    follower.with(|s| s.refuse = Some(refusal));
    // The leader is not in the list: only the refusal can lead the agent there.
    let mut cfg = config(vec![follower.addr.clone(), other.addr.clone()], None);
    cfg.node_id = Some("n1".into());
    other.with(|s| s.refuse = Some("no leader is known yet".into()));
    let s = start(cfg, StatusBoard::new());
    eventually("a session with the leader", || {
        leader.with(|s| s.sessions.len() == 1)
    })
    .await;
    assert_eq!(follower.with(|s| s.refused), 1);
    assert_eq!(
        other.with(|s| s.refused),
        0,
        "the leader was tried before the rotation went on"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_bad_token_or_server_is_refused_clearly() {
    let mut cfg = config(vec!["127.0.0.1".into()], None);
    cfg.node_id = Some("n1".into());
    let err = Session::new(cfg.clone()).unwrap_err();
    assert!(
        err.to_string().contains("\"127.0.0.1\" is not host:port"),
        "{err}"
    );
    cfg.servers.clear();
    assert!(matches!(Session::new(cfg), Err(SessionError::NoServers)));
}

#[tokio::test]
async fn a_refused_token_stops_the_agent_with_a_clear_error() {
    let server = FakeServer::start().await;
    server.with(|s| s.require = Some("Bearer another".into()));
    let mut cfg = config(vec![server.addr.clone()], None);
    cfg.node_id = Some("n1".into());
    let s = start(cfg, StatusBoard::new());
    let err = tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .expect("the agent stops")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, SessionError::Unauthenticated { .. }), "{err}");
    assert!(err.to_string().contains("--token"), "{err}");
}
