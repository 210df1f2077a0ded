//! Global services: one task per eligible node.

use super::*;
use DesiredState::Shutdown;
use TaskState::{Failed, Orphaned, Running};

fn global(nodes: usize) -> World {
    World::new(spec("busybox", "      mode: global\n"), nodes)
}

fn global_where(constraint: &str, nodes: usize) -> World {
    let deploy =
        format!("      mode: global\n      placement:\n        constraints: [\"{constraint}\"]\n");
    World::new(spec("busybox", &deploy), nodes)
}

#[test]
fn one_task_per_eligible_node() {
    let mut down = global(2).tasks([
        task("a", on("n1"), 1).at("n1", Running),
        task("b", on("n2"), 1).at("n2", Running),
    ]);
    down.node_mut("n2").status = NodeStatus::Down;
    let mut drained = global(2).tasks([
        task("a", on("n1"), 1).at("n1", Running),
        task("b", on("n2"), 1).at("n2", Running),
    ]);
    drained.node_mut("n1").availability = Availability::Drain;
    let mut paused = global(2).tasks([task("a", on("n1"), 1).at("n1", Running)]);
    paused.node_mut("n1").availability = Availability::Pause;
    paused.node_mut("n2").availability = Availability::Pause;
    let mut gone = global(1).tasks([
        task("a", on("n1"), 1).at("n1", Running),
        task("b", on("n9"), 1).at("n9", Running),
        task("c", on("n8"), 1).at("n8", Orphaned),
    ]);
    gone.nodes.truncate(1);
    let mut labelled = global_where("node.labels.zone==a", 3);
    labelled
        .node_mut("n2")
        .labels
        .insert("zone".into(), "a".into());
    let mut selected = global(2);
    selected
        .env
        .node_selector
        .insert("tier".into(), "dev".into());
    selected
        .node_mut("n1")
        .labels
        .insert("tier".into(), "dev".into());
    check(vec![
        (
            "every node gets one",
            global(3),
            &[
                "create new1 n:n1: missing slot",
                "create new2 n:n2: missing slot",
                "create new3 n:n3: missing slot",
            ],
        ),
        (
            "a node joins",
            global(2).tasks([task("a", on("n1"), 1).at("n1", Running)]),
            &["create new1 n:n2: missing slot"],
        ),
        (
            "a down node's task is shut down, not moved",
            down,
            &["update b shutdown rev 1: node no longer eligible"],
        ),
        (
            "a drained node's task is shut down",
            drained,
            &["update a shutdown rev 1: node no longer eligible"],
        ),
        (
            "a paused node keeps its task and gets none new",
            paused,
            &[],
        ),
        (
            "a node that is gone: its tasks are removed (deleted once over)",
            gone,
            &[
                "delete c: node no longer eligible",
                "update b remove rev 1: node no longer eligible",
            ],
        ),
        (
            "only nodes that satisfy the constraints",
            labelled,
            &["create new1 n:n2: missing slot"],
        ),
        (
            "only nodes the environment selects",
            selected,
            &["create new1 n:n1: missing slot"],
        ),
        (
            "a failed task is replaced on its node",
            global(1).tasks([task("a", on("n1"), 1).at("n1", Failed)]),
            &[
                "update a shutdown rev 1: task exited",
                "create new1 n:n1: task exited",
            ],
        ),
        (
            "history is kept per node slot",
            global(1).tasks([
                task("a", on("n1"), 9).at("n1", Running),
                task("b", on("n1"), 1).at("n1", Failed).wants(Shutdown),
            ]),
            &[],
        ),
    ]);
}
