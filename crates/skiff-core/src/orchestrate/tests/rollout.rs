//! Rollouts, one round at a time: which slots a round replaces, in which order, and what the
//! status on the service becomes (`rollout_sim.rs` runs whole rollouts).

use super::*;
use TaskState::{Failed, Running, Starting};

/// `web` with `n` replicas and an `update_config` body (each line indented by 8).
fn rolling(image: &str, n: u32, update: &[&str]) -> ServiceSpec {
    rolling_with(image, n, update, &[])
}

fn rolling_with(image: &str, n: u32, update: &[&str], rollback: &[&str]) -> ServiceSpec {
    let block = |name: &str, lines: &[&str]| {
        if lines.is_empty() {
            return String::new();
        }
        let body: String = lines.iter().map(|l| format!("        {l}\n")).collect();
        format!("      {name}:\n{body}")
    };
    let deploy = format!(
        "{}{}{}",
        replicas(n),
        block("update_config", update),
        block("rollback_config", rollback)
    );
    spec(image, &deploy)
}

/// `web` at revision 1 (busybox), re-specced to revision 2 (busybox:2) with `update`, with
/// `n` tasks of revision 1 running on n1 (`a1`, `a2`, …).
fn rollout(n: u32, update: &[&str]) -> World {
    World::new(spec("busybox", &replicas(n)), 2)
        .respec(rolling("busybox:2", n, update))
        .tasks((1..=n).map(old))
}

fn old(slot: u32) -> Task {
    task(&format!("a{slot}"), r(slot), 1).at("n1", Running)
}

/// A task of revision 2 in `slot`, made at `created`.
fn new(id: &str, slot: u32, created: u64) -> Task {
    task(id, r(slot), created).rev(2)
}

/// A rollout status on the world's service.
fn status(world: &mut World, state: RolloutState, updated: u32, watching: &[Watched]) {
    let mut s = Rollout::start(state, 1, 2, Timestamp(90_000));
    s.updated = updated;
    s.watching = watching.to_vec();
    world.services[0].rollout = Some(s);
}

fn watched(slot: u32, task: &str, since: u64, ready_at: Option<u64>) -> Watched {
    Watched {
        slot: r(slot),
        task: name(task),
        since: Timestamp(since),
        ready_at: ready_at.map(Timestamp),
    }
}

#[test]
fn batches_follow_parallelism_and_order() {
    check(vec![
        (
            "parallelism 2: the first two slots, stop-first (old told to stop, new made)",
            rollout(5, &["parallelism: 2"]),
            &[
                "update a1 shutdown rev 1: spec changed",
                "create new1 r1: spec changed",
                "update a2 shutdown rev 1: spec changed",
                "create new2 r2: spec changed",
                "service web rev 2: updating 1>2 updated 2 failed 0 [r1, r2]",
            ],
        ),
        (
            "parallelism 0: every slot at once",
            rollout(3, &["parallelism: 0"]),
            &[
                "update a1 shutdown rev 1: spec changed",
                "create new1 r1: spec changed",
                "update a2 shutdown rev 1: spec changed",
                "create new2 r2: spec changed",
                "update a3 shutdown rev 1: spec changed",
                "create new3 r3: spec changed",
                "service web rev 2: updating 1>2 updated 3 failed 0 [r1, r2, r3]",
            ],
        ),
        (
            "start-first: the new task is made, the old one keeps running",
            rollout(3, &["parallelism: 1", "order: start-first"]),
            &[
                "create new1 r1: spec changed",
                "service web rev 2: updating 1>2 updated 1 failed 0 [r1]",
            ],
        ),
        (
            "a brand-new service is not a rollout: every task at once, no status",
            World::new(rolling("busybox", 3, &["parallelism: 1"]), 1),
            &[
                "create new1 r1: missing slot",
                "create new2 r2: missing slot",
                "create new3 r3: missing slot",
            ],
        ),
        (
            "a change outside the containers (labels, update_config) is no rollout",
            World::new(spec("busybox", &replicas(1)), 1)
                .respec(rolling("busybox", 1, &["parallelism: 3"]))
                .tasks([old(1)]),
            &["update a1 running rev 2: spec changed outside the container"],
        ),
    ]);
}

#[test]
fn a_batch_in_flight_holds_the_next_one() {
    let mut pending = rollout(4, &["parallelism: 2"]).tasks([
        new("b1", 1, 95_000).at("n1", Running),
        new("b2", 2, 95_000).at("n2", Starting),
    ]);
    pending
        .tasks
        .retain(|t| !["a1", "a2"].contains(&t.id.as_str()));
    status(
        &mut pending,
        RolloutState::Updating,
        2,
        &[
            watched(1, "b1", 95_000, None),
            watched(2, "b2", 95_000, None),
        ],
    );
    assert_eq!(
        pending.plan(),
        ["service web rev 2: updating 1>2 updated 2 failed 0 [r1 ready@100000, r2]"],
        "b1 is ready, b2 is not: nothing new starts"
    );

    let mut ready = pending;
    ready.tasks[3] = new("b2", 2, 95_000).at("n2", Running);
    ready.services[0].rollout.as_mut().unwrap().watching[0].ready_at = Some(Timestamp(99_000));
    assert_eq!(
        ready.plan(),
        [
            "update a3 shutdown rev 1: spec changed",
            "create new1 r3: spec changed",
            "update a4 shutdown rev 1: spec changed",
            "create new2 r4: spec changed",
            "service web rev 2: updating 1>2 updated 4 failed 0 [r1 ready@99000, r2 ready@100000, r3, r4]",
        ],
        "both ready and no delay: the next batch starts in the same round"
    );
}

#[test]
fn delay_spaces_batches() {
    let mut w = rollout(2, &["parallelism: 1", "delay: 10s", "monitor: 0s"])
        .tasks([new("b1", 1, 95_000).at("n1", Running)]);
    w.tasks.retain(|t| t.id.as_str() != "a1");
    status(
        &mut w,
        RolloutState::Updating,
        1,
        &[watched(1, "b1", 95_000, None)],
    );
    assert_eq!(
        w.plan(),
        ["service web rev 2: updating 1>2 updated 1 failed 0 [] next@110000"],
        "the batch is ready now: the next one waits for the delay"
    );
    let rollout = w.services[0].rollout.as_mut().unwrap();
    rollout.watching.clear();
    rollout.next_batch_at = Some(Timestamp(110_000));
    assert!(w.plan().is_empty(), "before the delay passed: nothing");
    w.now = 110_000;
    assert_eq!(
        w.plan(),
        [
            "update a2 shutdown rev 1: spec changed",
            "create new1 r2: spec changed",
            "service web rev 2: updating 1>2 updated 2 failed 0 [r2]",
        ]
    );
}

#[test]
fn the_monitor_window_counts_failures_and_then_completes() {
    // One slot, updated and ready at 95 s, monitored for 10 s.
    let world = |task: Task, now: u64| {
        let mut w = rollout(1, &["monitor: 10s", "failure_action: continue"]).tasks([task]);
        w.tasks.retain(|t| t.id.as_str() != "a1");
        status(
            &mut w,
            RolloutState::Updating,
            1,
            &[watched(1, "b1", 90_000, Some(95_000))],
        );
        w.now = now;
        w
    };
    let running = new("b1", 1, 90_000).at("n1", Running);
    let mut restarted = running.clone();
    restarted.restart_count = 1;
    restarted.message = "exit code 1".into();
    let mut unhealthy = running.clone();
    unhealthy.health = Health::Unhealthy;
    check(vec![
        (
            "within the window, running: watched",
            world(running.clone(), 100_000),
            &[],
        ),
        (
            "the window passed: the rollout is complete",
            world(running, 105_000),
            &["service web rev 2: completed 1>2 updated 1 failed 0 []"],
        ),
        (
            "restarted in place within the window: a failure",
            world(restarted.clone(), 100_000),
            &["service web rev 2: completed 1>2 updated 1 failed 1 []"],
        ),
        (
            "restarted after the window: not the rollout's business",
            world(restarted, 105_000),
            &["service web rev 2: completed 1>2 updated 1 failed 0 []"],
        ),
        (
            "unhealthy within the window: a failure",
            world(unhealthy, 100_000),
            &["service web rev 2: completed 1>2 updated 1 failed 1 []"],
        ),
    ]);
}

#[test]
fn a_task_not_ready_in_time_or_failed_counts_once() {
    let world = |task: Task, now: u64| {
        let mut w = rollout(2, &["parallelism: 1", "failure_action: continue"]).tasks([task]);
        w.tasks.retain(|t| t.id.as_str() != "a1");
        status(
            &mut w,
            RolloutState::Updating,
            1,
            &[watched(1, "b1", 90_000, None)],
        );
        w.now = now;
        w
    };
    let pending = new("b1", 1, 90_000);
    let late = 90_000 + crate::orchestrate::READY_TIMEOUT_MS;
    let failed = new("b1", 1, 90_000).at("n1", Failed);
    let next = [
        "update a2 shutdown rev 1: spec changed",
        "create new1 r2: spec changed",
    ];
    check(vec![
        (
            "pending, in time: waited for",
            world(pending.clone(), 100_000),
            &[],
        ),
        (
            "pending past the bound: a failure; under continue the next slot goes",
            world(pending, late),
            &[
                next[0],
                next[1],
                "service web rev 2: updating 1>2 updated 2 failed 1 [r2]",
            ],
        ),
        (
            "failed: a failure, and it is replaced as any failed task",
            world(failed, 100_000),
            &[
                "update b1 shutdown rev 2: task exited",
                "create new1 r1: task exited",
                next[0],
                "create new2 r2: spec changed",
                "service web rev 2: updating 1>2 updated 2 failed 1 [r2]",
            ],
        ),
    ]);
    let w = world(new("b1", 1, 90_000).at("n1", Failed), 100_000);
    let plan = w.reconcile();
    let status = plan
        .changes()
        .find_map(|c| match &c.action {
            Action::Service { service, .. } => service.rollout.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(status.message, "task b1 (slot 1) failed");
}

#[test]
fn failure_actions_pause_continue_or_roll_back() {
    // Two of four slots updated; b1 failed (restarted in place), b2 runs.
    let world = |update: &[&str]| {
        let mut w = rollout(4, update).tasks([
            {
                let mut t = new("b1", 1, 90_000).at("n1", Running);
                t.restart_count = 2;
                t
            },
            new("b2", 2, 90_000).at("n1", Running),
        ]);
        w.tasks.retain(|t| !["a1", "a2"].contains(&t.id.as_str()));
        status(
            &mut w,
            RolloutState::Updating,
            2,
            &[
                watched(1, "b1", 90_000, Some(98_000)),
                watched(2, "b2", 90_000, Some(98_000)),
            ],
        );
        w
    };
    check(vec![
        (
            "pause (the default): stop, keep what runs",
            world(&["parallelism: 2"]),
            &["service web rev 2: paused 1>2 updated 2 failed 1 [r2 ready@98000]"],
        ),
        (
            "continue: the next batch goes",
            world(&["parallelism: 2", "failure_action: continue"]),
            &[
                "update a3 shutdown rev 1: spec changed",
                "create new1 r3: spec changed",
                "update a4 shutdown rev 1: spec changed",
                "create new2 r4: spec changed",
                "service web rev 2: updating 1>2 updated 4 failed 1 [r2 ready@98000, r3, r4]",
            ],
        ),
        (
            "a ratio of 0.5 tolerates 1 failure in 2",
            world(&["parallelism: 2", "max_failure_ratio: 0.5"]),
            &[
                "update a3 shutdown rev 1: spec changed",
                "create new1 r3: spec changed",
                "update a4 shutdown rev 1: spec changed",
                "create new2 r4: spec changed",
                "service web rev 2: updating 1>2 updated 4 failed 1 [r2 ready@98000, r3, r4]",
            ],
        ),
        (
            "a ratio of 0.4 does not",
            world(&["parallelism: 2", "max_failure_ratio: 0.4"]),
            &["service web rev 2: paused 1>2 updated 2 failed 1 [r2 ready@98000]"],
        ),
        (
            "rollback: a new app revision restores revision 1's spec; no task moves yet",
            world(&["parallelism: 2", "failure_action: rollback"]),
            &[
                "app rev 3: rollback",
                "service web rev 3: rollback_started 2>3 updated 0 failed 0 []",
            ],
        ),
    ]);
    let paused = world(&["parallelism: 2"]).reconcile();
    let Some(Action::Service { service, .. }) = paused.changes().map(|c| &c.action).last() else {
        panic!("a status")
    };
    assert_eq!(
        service.rollout.as_ref().unwrap().message,
        "update paused: 1 of 2 new tasks failed (max_failure_ratio 0); last: task b1 (slot 1) \
         restarted 2 time(s)"
    );
    // Once paused, nothing more is replaced.
    let mut again = world(&["parallelism: 2"]);
    again.services[0].rollout = service.rollout.clone();
    assert!(again.plan().is_empty());
}

#[test]
fn a_rollback_keeps_the_old_tasks_and_replaces_the_new_per_rollback_config() {
    // Rolled back from revision 2 (busybox:2) to revision 3 (revision 1's spec): a3, a4 never
    // left; b1, b2 (revision 2) go, two at once per revision 2's rollback_config.
    let v2 = rolling_with(
        "busybox:2",
        4,
        &["failure_action: rollback"],
        &["parallelism: 0"],
    );
    let mut w = World::new(spec("busybox", &replicas(4)), 2)
        .respec(v2)
        .respec(spec("busybox", &replicas(4)))
        .tasks([
            old(3),
            old(4),
            new("b1", 1, 90_000).at("n1", Running),
            new("b2", 2, 90_000).at("n1", Running),
        ]);
    let mut s = Rollout::start(RolloutState::RollbackStarted, 2, 3, Timestamp(99_000));
    s.restores_revision = Some(1);
    w.services[0].rollout = Some(s);
    assert_eq!(
        w.plan(),
        [
            "update a3 running rev 3: spec changed outside the container",
            "update a4 running rev 3: spec changed outside the container",
            "update b1 shutdown rev 2: spec changed",
            "create new1 r1: spec changed",
            "update b2 shutdown rev 2: spec changed",
            "create new2 r2: spec changed",
            "service web rev 3: rollback_started 2>3 updated 2 failed 0 [r1, r2]",
        ]
    );
}

#[test]
fn start_first_stops_the_old_task_once_the_new_one_is_ready() {
    let world = |new_task: Task| {
        let mut w = rollout(1, &["order: start-first", "monitor: 0s"]).tasks([new_task]);
        status(
            &mut w,
            RolloutState::Updating,
            1,
            &[watched(1, "b1", 95_000, None)],
        );
        w
    };
    let healthchecked = |t: Task| {
        let mut w = world(t);
        let mut spec = w.services[0].spec.clone();
        spec.healthcheck = Some(skiff_api::app::Healthcheck {
            test: skiff_api::app::HealthTest::Shell("true".into()),
            interval: skiff_api::Duration::from_secs(1),
            timeout: skiff_api::Duration::from_secs(1),
            retries: 1,
            start_period: skiff_api::Duration::default(),
            start_interval: skiff_api::Duration::from_secs(1),
        });
        w = w.respec(spec);
        w.tasks.iter_mut().for_each(|t| {
            if t.spec_revision == 2 {
                t.spec_revision = 3;
            }
        });
        w.services[0].rollout.as_mut().unwrap().to_revision = 3;
        w
    };
    let mut healthy = new("b1", 1, 95_000).at("n1", Running);
    healthy.health = Health::Healthy;
    check(vec![
        (
            "the new one is starting: both run",
            world(new("b1", 1, 95_000).at("n1", Starting)),
            &[],
        ),
        (
            "the new one runs: the old one stops, the rollout completes",
            world(new("b1", 1, 95_000).at("n1", Running)),
            &[
                "update a1 shutdown rev 1: successor ready",
                "service web rev 2: completed 1>2 updated 1 failed 0 []",
            ],
        ),
        (
            "with a healthcheck, running is not enough",
            healthchecked(new("b1", 1, 95_000).at("n1", Running)),
            &[],
        ),
        (
            "with a healthcheck, healthy is",
            healthchecked(healthy),
            &[
                "update a1 shutdown rev 1: successor ready",
                "service web rev 3: completed 1>3 updated 1 failed 0 []",
            ],
        ),
    ]);
}

#[test]
fn a_new_spec_or_a_scale_during_a_rollout() {
    // Slot 1 updated to revision 2 and ready; slots 2 and 3 still at revision 1.
    let during = |next: ServiceSpec| {
        let mut w = rollout(3, &["parallelism: 1"]).tasks([new("b1", 1, 95_000).at("n1", Running)]);
        w.tasks.retain(|t| t.id.as_str() != "a1");
        status(
            &mut w,
            RolloutState::Updating,
            1,
            &[watched(1, "b1", 95_000, Some(99_000))],
        );
        w.respec(next)
    };
    check(vec![
        (
            "a new image: a new rollout, from revision 1 (2 never ran everywhere), every slot \
             outdated",
            during(rolling("busybox:3", 3, &["parallelism: 1"])),
            &[
                "update b1 shutdown rev 2: spec changed",
                "create new1 r1: spec changed",
                "service web rev 3: updating 1>3 updated 1 failed 0 [r1]",
            ],
        ),
        (
            "a scale: the same rollout, retargeted (revision 2's task re-stamped, the new slot \
             made at once, the next batch as before)",
            during(rolling("busybox:2", 4, &["parallelism: 1"])),
            &[
                "update b1 running rev 3: spec changed outside the container",
                "create new2 r4: missing slot",
                "update a2 shutdown rev 1: spec changed",
                "create new1 r2: spec changed",
                "service web rev 3: updating 1>3 updated 2 failed 0 [r1 ready@99000, r2]",
            ],
        ),
    ]);
}

#[test]
fn a_rollback_that_cannot_be_or_that_fails_pauses() {
    // Slot 1 updated to revision 2 and restarted within its window.
    let failing = |update: &[&str]| {
        let mut b1 = new("b1", 1, 90_000).at("n1", Running);
        b1.restart_count = 1;
        let mut w = rollout(2, update).tasks([b1]);
        w.tasks.retain(|t| t.id.as_str() != "a1");
        status(
            &mut w,
            RolloutState::Updating,
            1,
            &[watched(1, "b1", 90_000, Some(99_000))],
        );
        w
    };
    let mut forgotten = failing(&["failure_action: rollback"]);
    forgotten.apps[0].history.clear();
    let plan = forgotten.reconcile();
    let lines = describe(&plan);
    assert_eq!(
        lines,
        ["service web rev 2: paused 1>2 updated 1 failed 1 []"],
        "revision 1 is no longer kept: nothing to roll back to"
    );
    let Some(Action::Service { service, .. }) = plan.changes().map(|c| &c.action).last() else {
        panic!("a status")
    };
    let message = &service.rollout.as_ref().unwrap().message;
    assert!(
        message.contains("cannot roll back: revision 1 is no longer kept"),
        "{message}"
    );

    // The same failure during a rollback: its rollback_config (pause by default) applies.
    let mut rolling_back = failing(&[]);
    let s = rolling_back.services[0].rollout.as_mut().unwrap();
    s.state = RolloutState::RollbackStarted;
    assert_eq!(
        rolling_back.plan(),
        ["service web rev 2: rollback_paused 1>2 updated 1 failed 1 []"]
    );
}

#[test]
fn a_global_service_rolls_out_node_by_node_and_a_paused_node_waits() {
    let v2 = spec(
        "busybox:2",
        "      mode: global\n      update_config:\n        parallelism: 1\n",
    );
    let mut w = World::new(spec("busybox", "      mode: global\n"), 3)
        .respec(v2)
        .tasks(["n1", "n2", "n3"].map(|n| task(&format!("g{n}"), on(n), 1).at(n, Running)));
    w.node_mut("n1").availability = Availability::Pause;
    assert_eq!(
        w.plan(),
        [
            "update gn2 shutdown rev 1: spec changed",
            "create new1 n:n2: spec changed",
            "service web rev 2: updating 1>2 updated 1 failed 0 [n:n2]",
        ],
        "one node at a time; the paused node keeps its task (nothing can be made there)"
    );
}
