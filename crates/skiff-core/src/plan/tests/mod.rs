//! Table tests of the planners: each plan is checked as data (its ops and its diff), then
//! applied to the state it was made from.

mod apply_app;
mod delete_app;
mod restore;
mod rollback;
mod scale_node;

use std::collections::BTreeMap;

use skiff_api::AppSpec;
use skiff_manifest::{load, MemoryLoader, Options};

use crate::objects::*;
use crate::state::{Command, Expect, Op, Response, State};

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

fn key(text: &str) -> Key {
    Key::parse(text).unwrap()
}

/// The normalized spec of a compose file for `env`.
fn spec(env: &str, yaml: &str) -> AppSpec {
    let loader = MemoryLoader::new().with("/app/compose.yaml", yaml);
    let mut options = Options::new(["/app/compose.yaml"]);
    options.environment = env.to_owned();
    load(&options, &loader)
        .unwrap_or_else(|d| panic!("{d}"))
        .spec
}

fn environment(env: &str) -> Environment {
    Environment {
        name: name(env),
        quota: Quota::default(),
        node_selector: BTreeMap::new(),
    }
}

fn task(id: &str, app: &str, service: &str) -> Object {
    Object::Task(Task {
        id: name(id),
        env: name("dev"),
        app: name(app),
        service: name(service),
        slot: Slot::Replica(1),
        spec_revision: 1,
        desired: DesiredState::Running,
        node: None,
        observed: TaskState::Pending,
        message: String::new(),
        container_id: None,
        ip: None,
        exit_code: None,
        restart_count: 0,
        health: Health::Unknown,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
    })
}

/// Applies `command` at the next revision.
fn commit(state: &mut State, command: &Command) -> Response {
    let revision = state.revision() + 1;
    state.apply(revision, command)
}

/// A state holding `objects`, put one per revision from 1.
fn state_with(objects: Vec<Object>) -> State {
    let mut state = State::new();
    for object in objects {
        let got = commit(&mut state, &Command::put(object, Expect::Any));
        assert!(got.is_ok(), "{got:?}");
    }
    state
}

/// One line per op: `put /apps/dev/shop absent`, `delete /services/dev/shop/db @4`, ….
fn summary(command: &Command) -> Vec<String> {
    let Command::Txn { ops } = command else {
        panic!("not a transaction: {command:?}");
    };
    let expect = |e: &Expect| match e {
        Expect::Any => "any".to_owned(),
        Expect::Absent => "absent".to_owned(),
        Expect::Revision(r) => format!("@{r}"),
    };
    ops.iter()
        .map(|op| match op {
            Op::Put { key, expect: e, .. } => format!("put {key} {}", expect(e)),
            Op::Delete { key, expect: e } => format!("delete {key} {}", expect(e)),
            Op::Check { key, expect: e } => format!("check {key} {}", expect(e)),
        })
        .collect()
}
