//! Rolling updates in a real one-server cluster, its leader's loops running, with a stand-in
//! agent that reports task states as an agent would (it starts what is assigned to its node,
//! or fails it when its spec revision is a bad one, and stops what it is told to): a rollout of
//! 6 replicas two at a time goes in batches, a failing version rolls back by itself, and
//! `POST …/rollback` undoes a change.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use skiff_core::objects::{DesiredState, Task, TaskState};
use skiff_core::{Command, Expect, Kind, Object};
use skiff_server::{Consistency, Heartbeats};
use support::{node, Cluster};

/// Rollouts take a few seconds of monitor windows: a longer deadline than the other tests'.
const DEADLINE: Duration = Duration::from_secs(40);

fn compose(image: &str, update: &str) -> String {
    format!(
        "name: shop\nservices:\n  web:\n    image: {image}\n    deploy:\n      replicas: 6\n\
         {update}"
    )
}

/// Heartbeats for n1 every 100 ms, as its agent's session would record them.
fn beat(heartbeats: Heartbeats) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            heartbeats.record("n1", Instant::now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// The stand-in agent of n1: every 50 ms, moves each task assigned to it one step, writing
/// at the revision it read (a conflict is tried again at the next pass, as a report would be).
/// A task of spec revision `bad` fails with exit code 1 instead of running.
fn agent(c: Arc<Cluster>, bad: Option<u64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for (mut task, revision) in tasks(&c).await {
                let before = task.clone();
                match (task.desired, task.observed) {
                    (DesiredState::Running, TaskState::Assigned) => {
                        if Some(task.spec_revision) == bad {
                            task.observed = TaskState::Failed;
                            task.exit_code = Some(1);
                            task.message = "exit code 1".into();
                        } else {
                            task.observed = TaskState::Running;
                        }
                    }
                    (DesiredState::Shutdown | DesiredState::Remove, s) if !s.is_terminal() => {
                        task.observed = TaskState::Shutdown;
                    }
                    _ => {}
                }
                if task != before {
                    let command = Command::put(Object::Task(task), Expect::Revision(revision));
                    let leader = c.leader().await;
                    let _ = c.servers[leader].control().propose(command).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn tasks(c: &Cluster) -> Vec<(Task, u64)> {
    c.servers[0]
        .control()
        .read(Consistency::Stale, |state| {
            state
                .list(&Kind::Task.prefix())
                .into_iter()
                .filter_map(|r| match &r.object {
                    Object::Task(t) => Some((t.clone(), r.mod_revision)),
                    _ => None,
                })
                .collect()
        })
        .await
        .unwrap()
}

async fn web(c: &Cluster) -> Value {
    let (status, body) = c.get("/v1/envs/dev/apps/shop/services/web").await;
    assert!(status.is_success(), "{status}: {body}");
    body["object"]["service"].clone()
}

/// The tasks wanted running: (spec revision, observed) each.
async fn wanted(c: &Cluster) -> Vec<(u64, TaskState)> {
    tasks(c)
        .await
        .into_iter()
        .filter(|(t, _)| t.desired == DesiredState::Running)
        .map(|(t, _)| (t.spec_revision, t.observed))
        .collect()
}

/// A one-server cluster with node n1, its heartbeats and its stand-in agent, running six
/// tasks of busybox.
async fn cluster(bad: Option<u64>) -> (Arc<Cluster>, Vec<tokio::task::JoinHandle<()>>) {
    let c = Arc::new(Cluster::one().await);
    c.put(node("n1")).await;
    c.create_env("dev").await;
    let loops = vec![
        beat(c.servers[0].heartbeats().clone()),
        agent(c.clone(), bad),
    ];
    let (status, body) = c.apply_yaml("dev", &compose("busybox", ""), &c.admin).await;
    assert!(status.is_success(), "{status}: {body}");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while wanted(&c).await != vec![(1, TaskState::Running); 6] {
        assert!(tokio::time::Instant::now() < deadline, "v1 never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        web(&c).await["rollout"],
        Value::Null,
        "a new service is no rollout"
    );
    (c, loops)
}

async fn finish(c: Arc<Cluster>, loops: Vec<tokio::task::JoinHandle<()>>) {
    for l in loops {
        l.abort();
        let _ = l.await;
    }
    match Arc::try_unwrap(c) {
        Ok(c) => c.shutdown().await,
        Err(_) => panic!("the cluster is still shared"),
    }
}

/// Polls until the service's rollout is in `state`, checking `each` of the tasks wanted
/// running on the way. Returns the service.
async fn until_rollout(
    c: &Cluster,
    state: &str,
    mut each: impl FnMut(&[(u64, TaskState)], &Value),
) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let service = web(c).await;
        let tasks = wanted(c).await;
        each(&tasks, &service);
        if service["rollout"]["state"] == state {
            return service;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rollout never got {state}: {:#}\n{tasks:?}",
            service["rollout"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn six_replicas_roll_out_two_at_a_time_and_undo_rolls_back() {
    let (c, loops) = cluster(None).await;
    let update =
        "      update_config:\n        parallelism: 2\n        delay: 300ms\n        monitor: 1s\n";
    let (status, body) = c
        .apply_yaml("dev", &compose("busybox:2", update), &c.admin)
        .await;
    assert!(status.is_success(), "{status}: {body}");

    let mut counts: Vec<(u64, Instant)> = Vec::new();
    let done = until_rollout(&c, "completed", |tasks, service| {
        let in_flight = tasks
            .iter()
            .filter(|(rev, s)| *rev == 2 && *s != TaskState::Running)
            .count();
        assert!(in_flight <= 2, "more than 2 slots updating: {tasks:?}");
        let running = tasks
            .iter()
            .filter(|(_, s)| *s == TaskState::Running)
            .count();
        assert!(
            running >= 4,
            "stop-first, 2 at a time: at most 2 down: {tasks:?}"
        );
        if let Some(updated) = service["rollout"]["updated"].as_u64() {
            if counts.last().map(|(n, _)| *n) != Some(updated) {
                counts.push((updated, Instant::now()));
            }
        }
    })
    .await;
    let batches: Vec<u64> = counts.iter().map(|(n, _)| *n).collect();
    assert_eq!(batches, [2, 4, 6], "three batches of two");
    for pair in counts.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            gap >= Duration::from_millis(300),
            "batches {gap:?} apart: the delay is 300 ms"
        );
    }
    assert_eq!(done["rollout"]["from_revision"], 1);
    assert_eq!(done["rollout"]["to_revision"], 2);
    assert_eq!(done["rollout"]["failures"], 0);
    assert_eq!(wanted(&c).await, vec![(2, TaskState::Running); 6]);

    // Undo: a new revision with revision 1's spec, rolled out per rollback_config.
    let (status, body) = c
        .send(
            c.req(Method::POST, "/v1/envs/dev/apps/shop/rollback", &c.admin)
                .json(&json!({"service": "web"})),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    assert_eq!(body["diff"]["to_revision"], 3);
    let back = until_rollout(&c, "rollback_completed", |_, _| {}).await;
    assert_eq!(back["spec"]["image"], "busybox");
    assert_eq!(back["rollout"]["restores_revision"], 1);
    assert_eq!(wanted(&c).await, vec![(3, TaskState::Running); 6]);

    // Nothing earlier that differs for a service never changed: a clear refusal.
    let (status, body) = c
        .send(
            c.req(Method::POST, "/v1/envs/dev/apps/nope/rollback", &c.admin)
                .json(&json!({})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    finish(c, loops).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_version_rolls_back_by_itself() {
    let (c, loops) = cluster(Some(2)).await;
    let original: Vec<String> = tasks(&c)
        .await
        .into_iter()
        .map(|(t, _)| t.id.to_string())
        .collect();
    let update = "      update_config:\n        parallelism: 2\n        failure_action: rollback\n\
                  \x20       monitor: 2s\n";
    let (status, body) = c
        .apply_yaml("dev", &compose("busybox:2", update), &c.admin)
        .await;
    assert!(status.is_success(), "{status}: {body}");

    let back = until_rollout(&c, "rollback_completed", |tasks, _| {
        let running = tasks
            .iter()
            .filter(|(_, s)| *s == TaskState::Running)
            .count();
        assert!(running >= 4, "the old version keeps serving: {tasks:?}");
    })
    .await;
    assert_eq!(
        back["spec"]["image"], "busybox",
        "revision 1's spec restored"
    );
    assert_eq!(back["spec_revision"], 3);
    assert_eq!(back["rollout"]["from_revision"], 2);
    assert_eq!(back["rollout"]["restores_revision"], 1);
    assert_eq!(wanted(&c).await, vec![(3, TaskState::Running); 6]);
    let kept = tasks(&c)
        .await
        .into_iter()
        .filter(|(t, _)| t.desired == DesiredState::Running)
        .filter(|(t, _)| original.contains(&t.id.to_string()))
        .count();
    assert_eq!(kept, 4, "only the first batch's slots were touched");

    let (status, history) = c.get("/v1/envs/dev/apps/shop/history").await;
    assert!(status.is_success(), "{status}: {history}");
    let revisions: Vec<(u64, String)> = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["spec_revision"].as_u64().unwrap(),
                r["spec"]["services"]["web"]["image"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        revisions,
        [
            (3, "busybox".to_owned()),
            (2, "busybox:2".to_owned()),
            (1, "busybox".to_owned())
        ]
    );
    finish(c, loops).await;
}
