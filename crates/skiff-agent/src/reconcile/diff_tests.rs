use super::*;
use crate::test_support::task;

fn set(complete: bool, tasks: &[(&str, Want, TaskState)]) -> DesiredSet {
    let mut set = DesiredSet {
        revision: 1,
        complete,
        tasks: BTreeMap::new(),
    };
    for (i, (id, want, observed)) in tasks.iter().enumerate() {
        let mut t = task(id, i as u32 + 1, "image: busybox\n");
        t.want = *want;
        t.observed = *observed;
        set.tasks.insert(id.to_string(), t);
    }
    set
}

fn container(id: &str, task: Option<&str>, state: ContainerState, started: &str) -> ContainerView {
    ContainerView {
        id: id.into(),
        name: format!("name-{id}"),
        labels: task
            .map(|t| BTreeMap::from([(LABEL_TASK.to_owned(), t.to_owned())]))
            .unwrap_or_default(),
        state,
        ip: None,
        pid: None,
        started_at: (!started.is_empty()).then(|| started.to_owned()),
        exit_code: (state == ContainerState::Exited).then_some(3),
    }
}

fn create(t: &str) -> Action {
    Action::Create { task: t.into() }
}

fn act(kind: &str, t: &str, c: &str) -> Action {
    let (task, container) = (t.to_owned(), c.to_owned());
    match kind {
        "remove" => Action::Remove { task, container },
        "stop" => Action::Stop { task, container },
        "start" => Action::Start { task, container },
        "adopt" => Action::Adopt { task, container },
        "exited" => Action::Exited {
            task,
            container,
            exit_code: Some(3),
        },
        other => panic!("{other}"),
    }
}

use ContainerState::{Created, Exited, Running as Up};
use TaskState::{Assigned, Complete, Failed, Running, Shutdown};
use Want::{Remove as WRemove, Running as WRun, Shutdown as WShut};

#[test]
fn the_diff_table() {
    type Case<'a> = (
        &'a str,
        bool,
        Vec<(&'a str, Want, TaskState)>,
        Vec<ContainerView>,
        Vec<Action>,
    );
    let cases: Vec<Case> = vec![
        (
            "new tasks are created",
            true,
            vec![("a", WRun, Assigned), ("b", WRun, Assigned)],
            vec![],
            vec![create("a"), create("b")],
        ),
        (
            "a running container of a desired task is adopted, not restarted",
            true,
            vec![("a", WRun, Running)],
            vec![container("c1", Some("a"), Up, "t1")],
            vec![act("adopt", "a", "c1")],
        ),
        (
            "a created container is started, an exited one goes to the restart policy",
            true,
            vec![("a", WRun, Assigned), ("b", WRun, Running)],
            vec![
                container("c1", Some("a"), Created, ""),
                container("c2", Some("b"), Exited, "t1"),
            ],
            vec![act("exited", "b", "c2"), act("start", "a", "c1")],
        ),
        (
            "shutdown stops a running container and leaves a stopped one",
            true,
            vec![("a", WShut, Running), ("b", WShut, Running)],
            vec![
                container("c1", Some("a"), Up, "t1"),
                container("c2", Some("b"), Exited, "t1"),
            ],
            vec![act("stop", "a", "c1")],
        ),
        (
            "remove removes whatever state the container is in; nothing to create",
            true,
            vec![
                ("a", WRemove, Running),
                ("b", WRemove, Running),
                ("c", WRemove, Assigned),
            ],
            vec![
                container("c1", Some("a"), Up, "t1"),
                container("c2", Some("b"), Exited, "t1"),
            ],
            vec![act("remove", "a", "c1"), act("remove", "b", "c2")],
        ),
        (
            "containers of tasks not in a complete set are removed, unlabelled ones kept",
            true,
            vec![],
            vec![
                container("c1", Some("gone"), Up, "t1"),
                container("c2", None, Up, "t1"),
            ],
            vec![act("remove", "gone", "c1")],
        ),
        (
            "an incomplete set removes nothing",
            false,
            vec![("a", WRun, Assigned)],
            vec![container("c1", Some("gone"), Up, "t1")],
            vec![create("a")],
        ),
        (
            "a task already over is not run again, but a running container is kept",
            true,
            vec![
                ("a", WRun, Complete),
                ("b", WRun, Failed),
                ("c", WRun, Shutdown),
            ],
            vec![
                container("c1", Some("a"), Exited, "t1"),
                container("c3", Some("c"), Up, "t1"),
            ],
            vec![act("adopt", "c", "c3")],
        ),
        (
            "of two containers of a task, the running one is kept",
            true,
            vec![("a", WRun, Running)],
            vec![
                container("old", Some("a"), Exited, "t2"),
                container("new", Some("a"), Up, "t1"),
                container("never", Some("a"), Created, ""),
            ],
            vec![
                act("remove", "a", "never"),
                act("remove", "a", "old"),
                act("adopt", "a", "new"),
            ],
        ),
        (
            "removals come before creates",
            true,
            vec![("z", WRun, Assigned)],
            vec![container("c1", Some("a"), Up, "t1")],
            vec![act("remove", "a", "c1"), create("z")],
        ),
    ];
    for (name, complete, tasks, observed, want) in cases {
        assert_eq!(diff(&set(complete, &tasks), &observed), want, "{name}");
    }
}

#[test]
fn a_dead_container_is_an_exit_without_a_code() {
    let mut dead = container("c1", Some("a"), ContainerState::Dead, "t1");
    dead.exit_code = None;
    assert_eq!(
        diff(&set(true, &[("a", WRun, Running)]), &[dead]),
        [Action::Exited {
            task: "a".into(),
            container: "c1".into(),
            exit_code: None
        }]
    );
}
