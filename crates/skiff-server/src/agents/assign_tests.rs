use skiff_core::objects::DesiredState;
use skiff_core::Object;

use super::*;
use crate::agents::dispatch::Touched;
use crate::agents::fixtures::{delete, put, service, state, task};

fn n1() -> Name {
    Name::new("n1").unwrap()
}

fn ids(tasks: &[AssignedTask]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

/// Applies `change` to `state` and returns what the view sends for it.
fn step(
    state: &mut State,
    view: &mut View,
    change: impl FnOnce(&mut State),
) -> Option<Assignments> {
    let from = state.revision();
    change(state);
    let events = state.events_since(from).unwrap();
    view.update(state, &Touched::of_events(&events))
}

#[test]
fn the_full_set_is_the_nodes_tasks_but_orphaned_ones_and_those_without_a_service() {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "running")),
    );
    put(
        &mut s,
        Object::Task(task("t2", "web", Some("n2"), "running")),
    );
    put(
        &mut s,
        Object::Task(task("t3", "web", Some("n1"), "orphaned")),
    );
    put(&mut s, Object::Task(task("t4", "web", None, "pending")));
    put(
        &mut s,
        Object::Task(task("t5", "gone", Some("n1"), "assigned")),
    );
    let (view, full) = View::full(&s, &n1());
    assert!(full.full);
    assert_eq!(full.revision, s.revision());
    assert_eq!(ids(&full.tasks), ["t1"]);
    assert_eq!(view.len(), 1);
    let spec: skiff_api::app::ServiceSpec =
        serde_json::from_slice(&full.tasks[0].spec_json).unwrap();
    assert_eq!(spec.image, "nginx:1");
    assert_eq!(full.tasks[0].slot, "1");
}

#[test]
fn changes_are_sent_for_what_moves_to_from_or_within_the_node() {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "assigned")),
    );
    let (mut view, _) = View::full(&s, &n1());

    // A new task placed here, and one placed elsewhere.
    let m = step(&mut s, &mut view, |s| {
        put(s, Object::Task(task("t2", "web", Some("n1"), "assigned")));
        put(s, Object::Task(task("t9", "web", Some("n2"), "assigned")));
    })
    .unwrap();
    assert!(!m.full);
    assert_eq!(m.revision, s.revision());
    assert_eq!((ids(&m.tasks), m.removed.len()), (vec!["t2"], 0));

    // A change of the desired state is an upsert.
    let m = step(&mut s, &mut view, |s| {
        let mut t = task("t1", "web", Some("n1"), "running");
        t.desired = DesiredState::Shutdown;
        put(s, Object::Task(t));
    })
    .unwrap();
    assert_eq!(ids(&m.tasks), ["t1"]);
    assert_eq!(
        m.tasks[0].desired,
        skiff_proto::agent::DesiredState::Shutdown as i32
    );

    // Moved away, orphaned, deleted: removed.
    let m = step(&mut s, &mut view, |s| {
        put(s, Object::Task(task("t1", "web", Some("n2"), "running")));
    })
    .unwrap();
    assert_eq!(
        (m.tasks.len(), m.removed.clone()),
        (0, vec!["t1".to_owned()])
    );
    let m = step(&mut s, &mut view, |s| {
        put(s, Object::Task(task("t2", "web", Some("n1"), "orphaned")));
    })
    .unwrap();
    assert_eq!(m.removed, ["t2"]);
    let m = step(&mut s, &mut view, |s| {
        put(s, Object::Task(task("t3", "web", Some("n1"), "assigned")));
    })
    .unwrap();
    assert_eq!(ids(&m.tasks), ["t3"]);
    let m = step(&mut s, &mut view, |s| {
        delete(
            s,
            Key::Task {
                id: Name::new("t3").unwrap(),
            },
        );
    })
    .unwrap();
    assert_eq!(m.removed, ["t3"]);
    assert!(view.is_empty());

    // Changes elsewhere send nothing.
    let none = step(&mut s, &mut view, |s| {
        put(s, Object::Task(task("t9", "web", Some("n3"), "assigned")));
    });
    assert_eq!(none, None);
}

#[test]
fn a_service_change_resends_its_tasks_and_a_missing_service_holds_them_back() {
    let mut s = state();
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "assigned")),
    );
    let (mut view, full) = View::full(&s, &n1());
    assert!(full.tasks.is_empty());
    let m = step(&mut s, &mut view, |s| {
        put(s, service("web", "nginx:1"));
    })
    .unwrap();
    assert_eq!(ids(&m.tasks), ["t1"]);
    let m = step(&mut s, &mut view, |s| {
        put(s, service("web", "nginx:2"));
    })
    .unwrap();
    let spec: skiff_api::app::ServiceSpec = serde_json::from_slice(&m.tasks[0].spec_json).unwrap();
    assert_eq!(spec.image, "nginx:2");
    let m = step(&mut s, &mut view, |s| {
        delete(
            s,
            Key::Service {
                env: Name::new("dev").unwrap(),
                app: Name::new("shop").unwrap(),
                service: Name::new("web").unwrap(),
            },
        );
    })
    .unwrap();
    assert_eq!(m.removed, ["t1"]);
}
