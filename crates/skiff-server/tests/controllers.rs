//! The leader-only loops in a real one-server cluster: tasks are created for an applied app
//! and assigned to nodes; a node whose agent stops sending heartbeats goes down after the grace
//! period and its tasks come back on another node; re-applying with another replica count
//! scales.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use skiff_core::objects::{DesiredState, NodeStatus, Task, TaskState};
use skiff_core::{Kind, Object};
use skiff_server::{Consistency, Heartbeats};
use support::{node, Cluster, DEADLINE};

const GRACE: Duration = Duration::from_millis(1_500);

fn compose(replicas: u32) -> String {
    format!("name: shop\nservices:\n  web:\n    image: busybox\n    deploy:\n      replicas: {replicas}\n")
}

/// Records a heartbeat every 100 ms for each node in `alive`, as agent sessions would.
fn beat(
    heartbeats: Heartbeats,
    alive: Arc<Mutex<Vec<&'static str>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for id in alive.lock().unwrap().iter() {
                heartbeats.record(id, Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn tasks(c: &Cluster) -> Vec<Task> {
    c.servers[0]
        .control()
        .read(Consistency::Stale, |state| {
            state
                .list(&Kind::Task.prefix())
                .into_iter()
                .filter_map(|r| match &r.object {
                    Object::Task(t) => Some(t.clone()),
                    _ => None,
                })
                .collect()
        })
        .await
        .unwrap()
}

async fn node_status(c: &Cluster, id: &str) -> NodeStatus {
    c.servers[0]
        .control()
        .read(Consistency::Stale, |state| {
            match state
                .list(&Kind::Node.prefix())
                .into_iter()
                .find_map(|r| match &r.object {
                    Object::Node(n) if n.id.as_str() == id => Some(n.status),
                    _ => None,
                }) {
                Some(status) => status,
                None => panic!("no node {id}"),
            }
        })
        .await
        .unwrap()
}

/// The tasks wanted running, by slot: (node, observed).
fn running(tasks: &[Task]) -> BTreeMap<String, (Option<String>, TaskState)> {
    tasks
        .iter()
        .filter(|t| t.desired == DesiredState::Running)
        .map(|t| {
            (
                format!("{:?}", t.slot),
                (t.node.as_ref().map(|n| n.to_string()), t.observed),
            )
        })
        .collect()
}

/// Waits until `check` holds of the tasks, or fails with the last ones seen.
async fn until(c: &Cluster, what: &str, check: impl Fn(&[Task]) -> bool) -> Vec<Task> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let tasks = tasks(c).await;
        if check(&tasks) {
            return tasks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: never happened; tasks: {:#?}",
            running(&tasks)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_assigned(tasks: &[Task], count: usize, nodes: &[&str]) -> bool {
    let running = running(tasks);
    running.len() == count
        && running.values().all(|(node, observed)| {
            *observed == TaskState::Assigned && node.as_deref().is_some_and(|n| nodes.contains(&n))
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_become_assigned_tasks_that_move_off_a_silent_node_and_scale() {
    let c = Cluster::with(1, |mut config| {
        config.node_grace_period = GRACE;
        config
    })
    .await;
    let alive = Arc::new(Mutex::new(vec!["n1", "n2"]));
    let beating = beat(c.servers[0].heartbeats().clone(), alive.clone());
    c.put(node("n1")).await;
    c.put(node("n2")).await;
    c.create_env("dev").await;
    let (status, body) = c.apply_yaml("dev", &compose(3), &c.admin).await;
    assert!(status.is_success(), "{status}: {body}");

    let placed = until(&c, "3 tasks assigned", |t| {
        all_assigned(t, 3, &["n1", "n2"])
    })
    .await;
    let on_n1: Vec<_> = placed
        .iter()
        .filter(|t| t.node.as_ref().is_some_and(|n| n.as_str() == "n1"))
        .map(|t| t.id.clone())
        .collect();
    assert!(!on_n1.is_empty(), "the scheduler spreads over both nodes");

    // n1's agent goes silent: after the grace period n1 is down, its tasks orphaned and
    // replaced on n2.
    alive.lock().unwrap().retain(|n| *n != "n1");
    let silent = Instant::now();
    let moved = until(&c, "tasks moved to n2", |t| all_assigned(t, 3, &["n2"])).await;
    assert!(silent.elapsed() >= GRACE, "not before the grace period");
    assert_eq!(node_status(&c, "n1").await, NodeStatus::Down);
    for id in &on_n1 {
        let old = moved.iter().find(|t| t.id == *id).expect("kept as history");
        assert_eq!(old.observed, TaskState::Orphaned);
        assert_eq!(old.desired, DesiredState::Shutdown);
        assert!(
            old.message.starts_with("node n1 down: no heartbeat for"),
            "{}",
            old.message
        );
    }

    // n1 comes back: ready again.
    alive.lock().unwrap().push("n1");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while node_status(&c, "n1").await != NodeStatus::Ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "n1 never ready again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Scale up, then down.
    let (status, body) = c.apply_yaml("dev", &compose(5), &c.admin).await;
    assert!(status.is_success(), "{status}: {body}");
    until(&c, "scaled up to 5", |t| all_assigned(t, 5, &["n1", "n2"])).await;
    let (status, body) = c.apply_yaml("dev", &compose(1), &c.admin).await;
    assert!(status.is_success(), "{status}: {body}");
    let scaled = until(&c, "scaled down to 1", |t| {
        all_assigned(t, 1, &["n1", "n2"])
    })
    .await;
    assert!(
        scaled
            .iter()
            .filter(|t| t.desired == DesiredState::Remove)
            .all(|t| !matches!(t.slot, skiff_core::objects::Slot::Replica(1))),
        "only slots beyond 1 go"
    );
    beating.abort();
    c.shutdown().await;
}

/// The virtual IP of each service of `dev/shop`, by name, as `GET /v1/envs/dev/apps/shop/services/…` shows.
async fn vips(c: &Cluster, services: &[&str]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for svc in services {
        let (status, body) = c
            .get(&format!("/v1/envs/dev/apps/shop/services/{svc}"))
            .await;
        assert!(status.is_success(), "{svc}: {status}: {body}");
        out.push(body["object"]["service"]["vip"].as_str().map(str::to_owned));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn services_get_virtual_ips_of_the_range_and_keep_them_across_applies() {
    let c = Cluster::with(1, |mut config| {
        config.service_cidr = "10.99.0.0/24".parse().unwrap();
        config
    })
    .await;
    c.create_env("dev").await;
    let yaml = |image: &str| {
        format!(
            "name: shop\nservices:\n  web:\n    image: {image}\n  api:\n    image: busybox\n  \
             db:\n    image: busybox\n    deploy:\n      endpoint_mode: dnsrr\n"
        )
    };
    let (status, body) = c.apply_yaml("dev", &yaml("busybox"), &c.admin).await;
    assert!(status.is_success(), "{status}: {body}");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let first = loop {
        let got = vips(&c, &["web", "api", "db"]).await;
        if got[0].is_some() && got[1].is_some() {
            break got;
        }
        assert!(tokio::time::Instant::now() < deadline, "no VIPs: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (web, api) = (first[0].clone().unwrap(), first[1].clone().unwrap());
    assert_ne!(web, api);
    for ip in [&web, &api] {
        let ip: std::net::Ipv4Addr = ip.parse().unwrap();
        assert_eq!(ip.octets()[..3], [10, 99, 0], "{ip} is outside the range");
        assert!(ip.octets()[3] != 0 && ip.octets()[3] != 255, "{ip}");
    }
    assert_eq!(first[2], None, "a dnsrr service has no virtual IP");

    // A changed spec keeps the address; the orchestrator leaves it alone.
    let (status, body) = c.apply_yaml("dev", &yaml("busybox:2"), &c.admin).await;
    assert!(status.is_success(), "{status}: {body}");
    let (_, service) = c.get("/v1/envs/dev/apps/shop/services/web").await;
    assert_eq!(service["object"]["service"]["spec"]["image"], "busybox:2");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(vips(&c, &["web", "api", "db"]).await, first);
    c.shutdown().await;
}
