//! Table tests of the state machine, with small fixtures for every kind of object.

mod apply;
mod proposal;
mod reads;
mod rules;
mod snapshot;
mod watch;

use std::collections::BTreeMap;

use skiff_api::AppSpec;
use skiff_manifest::{load, MemoryLoader, Options};

use super::*;
use crate::objects::*;

pub(super) fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

pub(super) fn key(text: &str) -> Key {
    Key::parse(text).unwrap()
}

pub(super) fn env(env: &str) -> Object {
    Object::Environment(Environment {
        name: name(env),
        quota: Quota::default(),
        node_selector: BTreeMap::new(),
    })
}

pub(super) fn app_spec(env: &str, app: &str, image: &str) -> AppSpec {
    let text = format!("name: {app}\nservices:\n  web:\n    image: {image}\n");
    let loader = MemoryLoader::new().with("/app/compose.yaml", text);
    let mut options = Options::new(["/app/compose.yaml"]);
    options.environment = env.to_owned();
    load(&options, &loader)
        .unwrap_or_else(|d| panic!("{d}"))
        .spec
}

pub(super) fn app(env: &str, app: &str) -> Object {
    Object::App(App::new(
        name(env),
        name(app),
        app_spec(env, app, "nginx:1"),
        1,
    ))
}

pub(super) fn service(env: &str, app: &str, svc: &str) -> Object {
    let spec = app_spec(env, app, "nginx:1")
        .services
        .remove("web")
        .unwrap();
    Object::Service(Box::new(Service {
        env: name(env),
        app: name(app),
        name: name(svc),
        spec_revision: 1,
        spec,
        vip: None,
        rollout: None,
    }))
}

pub(super) fn task_with(id: &str, slot: u32, observed: TaskState, restarts: u32) -> Task {
    Task {
        id: name(id),
        env: name("dev"),
        app: name("shop"),
        service: name("web"),
        slot: Slot::Replica(slot),
        spec_revision: 1,
        desired: DesiredState::Running,
        node: None,
        observed,
        message: String::new(),
        container_id: None,
        ip: None,
        exit_code: None,
        restart_count: restarts,
        health: Health::Unknown,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
    }
}

pub(super) fn task(id: &str, observed: TaskState) -> Object {
    Object::Task(task_with(id, 1, observed, 0))
}

pub(super) fn node(id: &str) -> Object {
    let resources = NodeResources {
        cpus: skiff_api::Cpus::from_millis(4000),
        memory: skiff_api::ByteSize(8 << 30),
    };
    Object::Node(Node {
        id: name(id),
        name: format!("{id}.example"),
        address: "10.0.0.1:7946".into(),
        labels: BTreeMap::from([("zone".into(), "a".into())]),
        capacity: resources,
        allocatable: resources,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        pod_subnet: Some("10.42.1.0/24".into()),
        last_heartbeat: Some(Timestamp(5_000)),
    })
}

pub(super) fn secret(env: &str, secret: &str) -> Object {
    Object::Secret(Secret {
        env: name(env),
        name: name(secret),
        ciphertext: vec![0, 1, 2, 255],
        key_id: "k1".into(),
        labels: BTreeMap::new(),
    })
}

pub(super) fn config(env: &str, config: &str) -> Object {
    Object::Config(Config {
        env: name(env),
        name: name(config),
        data: b"listen 80;\n".to_vec(),
        labels: BTreeMap::new(),
    })
}

pub(super) fn put(object: Object) -> Command {
    Command::put(object, Expect::Any)
}

pub(super) fn put_if(object: Object, expect: Expect) -> Command {
    Command::put(object, expect)
}

pub(super) fn delete(text: &str, expect: Expect) -> Command {
    Command::Delete {
        key: key(text),
        expect,
    }
}

pub(super) fn ok(revision: u64, prev: &[Option<u64>]) -> Response {
    let results = prev
        .iter()
        .map(|&prev_revision| OpResult { prev_revision })
        .collect();
    Response::Ok { revision, results }
}

pub(super) fn conflict(text: &str, expected: Expect, found: Found) -> Response {
    Response::Conflict {
        key: key(text),
        expected,
        found,
    }
}

/// Applies each `(revision, command, expected response)` in turn.
pub(super) fn run(state: &mut State, steps: Vec<(u64, Command, Response)>) {
    for (i, (revision, command, want)) in steps.into_iter().enumerate() {
        let got = state.apply(revision, &command);
        assert_eq!(got, want, "step {i} (revision {revision}): {command:?}");
    }
}

/// Every kind of object once, in a consistent hierarchy.
pub(super) fn one_of_each() -> Vec<Object> {
    vec![
        env("dev"),
        app("dev", "shop"),
        service("dev", "shop", "web"),
        task("t1", TaskState::Running),
        node("n1"),
        secret("dev", "db-password"),
        config("dev", "nginx"),
    ]
}
