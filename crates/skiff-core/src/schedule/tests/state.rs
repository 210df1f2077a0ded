//! An input read straight from the state machine's state.

use super::*;
use crate::state::{Command, Expect, State};

#[test]
fn an_input_from_the_state_counts_what_the_state_holds() {
    let spec = app_spec(
        "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        reservations:\n          cpus: \"3\"\n      placement:\n        constraints: [\"node.labels.zone == a\"]\n",
    );
    let mut running = task("web", 1);
    running.node = Some(name("n1"));
    running.observed = TaskState::Running;
    let objects = vec![
        Object::Environment(environment("dev")),
        Object::App(App::new(name("dev"), name("shop"), spec.clone(), 1)),
        Object::Service(Box::new(Service {
            env: name("dev"),
            app: name("shop"),
            name: name("web"),
            spec_revision: 1,
            spec: spec.services["web"].clone(),
            vip: None,
            rollout: None,
        })),
        Object::Node(node("n1", &[("zone", "a")])),
        Object::Node(node("n2", &[("zone", "b")])),
        Object::Node(node("n3", &[("zone", "a")])),
        Object::Task(running),
    ];
    let mut state = State::new();
    for (i, object) in objects.into_iter().enumerate() {
        let got = state.apply(i as u64 + 1, &Command::put(object, Expect::Any));
        assert!(got.is_ok(), "{got:?}");
    }
    let mut input = SchedulingInput::from_state(&state);
    assert_eq!(input.node_count(), 3);
    let pending = [task("web", 2), task("web", 3)];
    let got = schedule(&mut input, &pending.iter().collect::<Vec<_>>());
    // n1's running task holds 3 of its 4 CPUs; n2 is in the wrong zone.
    assert_eq!(nodes_of(&got), ["n3", "-"]);
    assert_eq!(
        reasons(&got),
        [
            "no suitable node (1 node not matching node.labels.zone == a; \
          2 nodes with less than 3 CPUs unreserved)"
        ]
    );
}
