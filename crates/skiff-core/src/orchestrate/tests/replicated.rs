//! Replicated services: slots 1..=N, scaling, replacement, clean-up.

use super::*;
use DesiredState::{Remove, Shutdown};
use TaskState::{Complete, Failed, Orphaned, Running};

fn web(n: u32) -> World {
    World::new(spec("busybox", &replicas(n)), 2)
}

/// `web` with `replicas` and a restart policy body (indented by 8).
fn restarting(n: u32, policy: &str) -> World {
    let deploy = format!("{}      restart_policy:\n{policy}", replicas(n));
    World::new(spec("busybox", &deploy), 2)
}

#[test]
fn slots_are_created_kept_and_scaled() {
    check(vec![
        (
            "a new service gets one task per replica",
            web(3),
            &[
                "create new1 r1: missing slot",
                "create new2 r2: missing slot",
                "create new3 r3: missing slot",
            ],
        ),
        (
            "running and pending tasks in every slot are kept",
            web(2).tasks([task("a", r(1), 1).at("n1", Running), task("b", r(2), 1)]),
            &[],
        ),
        (
            "scale up adds the missing slots only",
            web(3).tasks([task("a", r(1), 1).at("n1", Running)]),
            &[
                "create new1 r2: missing slot",
                "create new2 r3: missing slot",
            ],
        ),
        (
            "scale down removes the highest slots; an unassigned task is deleted",
            web(1).tasks([
                task("a", r(1), 1).at("n1", Running),
                task("b", r(2), 1).at("n2", Running),
                task("c", r(3), 1),
            ]),
            &[
                "update b remove rev 1: scaled down",
                "delete c: scaled down",
            ],
        ),
        (
            "scale to zero",
            web(0).tasks([task("a", r(1), 1).at("n1", Running)]),
            &["update a remove rev 1: scaled down"],
        ),
        (
            "a task over and to be removed is deleted at once",
            web(0).tasks([task("a", r(1), 1).at("n1", Failed)]),
            &["delete a: scaled down"],
        ),
        (
            "a removed task still running is waited for, then deleted once over",
            web(0).tasks([
                task("a", r(1), 1).at("n1", Running).wants(Remove),
                task("b", r(2), 1).at("n1", Complete).wants(Remove),
            ]),
            &["delete b: history cleanup"],
        ),
        (
            "several tasks wanted running in one slot: the older ones stop",
            web(1).tasks([
                task("a", r(1), 1).at("n1", Running),
                task("b", r(1), 2).at("n2", Running),
                task("c", r(1), 0),
            ]),
            &[
                "delete c: duplicate in slot",
                "update a shutdown rev 1: duplicate in slot",
            ],
        ),
    ]);
}

#[test]
fn tasks_over_for_good_are_replaced_per_the_restart_condition() {
    let any = "        condition: any\n        delay: 1s\n";
    let on_failure = "        condition: on-failure\n        delay: 1s\n";
    let none = "        condition: none\n";
    let replaced = &[
        "update a shutdown rev 1: task exited",
        "create new1 r1: task exited",
    ][..];
    let mut waiting = restarting(1, any).tasks([task("a", r(1), 1).at("n1", Failed)]);
    waiting.tasks[0].updated_at = Timestamp(waiting.now - 500);
    check(vec![
        (
            "failed under any",
            restarting(1, any).tasks([task("a", r(1), 1).at("n1", Failed)]),
            replaced,
        ),
        ("failed, within the restart delay: not yet", waiting, &[]),
        (
            "failed under on-failure",
            restarting(1, on_failure).tasks([task("a", r(1), 1).at("n1", Failed)]),
            replaced,
        ),
        (
            "failed under none: left as it is",
            restarting(1, none).tasks([task("a", r(1), 1).at("n1", Failed)]),
            &[],
        ),
        (
            "complete under any",
            restarting(1, any).tasks([task("a", r(1), 1).at("n1", Complete)]),
            replaced,
        ),
        (
            "complete under on-failure: done",
            restarting(1, on_failure).tasks([task("a", r(1), 1).at("n1", Complete)]),
            &[],
        ),
        (
            "complete under none: done",
            restarting(1, none).tasks([task("a", r(1), 1).at("n1", Complete)]),
            &[],
        ),
        (
            "shut down without being asked",
            restarting(1, none).tasks([task("a", r(1), 1).at("n1", TaskState::Shutdown)]),
            replaced,
        ),
        (
            "a task over for good under none is still replaced by a new spec",
            restarting(1, none)
                .respec(spec(
                    "busybox:2",
                    &format!("{}      restart_policy:\n{none}", replicas(1)),
                ))
                .tasks([task("a", r(1), 1).at("n1", Failed)]),
            &[
                "update a shutdown rev 1: spec changed",
                "create new1 r1: spec changed",
                "service web rev 2: updating 1>2 updated 1 failed 0 [r1]",
            ],
        ),
    ]);
}

#[test]
fn tasks_of_down_drained_or_gone_nodes_are_replaced() {
    let node_down = &[
        "update a shutdown rev 1: node down",
        "create new1 r1: node down",
    ][..];
    let mut down = web(1).tasks([task("a", r(1), 1).at("n1", Running)]);
    down.node_mut("n1").status = NodeStatus::Down;
    let mut drained = web(1).tasks([task("a", r(1), 1).at("n1", Running)]);
    drained.node_mut("n1").availability = Availability::Drain;
    let mut paused = web(1).tasks([task("a", r(1), 1).at("n1", Running)]);
    paused.node_mut("n1").availability = Availability::Pause;
    let mut gone = web(1).tasks([task("a", r(1), 1).at("n1", Running)]);
    gone.nodes.remove(0);
    check(vec![
        (
            "orphaned by the node monitor: replaced without delay",
            web(1).tasks([task("a", r(1), 1).at("n1", Orphaned)]),
            node_down,
        ),
        ("on a down node, not yet orphaned", down, node_down),
        (
            "on a drained node",
            drained,
            &[
                "update a shutdown rev 1: node drained",
                "create new1 r1: node drained",
            ],
        ),
        ("on a paused node: stays", paused, &[]),
        (
            "on a node that no longer exists",
            gone,
            &[
                "update a shutdown rev 1: node drained",
                "create new1 r1: node drained",
            ],
        ),
    ]);
}

#[test]
fn a_changed_spec_replaces_or_restamps() {
    check(vec![
        (
            "a new image replaces every task (one at a time by default: tests/rollout.rs)",
            web(2)
                .respec(spec("busybox:2", &replicas(2)))
                .tasks([task("a", r(1), 1).at("n1", Running), task("b", r(2), 1)]),
            &[
                "update a shutdown rev 1: spec changed",
                "create new1 r1: spec changed",
                "service web rev 2: updating 1>2 updated 1 failed 0 [r1]",
            ],
        ),
        (
            "a new replica count re-stamps the tasks kept",
            web(1)
                .respec(spec("busybox", &replicas(2)))
                .tasks([task("a", r(1), 1).at("n1", Running)]),
            &[
                "update a running rev 2: spec changed outside the container",
                "create new1 r2: missing slot",
            ],
        ),
        (
            "tasks already at the service's revision are kept",
            web(1)
                .respec(spec("busybox:2", &replicas(1)))
                .tasks([task("a", r(1), 1).at("n1", Running).rev(2)]),
            &[],
        ),
    ]);
    // A spec no longer in the app's history cannot be compared: the task is replaced.
    let mut forgotten = web(1)
        .respec(spec("busybox", &replicas(2)))
        .tasks([task("a", r(1), 1).at("n1", Running)]);
    forgotten.apps[0].history.clear();
    assert_eq!(
        forgotten.plan(),
        [
            "create new2 r2: missing slot",
            "update a shutdown rev 1: spec changed",
            "create new1 r1: spec changed",
            "service web rev 2: updating 1>2 updated 1 failed 0 [r1]"
        ]
    );
}

#[test]
fn stopped_tasks_are_kept_as_history_up_to_the_limit() {
    let old = |id: &str, created| {
        task(id, r(1), created)
            .at("n1", TaskState::Shutdown)
            .wants(Shutdown)
    };
    let world = web(1).tasks([
        old("h1", 1),
        old("h2", 2),
        old("h3", 3),
        old("h4", 4),
        old("h5", 5),
        old("h6", 6),
        old("h7", 7),
        task("a", r(1), 8).at("n1", Running),
        // A stopped task still shutting down is not history yet.
        task("b", r(1), 0).at("n1", Running).wants(Shutdown),
        // One never placed is nobody's: deleted.
        task("c", r(1), 0).wants(Shutdown),
    ]);
    assert_eq!(
        world.plan(),
        [
            "delete c: history cleanup",
            "delete h1: history cleanup",
            "delete h2: history cleanup",
        ]
    );
    assert_eq!(super::super::TASK_HISTORY_LIMIT, 5);
}

#[test]
fn tasks_of_removed_services_are_removed() {
    let mut world = web(1).tasks([
        task("a", r(1), 1).at("n1", Running),
        task("b", r(2), 1),
        task("c", r(3), 1).at("n1", Orphaned).wants(Shutdown),
        task("d", r(4), 1).at("n2", Running).wants(Remove),
        task("e", r(5), 1).at("n2", Failed).wants(Remove),
    ]);
    world.services.clear();
    assert_eq!(
        world.plan(),
        [
            "update a remove rev 1: service removed",
            "delete b: service removed",
            "delete c: service removed",
            "delete e: history cleanup",
        ]
    );
}

#[test]
fn a_mode_change_removes_the_other_mode_s_tasks() {
    let world = World::new(spec("busybox", "      mode: global\n"), 1)
        .tasks([task("a", r(1), 1).at("n1", Running).rev(1)]);
    assert_eq!(
        world.plan(),
        [
            "update a remove rev 1: service mode changed",
            "create new1 n:n1: missing slot"
        ]
    );
}
