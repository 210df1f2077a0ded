//! Objects and states for the unit tests of the agent service.

use serde_json::json;
use skiff_core::objects::{Service, Task};
use skiff_core::{Command, Expect, Key, Name, Object, State};

/// A state at revision 0 with environment `dev`.
pub fn state() -> State {
    let mut state = State::new();
    let env = serde_json::from_value(json!({"environment": {"name": "dev"}})).unwrap();
    put(&mut state, env);
    state
}

/// Writes `object` at the next revision.
pub fn put(state: &mut State, object: Object) -> u64 {
    let revision = state.revision() + 1;
    let answer = state.apply(revision, &Command::put(object, Expect::Any));
    assert!(answer.is_ok(), "{answer:?}");
    revision
}

/// Deletes `key` at the next revision.
pub fn delete(state: &mut State, key: Key) {
    let revision = state.revision() + 1;
    let answer = state.apply(
        revision,
        &Command::Delete {
            key,
            expect: Expect::Any,
        },
    );
    assert!(answer.is_ok(), "{answer:?}");
}

/// Service `dev/shop/{name}` running `image`.
pub fn service(name: &str, image: &str) -> Object {
    let yaml = format!("name: shop\nservices:\n  {name}:\n    image: {image}\n");
    let loader = skiff_manifest::MemoryLoader::new().with("compose.yaml", &yaml);
    let options = skiff_manifest::Options::new(["compose.yaml"]);
    let mut spec = skiff_manifest::load(&options, &loader).unwrap().spec;
    let spec = spec.services.remove(name).unwrap();
    Object::Service(Box::new(Service {
        env: Name::new("dev").unwrap(),
        app: Name::new("shop").unwrap(),
        name: Name::new(name).unwrap(),
        spec_revision: 1,
        spec,
        vip: None,
        rollout: None,
    }))
}

/// Task `id` of `dev/shop/{service}` on `node`, observed `observed`.
pub fn task(id: &str, service: &str, node: Option<&str>, observed: &str) -> Task {
    serde_json::from_value(json!({
        "id": id, "env": "dev", "app": "shop", "service": service, "slot": {"replica": 1},
        "spec_revision": 1, "desired": "running", "node": node, "observed": observed,
        "created_at": 0, "updated_at": 0,
    }))
    .unwrap()
}

/// A node with `status` and `pod_subnet`.
pub fn node(id: &str, address: &str, status: &str, pod_subnet: Option<&str>) -> Object {
    let resources = json!({"cpus": "4", "memory": 8_589_934_592u64});
    serde_json::from_value(json!({"node": {
        "id": id, "name": id, "address": address, "capacity": resources,
        "allocatable": resources, "availability": "active", "status": status,
        "pod_subnet": pod_subnet,
    }}))
    .unwrap()
}
