//! The plan as a transaction, applied to a real state: expectations, conflicts, convergence.

use super::*;
use crate::state::{Command, Expect, Op, Response, State};
use crate::Object;

/// A state holding `world`'s environment, apps, services, nodes and tasks.
pub(super) fn state_of(world: &World) -> State {
    let mut state = State::new();
    let mut objects = vec![Object::Environment(world.env.clone())];
    objects.extend(world.apps.iter().cloned().map(Object::App));
    objects.extend(
        world
            .services
            .iter()
            .cloned()
            .map(|s| Object::Service(Box::new(s))),
    );
    objects.extend(world.nodes.iter().cloned().map(Object::Node));
    objects.extend(world.tasks.iter().cloned().map(Object::Task));
    for (i, object) in objects.into_iter().enumerate() {
        let response = state.apply(i as u64 + 1, &Command::put(object, Expect::Any));
        assert!(response.is_ok(), "{response:?}");
    }
    state
}

/// One orchestrator round over `state`, with ids `{prefix}{n}`.
pub(super) fn round(state: &State, now: u64, prefix: &str) -> OrchestratorPlan {
    let mut n = 0;
    reconcile(
        &OrchestratorInput::from_state(state, Timestamp(now)),
        &mut || {
            n += 1;
            name(&format!("{prefix}{n}"))
        },
    )
}

#[test]
fn the_transaction_expects_what_the_round_read() {
    let world = World::new(spec("busybox", &replicas(1)), 1).tasks([
        task("a", r(1), 1).at("n1", TaskState::Failed),
        task("b", r(2), 1).at("n1", TaskState::Running),
        task("c", r(3), 1),
    ]);
    let Command::Txn { ops } = world.reconcile().into_command() else {
        panic!("one transaction");
    };
    let expects: Vec<(String, Expect)> = ops
        .iter()
        .map(|op| {
            let kind = match op {
                Op::Put { .. } => "put",
                Op::Delete { .. } => "delete",
                Op::Check { .. } => "check",
            };
            (format!("{kind} {}", op.key()), op.expect())
        })
        .collect();
    assert_eq!(
        expects,
        [
            ("put /tasks/a".to_owned(), Expect::Revision(10)),
            ("put /tasks/new1".to_owned(), Expect::Absent),
            ("put /tasks/b".to_owned(), Expect::Revision(11)),
            ("delete /tasks/c".to_owned(), Expect::Revision(12)),
        ]
    );
}

#[test]
fn rounds_converge_and_a_concurrent_change_conflicts() {
    let world = World::new(spec("busybox", &replicas(3)), 2);
    let mut state = state_of(&world);
    let plan = round(&state, world.now, "t");
    assert_eq!(plan.len(), 3);
    let mut revision = state.revision() + 1;
    assert!(state.apply(revision, &plan.into_command()).is_ok());
    assert!(
        round(&state, world.now, "u").is_empty(),
        "a second round changes nothing"
    );

    // An agent reports task t1 failed; the round replaces it.
    let mut failed = match &state.get(&Key::Task { id: name("t1") }).unwrap().object {
        Object::Task(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    failed.node = Some(name("n1"));
    failed.observed = TaskState::Failed;
    failed.updated_at = Timestamp(0); // long enough ago for the restart delay
    revision += 1;
    let report = Command::put(Object::Task(failed.clone()), Expect::Any);
    assert!(state.apply(revision, &report).is_ok());
    let plan = round(&state, world.now, "v");
    assert_eq!(
        describe(&plan),
        [
            "update t1 shutdown rev 1: task exited",
            "create v1 r1: task exited"
        ]
    );

    // Another report on t1 lands before the round's transaction: it conflicts, changing
    // nothing, and the next round starts from the newer state.
    failed.message = "exit code 1".into();
    revision += 1;
    let report = Command::put(Object::Task(failed), Expect::Any);
    assert!(state.apply(revision, &report).is_ok());
    let before = state.len();
    revision += 1;
    let conflict = state.apply(revision, &plan.into_command());
    assert!(
        matches!(&conflict, Response::Conflict { key, .. } if *key == Key::Task { id: name("t1") }),
        "{conflict:?}"
    );
    assert_eq!(state.len(), before);
    revision += 1;
    assert!(state
        .apply(revision, &round(&state, world.now, "w").into_command())
        .is_ok());
    assert!(round(&state, world.now, "x").is_empty());
}

#[test]
fn large_plans_split_between_slots_never_inside_one() {
    let mut world = World::new(spec("busybox", &replicas(3)), 2).tasks([
        task("a", r(1), 1).at("n1", TaskState::Running),
        task("b", r(2), 1).at("n1", TaskState::Running),
        task("c", r(3), 1).at("n1", TaskState::Running),
    ]);
    world.node_mut("n1").availability = Availability::Drain;
    let commands = world.reconcile().into_commands(3);
    let sizes: Vec<usize> = commands
        .iter()
        .map(|c| match c {
            Command::Txn { ops } => ops.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [2, 2, 2], "each replacement (2 ops) stays whole");
    assert_eq!(world.reconcile().into_commands(4).len(), 2);
    assert_eq!(world.reconcile().into_commands(100).len(), 1);
    assert!(OrchestratorPlan::default().into_commands(10).is_empty());
}
