//! The node monitor: down after the grace period, ready again when heard from.

use std::collections::HashMap;
use std::time::Duration;

use super::super::nodes::{monitor, NodeMonitorInput, StoredNode};
use super::*;
use crate::state::{Command, Expect, Op};

const NOW: u64 = 100_000;

struct Case {
    nodes: Vec<Node>,
    /// Node id → milliseconds since last heard from (absent: never).
    silence: Vec<(&'static str, u64)>,
    tasks: Vec<Task>,
    /// Milliseconds since the leader's election.
    leader_for: u64,
}

impl Case {
    /// One line per change: `n1 down (orphans a, b)`, `n2 ready`.
    fn plan(&self) -> Vec<String> {
        let input = NodeMonitorInput {
            now: Timestamp(NOW),
            grace: Duration::from_secs(5),
            nodes: self
                .nodes
                .iter()
                .map(|node| StoredNode { node, revision: 3 })
                .collect(),
            last_seen: self
                .silence
                .iter()
                .map(|(id, ms)| (name(id), Timestamp(NOW - ms)))
                .collect::<HashMap<_, _>>(),
            tasks: self
                .tasks
                .iter()
                .map(|task| StoredTask { task, revision: 4 })
                .collect(),
            leader_since: Timestamp(NOW - self.leader_for),
        };
        monitor(&input)
            .changes
            .iter()
            .map(|c| {
                let status = format!("{:?}", c.node.status).to_lowercase();
                let ids: Vec<_> = c.orphaned.iter().map(|(t, _)| t.id.to_string()).collect();
                if ids.is_empty() {
                    format!("{} {status}", c.node.id)
                } else {
                    format!("{} {status} (orphans {})", c.node.id, ids.join(", "))
                }
            })
            .collect()
    }
}

fn down(id: &str) -> Node {
    let mut n = node(id);
    n.status = NodeStatus::Down;
    n
}

#[test]
fn nodes_go_down_after_the_grace_period_and_come_back() {
    use TaskState::{Assigned, Complete, Running};
    let cases: Vec<(&str, Case, &[&str])> = vec![
        (
            "heard from recently: nothing",
            Case {
                nodes: vec![node("n1")],
                silence: vec![("n1", 1_000)],
                tasks: vec![],
                leader_for: NOW,
            },
            &[],
        ),
        (
            "silent for exactly the grace period: still ready",
            Case {
                nodes: vec![node("n1")],
                silence: vec![("n1", 5_000)],
                tasks: vec![],
                leader_for: NOW,
            },
            &[],
        ),
        (
            "silent for longer: down, its tasks not over orphaned, others left",
            Case {
                nodes: vec![node("n1"), node("n2")],
                silence: vec![("n1", 5_001), ("n2", 10)],
                tasks: vec![
                    task("a", r(1), 1).at("n1", Running),
                    task("b", r(2), 1).at("n1", Assigned),
                    task("c", r(3), 1).at("n1", Complete),
                    task("d", r(4), 1).at("n2", Running),
                    task("e", r(5), 1),
                ],
                leader_for: NOW,
            },
            &["n1 down (orphans a, b)"],
        ),
        (
            "never heard from: down",
            Case {
                nodes: vec![node("n1")],
                silence: vec![],
                tasks: vec![],
                leader_for: NOW,
            },
            &["n1 down"],
        ),
        (
            "a down node heard from again: ready",
            Case {
                nodes: vec![down("n1")],
                silence: vec![("n1", 100)],
                tasks: vec![task("a", r(1), 1).at("n1", TaskState::Orphaned)],
                leader_for: NOW,
            },
            &["n1 ready"],
        ),
        (
            "a down node still silent: nothing, unless a task on it is not over",
            Case {
                nodes: vec![down("n1"), down("n2")],
                silence: vec![("n1", 60_000)],
                tasks: vec![task("a", r(1), 1).at("n2", Running)],
                leader_for: NOW,
            },
            &["n2 down (orphans a)"],
        ),
        (
            "a new leader's grace period starts at its election for ready nodes only",
            Case {
                nodes: vec![node("n1"), down("n2")],
                silence: vec![],
                tasks: vec![],
                leader_for: 3_000,
            },
            &[],
        ),
        (
            "… and ends grace later",
            Case {
                nodes: vec![node("n1"), down("n2")],
                silence: vec![],
                tasks: vec![],
                leader_for: 5_001,
            },
            &["n1 down"],
        ),
    ];
    for (case, input, want) in cases {
        assert_eq!(input.plan(), want, "case: {case}");
    }
}

#[test]
fn a_down_node_s_transaction_expects_what_it_read() {
    let mut nodes = [node("n1")];
    nodes[0].last_heartbeat = Some(Timestamp(1));
    let tasks = [task("a", r(1), 1).at("n1", TaskState::Running)];
    let input = NodeMonitorInput {
        now: Timestamp(NOW),
        grace: Duration::from_secs(5),
        nodes: vec![StoredNode {
            node: &nodes[0],
            revision: 7,
        }],
        last_seen: HashMap::from([(name("n1"), Timestamp(NOW - 6_500))]),
        tasks: vec![StoredTask {
            task: &tasks[0],
            revision: 9,
        }],
        leader_since: Timestamp(0),
    };
    let Command::Txn { ops } = monitor(&input).into_command() else {
        panic!("a transaction");
    };
    let [Op::Put {
        object: Object::Node(n),
        expect: Expect::Revision(7),
        ..
    }, Op::Put {
        object: Object::Task(t),
        expect: Expect::Revision(9),
        ..
    }] = &ops[..]
    else {
        panic!("a node and a task, each at its revision: {ops:?}");
    };
    assert_eq!(n.status, NodeStatus::Down);
    assert_eq!(n.last_heartbeat, Some(Timestamp(NOW - 6_500)));
    assert_eq!(t.observed, TaskState::Orphaned);
    assert_eq!(t.message, "node n1 down: no heartbeat for 6s");
    assert_eq!(t.updated_at, Timestamp(NOW));
}

#[test]
fn a_down_node_s_late_tasks_say_how_long_it_has_been_silent() {
    let mut nodes = [down("n1"), down("n2")];
    nodes[0].last_heartbeat = Some(Timestamp(NOW - 60_000));
    let tasks = [
        task("a", r(1), 1).at("n1", TaskState::Running),
        task("b", r(2), 1).at("n2", TaskState::Assigned),
    ];
    let input = NodeMonitorInput {
        now: Timestamp(NOW),
        grace: Duration::from_secs(5),
        nodes: nodes
            .iter()
            .map(|node| StoredNode { node, revision: 1 })
            .collect(),
        last_seen: HashMap::new(),
        tasks: tasks
            .iter()
            .map(|task| StoredTask { task, revision: 2 })
            .collect(),
        leader_since: Timestamp(NOW - 1),
    };
    let messages: Vec<_> = monitor(&input)
        .changes
        .iter()
        .flat_map(|c| c.orphaned.iter().map(|(t, _)| t.message.clone()))
        .collect();
    assert_eq!(
        messages,
        [
            "node n1 down: no heartbeat for 60s",
            "node n2 down: never heard from"
        ]
    );
}

#[test]
fn a_round_needs_only_the_tasks_of_the_nodes_going_down() {
    use super::super::nodes::going_down;
    let nodes = [node("n1"), node("n2"), down("n3"), down("n4")];
    let tasks = [
        task("a", r(1), 1).at("n1", TaskState::Running),
        task("b", r(2), 1).at("n2", TaskState::Running),
        task("c", r(3), 1).at("n3", TaskState::Assigned),
    ];
    let stored: Vec<_> = tasks
        .iter()
        .map(|task| StoredTask { task, revision: 2 })
        .collect();
    let mut input = NodeMonitorInput {
        now: Timestamp(NOW),
        grace: Duration::from_secs(5),
        nodes: nodes
            .iter()
            .map(|node| StoredNode { node, revision: 1 })
            .collect(),
        last_seen: HashMap::from([
            (name("n1"), Timestamp(NOW - 9_000)),
            (name("n2"), Timestamp(NOW - 10)),
            (name("n4"), Timestamp(NOW - 10)),
        ]),
        tasks: Vec::new(),
        leader_since: Timestamp(0),
    };
    let ids = |nodes: Vec<&Name>| nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(going_down(&input)), ["n1"]);
    let summary = |input: &NodeMonitorInput<'_>| -> Vec<String> {
        monitor(input)
            .changes
            .iter()
            .map(|c| {
                let orphans: Vec<_> = c.orphaned.iter().map(|(t, _)| t.id.to_string()).collect();
                format!("{} {:?} {orphans:?}", c.node.id, c.node.status)
            })
            .collect()
    };
    // With no tasks, the nodes still change status.
    assert_eq!(summary(&input), ["n1 Down []", "n4 Ready []"]);
    // With those of the nodes going down: their tasks are orphaned, as with every task.
    input.tasks = stored
        .iter()
        .copied()
        .filter(|t| t.task.id.as_str() == "a")
        .collect();
    assert_eq!(summary(&input), ["n1 Down [\"a\"]", "n4 Ready []"]);
    // Every task: the down node's leftover is swept too.
    input.tasks = stored;
    assert_eq!(
        summary(&input),
        ["n1 Down [\"a\"]", "n3 Down [\"c\"]", "n4 Ready []"]
    );
}
