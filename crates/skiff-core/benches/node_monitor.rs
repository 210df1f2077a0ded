//! Micro benchmark: one node monitor round over a state of 1,000 nodes and 50,000 tasks, as the
//! leader runs it every 250 ms: a quiet round (no node goes down: the nodes alone are read), a
//! round where one node goes down (its 50 tasks gathered and orphaned), and, for comparison, a
//! round that gathers every task.
//!
//! Run: `cargo bench -p skiff-core --bench node_monitor` (NODES, TASKS change the sizes; RUNS
//! the number of timed runs, 20 by default).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use skiff_core::objects::{
    Availability, DesiredState, Health, Name, Node, NodeResources, NodeStatus, Slot, Task,
    TaskState, Timestamp,
};
use skiff_core::orchestrate::{going_down, monitor, NodeMonitorInput, StoredNode, StoredTask};
use skiff_core::{Command, Expect, Kind, Object, State};

const NOW: u64 = 1_000_000;

fn main() {
    let nodes_n = env_or("NODES", 1_000);
    let tasks_n = env_or("TASKS", 50_000);
    let runs = env_or("RUNS", 20).max(1);
    let state = state(nodes_n, tasks_n);
    // Every node heard from 1 s ago, but node 0 silent for a minute.
    let mut last_seen: HashMap<Name, Timestamp> = (0..nodes_n)
        .map(|i| (node_id(i), Timestamp(NOW - 1_000)))
        .collect();
    let quiet = last_seen.clone();
    last_seen.insert(node_id(0), Timestamp(NOW - 60_000));
    println!("state: {nodes_n} nodes, {tasks_n} tasks");
    time("quiet round (nodes only)", runs, || {
        round(&state, &quiet, false)
    });
    time("one node goes down (its tasks only)", runs, || {
        round(&state, &last_seen, false)
    });
    time("every task gathered", runs, || round(&state, &quiet, true));
}

/// A round as the server's loop runs it; answers how many operations it would write.
fn round(state: &State, last_seen: &HashMap<Name, Timestamp>, all_tasks: bool) -> usize {
    let mut input = NodeMonitorInput {
        now: Timestamp(NOW),
        grace: Duration::from_secs(5),
        nodes: state
            .list(&Kind::Node.prefix())
            .into_iter()
            .filter_map(|r| match &r.object {
                Object::Node(node) => Some(StoredNode {
                    node,
                    revision: r.mod_revision,
                }),
                _ => None,
            })
            .collect(),
        last_seen: last_seen.clone(),
        leader_since: Timestamp(0),
        tasks: Vec::new(),
    };
    let ids: HashSet<&Name> = going_down(&input).into_iter().collect();
    if all_tasks || !ids.is_empty() {
        input.tasks = state
            .list(&Kind::Task.prefix())
            .into_iter()
            .filter_map(|r| match &r.object {
                Object::Task(task)
                    if all_tasks || task.node.as_ref().is_some_and(|n| ids.contains(n)) =>
                {
                    Some(StoredTask {
                        task,
                        revision: r.mod_revision,
                    })
                }
                _ => None,
            })
            .collect();
    }
    monitor(&input)
        .changes
        .iter()
        .map(|c| 1 + c.orphaned.len())
        .sum()
}

fn time(what: &str, runs: usize, mut round: impl FnMut() -> usize) {
    let mut times = Vec::new();
    let mut writes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        writes = round();
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "{what}: {writes} writes, {:.2} ms (median of {runs}, best {:.2} ms)",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}

fn node_id(i: usize) -> Name {
    Name::new(format!("n{i}")).unwrap()
}

fn state(nodes_n: usize, tasks_n: usize) -> State {
    let mut state = State::new();
    let mut revision = 0;
    let mut put = |object: Object| {
        revision += 1;
        assert!(state
            .apply(revision, &Command::put(object, Expect::Any))
            .is_ok());
    };
    for i in 0..nodes_n {
        put(Object::Node(Node {
            id: node_id(i),
            name: format!("n{i}"),
            address: format!("10.0.{}.{}:7946", i / 250, i % 250),
            labels: Default::default(),
            capacity: NodeResources::default(),
            allocatable: NodeResources::default(),
            availability: Availability::Active,
            status: NodeStatus::Ready,
            pod_subnet: None,
            last_heartbeat: None,
        }));
    }
    for i in 0..tasks_n {
        put(Object::Task(Task {
            id: Name::new(format!("t{i}")).unwrap(),
            env: Name::new("prod").unwrap(),
            app: Name::new("shop").unwrap(),
            service: Name::new(format!("s{}", i % 100)).unwrap(),
            slot: Slot::Replica(1 + (i / 100) as u32),
            spec_revision: 1,
            desired: DesiredState::Running,
            node: Some(node_id(i % nodes_n.max(1))),
            observed: TaskState::Running,
            message: String::new(),
            container_id: None,
            ip: None,
            exit_code: None,
            restart_count: 0,
            health: Health::Unknown,
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        }));
    }
    state
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}
