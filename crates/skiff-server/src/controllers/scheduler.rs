//! The scheduler loop: pending tasks → nodes (`skiff_core::schedule`).
//!
//! A round takes every task wanted running that is pending on no node, asks the scheduler
//! where each goes, and writes the answers: an assigned task gets its node and becomes
//! observed `assigned` (its message cleared); one that cannot be placed stays pending with the
//! reason as its message — written only when the message changes, so an unplaceable task
//! costs no write per round.

use std::collections::BTreeSet;
use std::time::Duration;

use skiff_core::objects::{DesiredState, Task, TaskState, Timestamp};
use skiff_core::schedule::{schedule, Decision, SchedulingInput};
use skiff_core::{Command, Expect, Key, Kind, Name, Object, Op, State};

use super::propose::{propose, with_retries, Outcome, MAX_OPS};
use super::wake::{compute, Wake};
use crate::control::{Consistency, ControlPlane, Unavailable};

/// A round at least this often.
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Runs rounds until aborted.
pub(super) async fn run(control: ControlPlane) {
    let mut wake = Wake::new(&control, TICK);
    loop {
        wake.mark();
        with_retries(|| round(&control)).await;
        wake.wait().await;
    }
}

async fn round(control: &ControlPlane) -> Result<Outcome, Unavailable> {
    let commands = control
        .read(Consistency::Stale, |state| {
            compute(|| plan(state, crate::api::now()))
        })
        .await?;
    if commands.is_empty() {
        return Ok(Outcome::Applied);
    }
    propose(control, "scheduler", commands).await
}

/// Whether the scheduler should place `task`.
pub(crate) fn is_pending(task: &Task) -> bool {
    task.desired == DesiredState::Running
        && task.observed == TaskState::Pending
        && task.node.is_none()
}

/// The writes of one scheduling round over `state` at `now`, in transactions of at most
/// [`MAX_OPS`] operations, each task expected at the revision read. A transaction also checks
/// every node it assigns to at the revision read: a node that goes down, is drained or
/// relabelled meanwhile makes it conflict, so that no task lands on a node the node monitor
/// has just emptied.
pub(crate) fn plan(state: &State, now: Timestamp) -> Vec<Command> {
    let records = state.list(&Kind::Task.prefix());
    let pending: Vec<(&Task, u64)> = records
        .iter()
        .filter_map(|r| match &r.object {
            Object::Task(t) if is_pending(t) => Some((t, r.mod_revision)),
            _ => None,
        })
        .collect();
    if pending.is_empty() {
        return Vec::new();
    }
    let mut input = SchedulingInput::from_state(state);
    let tasks: Vec<&Task> = pending.iter().map(|(t, _)| *t).collect();
    let decisions = schedule(&mut input, &tasks);
    let mut commands = Vec::new();
    let mut txn = Txn::default();
    for (&(task, revision), decision) in pending.iter().zip(decisions) {
        let mut task = task.clone();
        match decision {
            Decision::Assign { node, .. } => {
                task.node = Some(node);
                task.observed = TaskState::Assigned;
                task.message.clear();
            }
            Decision::Unplaced { reason, .. } => {
                let message = reason.to_string();
                if task.message == message {
                    continue;
                }
                task.message = message;
            }
        }
        task.updated_at = now;
        if txn.len() + 2 > MAX_OPS {
            commands.extend(std::mem::take(&mut txn).into_command(state));
        }
        txn.add(task, revision);
    }
    commands.extend(txn.into_command(state));
    commands
}

/// One transaction being filled: task writes, and the nodes they are assigned to.
#[derive(Default)]
struct Txn {
    ops: Vec<Op>,
    nodes: BTreeSet<Name>,
}

impl Txn {
    fn len(&self) -> usize {
        self.ops.len() + self.nodes.len()
    }

    fn add(&mut self, task: Task, revision: u64) {
        if let Some(node) = &task.node {
            self.nodes.insert(node.clone());
        }
        self.ops
            .push(Op::put(Object::Task(task), Expect::Revision(revision)));
    }

    /// The transaction, with a check of each node at its revision in `state`.
    fn into_command(self, state: &State) -> Option<Command> {
        if self.ops.is_empty() {
            return None;
        }
        let mut ops = self.ops;
        for id in self.nodes {
            let key = Key::Node { id };
            // The scheduler only assigns to nodes it read: each is there.
            let expect = state
                .get(&key)
                .map_or(Expect::Absent, |r| Expect::Revision(r.mod_revision));
            ops.push(Op::Check { key, expect });
        }
        Some(Command::Txn { ops })
    }
}

#[cfg(test)]
mod tests {
    use skiff_core::objects::{Environment, Service, Timestamp};
    use skiff_core::{Command, Expect, Key, Object, Op, State};

    fn object(json: serde_json::Value) -> Object {
        serde_json::from_value(json).unwrap()
    }

    /// A state with environment `dev` (at revision 1), node `n1` (2), service `web` (3) and
    /// its pending tasks `t1`, `t2` (4 and 5).
    fn state() -> State {
        let resources = serde_json::json!({"cpus": "4", "memory": 8_589_934_592u64});
        let mut state = State::new();
        let node = object(serde_json::json!({"node": {
            "id": "n1", "name": "n1", "address": "10.0.0.1:7946", "capacity": resources,
            "allocatable": resources, "availability": "active", "status": "ready",
        }}));
        let task = |id: &str, slot: u32| {
            object(serde_json::json!({"task": {
                "id": id, "env": "dev", "app": "shop", "service": "web",
                "slot": {"replica": slot}, "spec_revision": 1, "desired": "running",
                "observed": "pending", "created_at": 0, "updated_at": 0,
            }}))
        };
        let loader = skiff_manifest::MemoryLoader::new().with(
            "/app/compose.yaml",
            "services:\n  web:\n    image: busybox\n",
        );
        let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        let mut spec = skiff_manifest::load(&options, &loader).unwrap().spec;
        let name = |text: &str| skiff_core::Name::new(text).unwrap();
        let service = Object::Service(Box::new(Service {
            env: name("dev"),
            app: name("shop"),
            name: name("web"),
            spec_revision: 1,
            spec: spec.services.remove("web").unwrap(),
            vip: None,
            rollout: None,
        }));
        let env = Object::Environment(Environment {
            name: name("dev"),
            quota: Default::default(),
            node_selector: Default::default(),
        });
        let objects = [
            (1, env),
            (2, node),
            (3, service),
            (4, task("t1", 1)),
            (5, task("t2", 2)),
        ];
        for (revision, object) in objects {
            let response = state.apply(revision, &Command::put(object, Expect::Any));
            assert!(response.is_ok(), "{response:?}");
        }
        state
    }

    #[test]
    fn assignments_check_their_node_at_the_revision_read() {
        let state = state();
        let commands = super::plan(&state, Timestamp(5));
        let [Command::Txn { ops }] = &commands[..] else {
            panic!("one transaction: {commands:?}");
        };
        let summary: Vec<String> = ops
            .iter()
            .map(|op| match op {
                Op::Put {
                    object: Object::Task(t),
                    expect,
                    ..
                } => format!(
                    "put {} on {:?} {expect:?}",
                    t.id,
                    t.node.as_ref().map(skiff_core::Name::as_str)
                ),
                Op::Check { key, expect } => format!("check {key} {expect:?}"),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "put t1 on Some(\"n1\") Revision(4)",
                "put t2 on Some(\"n1\") Revision(5)",
                "check /nodes/n1 Revision(2)",
            ]
        );
        // Once the node changes (the node monitor marks it down), the assignment conflicts.
        let mut changed = state;
        let node = changed
            .get(&Key::Node {
                id: "n1".parse().unwrap(),
            })
            .unwrap();
        let mut down = node.object.clone();
        if let Object::Node(n) = &mut down {
            n.status = skiff_core::objects::NodeStatus::Down;
        }
        assert!(changed.apply(6, &Command::put(down, Expect::Any)).is_ok());
        let response = changed.apply(7, &commands[0]);
        assert!(!response.is_ok(), "{response:?}");
    }
}
