use skiff_core::objects::{DesiredState, Health, TaskState};

use super::*;
use crate::agents::fixtures::{put, service, state, task};

fn report(node: &str, id: &str, state: proto::TaskState, restarts: u32) -> Report {
    Report {
        node: Name::new(node).unwrap(),
        status: TaskStatus {
            task_id: id.into(),
            state: state as i32,
            message: format!("{state:?}"),
            container_id: "c1".into(),
            ip: "10.208.0.5".into(),
            exit_code: None,
            restart_count: restarts,
            health: proto::Health::Healthy as i32,
            at_ms: 1000,
        },
    }
}

fn written(plan: &Plan) -> Vec<(String, TaskState, u32, Expect)> {
    plan.ops
        .iter()
        .map(|op| match op {
            Op::Put {
                object: Object::Task(t),
                expect,
                ..
            } => (t.id.to_string(), t.observed, t.restart_count, *expect),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn fixture() -> (State, u64) {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    let mut t = task("t1", "web", Some("n1"), "assigned");
    t.desired = DesiredState::Shutdown;
    let revision = put(&mut s, Object::Task(t));
    put(
        &mut s,
        Object::Task(task("t2", "web", Some("n2"), "assigned")),
    );
    (s, revision)
}

#[test]
fn reports_of_a_task_fold_into_one_write_of_the_observed_fields_only() {
    let (s, revision) = fixture();
    let reports = [
        report("n1", "t1", proto::TaskState::Preparing, 0),
        report("n1", "t1", proto::TaskState::Running, 0),
    ];
    let plan = plan(&s, &reports);
    assert_eq!(plan.dropped, []);
    assert_eq!(
        written(&plan),
        [(
            "t1".into(),
            TaskState::Running,
            0,
            Expect::Revision(revision)
        )]
    );
    let Op::Put {
        object: Object::Task(t),
        ..
    } = &plan.ops[0]
    else {
        unreachable!()
    };
    assert_eq!(t.desired, DesiredState::Shutdown);
    assert_eq!(t.node.as_ref().map(Name::as_str), Some("n1"));
    assert_eq!(t.health, Health::Healthy);
    assert_eq!(t.ip.map(|ip| ip.to_string()).as_deref(), Some("10.208.0.5"));
    assert_eq!(t.container_id.as_deref(), Some("c1"));
    assert_eq!(t.updated_at, Timestamp(1000));
}

#[test]
fn backward_foreign_unknown_and_malformed_reports_are_dropped() {
    let (mut s, _) = fixture();
    put(
        &mut s,
        Object::Task(task("t3", "web", Some("n1"), "running")),
    );
    let mut bad_ip = report("n1", "t1", proto::TaskState::Running, 0);
    bad_ip.status.ip = "not-an-ip".into();
    let reports = [
        report("n1", "t3", proto::TaskState::Assigned, 0),
        report("n1", "t2", proto::TaskState::Running, 0),
        report("n1", "nope", proto::TaskState::Running, 0),
        report("n1", "Bad_Id", proto::TaskState::Running, 0),
        report("n1", "t1", proto::TaskState::Unspecified, 0),
        bad_ip,
    ];
    let plan = plan(&s, &reports);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    assert!(
        matches!(plan.dropped[0], Dropped::Backward { .. }),
        "{:?}",
        plan.dropped
    );
    assert!(matches!(plan.dropped[1], Dropped::NotAssigned { .. }));
    assert!(matches!(plan.dropped[2], Dropped::NoSuchTask { .. }));
    assert!(matches!(plan.dropped[3], Dropped::NoSuchTask { .. }));
    assert!(matches!(plan.dropped[4], Dropped::Malformed { .. }));
    assert!(matches!(plan.dropped[5], Dropped::Malformed { .. }));
}

#[test]
fn a_restart_goes_back_with_a_higher_count_only() {
    let (mut s, _) = fixture();
    put(
        &mut s,
        Object::Task(task("t3", "web", Some("n1"), "running")),
    );
    let plan_of = |reports: &[Report]| written(&plan(&s, reports));
    assert_eq!(
        plan_of(&[report("n1", "t3", proto::TaskState::Starting, 1)])[0].1,
        TaskState::Starting
    );
    assert!(plan_of(&[report("n1", "t3", proto::TaskState::Starting, 0)]).is_empty());
    // A terminal state is final; a lower restart count is refused even going forward.
    let mut later = s.clone();
    let mut t = task("t4", "web", Some("n1"), "failed");
    t.restart_count = 2;
    put(&mut later, Object::Task(t));
    let p = plan(
        &later,
        &[
            report("n1", "t4", proto::TaskState::Running, 3),
            report("n1", "t4", proto::TaskState::Failed, 1),
        ],
    );
    assert!(p.ops.is_empty());
    assert_eq!(p.dropped.len(), 2);
}
