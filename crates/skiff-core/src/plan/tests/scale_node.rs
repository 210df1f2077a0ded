use skiff_api::{ByteSize, Cpus, ServiceMode};

use super::*;
use crate::plan::{apply_app, scale_service, update_node, NodeUpdate, PlanError, MAX_REPLICAS};

const SHOP: &str = "name: shop\nservices:\n  web:\n    image: nginx:1\n    deploy:\n      replicas: 2\n  agent:\n    image: agent:1\n    deploy:\n      mode: global\n";

fn shop() -> State {
    let mut state = state_with(vec![Object::Environment(environment("dev"))]);
    let plan = apply_app(&state, &name("dev"), &spec("dev", SHOP)).unwrap();
    assert!(commit(&mut state, &plan.command).is_ok());
    state
}

fn replicas(state: &State, service: &str) -> (u32, u64) {
    let key = key(&format!("/services/dev/shop/{service}"));
    let Some(Object::Service(s)) = state.get(&key).map(|r| &r.object) else {
        panic!("no service {service}");
    };
    let ServiceMode::Replicated { replicas } = s.spec.deploy.mode else {
        panic!("{service} is not replicated");
    };
    (replicas, s.spec_revision)
}

#[test]
fn scaling_writes_a_new_app_revision_with_the_new_count_only() {
    let mut state = shop();
    assert_eq!(replicas(&state, "web"), (2, 1));
    let plan = scale_service(&state, &name("dev"), &name("shop"), &name("web"), 5).unwrap();
    assert_eq!(
        summary(&plan.command),
        [
            "check /envs/dev @1",
            "check /services/dev/shop/agent @2",
            "put /apps/dev/shop @2",
            "put /services/dev/shop/web @2",
        ]
    );
    assert!(commit(&mut state, &plan.command).is_ok());
    assert_eq!(replicas(&state, "web"), (5, 2));
    // The same count again changes nothing.
    let again = scale_service(&state, &name("dev"), &name("shop"), &name("web"), 5).unwrap();
    assert!(again.is_empty());
}

#[test]
fn scaling_refusals_name_what_is_wrong() {
    let state = shop();
    let scale = |app: &str, svc: &str, n: u32| {
        scale_service(&state, &name("dev"), &name(app), &name(svc), n).unwrap_err()
    };
    assert!(matches!(
        scale("blog", "web", 1),
        PlanError::NoSuchApp { .. }
    ));
    let e = scale("shop", "db", 1);
    assert_eq!(
        e.to_string(),
        "app shop in environment dev has no service db"
    );
    let e = scale("shop", "agent", 3);
    assert!(e.to_string().starts_with("service agent is global"), "{e}");
    let e = scale("shop", "web", MAX_REPLICAS + 1);
    assert!(
        e.to_string().contains("more than the limit of 10000"),
        "{e}"
    );
}

fn with_node() -> State {
    let resources = NodeResources {
        cpus: Cpus::from_millis(2_000),
        memory: ByteSize(1 << 30),
    };
    state_with(vec![Object::Node(Node {
        id: name("n1"),
        name: "n1".into(),
        address: "10.0.0.1:7947".into(),
        labels: [("zone".to_owned(), "a".to_owned())].into(),
        capacity: resources,
        allocatable: resources,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        pod_subnet: None,
        last_heartbeat: None,
    })])
}

#[test]
fn a_node_is_drained_and_relabelled_in_one_put() {
    let mut state = with_node();
    let update = NodeUpdate {
        availability: Some(Availability::Drain),
        labels: [
            ("zone".to_owned(), None),
            ("disk".to_owned(), Some("ssd".to_owned())),
        ]
        .into(),
    };
    let command = update_node(&state, &name("n1"), &update).unwrap().unwrap();
    assert!(commit(&mut state, &command).is_ok());
    let Some(Object::Node(node)) = state.get(&key("/nodes/n1")).map(|r| &r.object) else {
        panic!("no node");
    };
    assert_eq!(node.availability, Availability::Drain);
    assert_eq!(node.labels, [("disk".to_owned(), "ssd".to_owned())].into());
    // Asking again changes nothing.
    assert_eq!(update_node(&state, &name("n1"), &update).unwrap(), None);
}

#[test]
fn bad_node_updates_are_refused() {
    let state = with_node();
    let update = |k: &str, v: Option<&str>| NodeUpdate {
        availability: None,
        labels: [(k.to_owned(), v.map(str::to_owned))].into(),
    };
    let refuse = |u: NodeUpdate| {
        update_node(&state, &name("n1"), &u)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        update_node(&state, &name("n9"), &NodeUpdate::default())
            .unwrap_err()
            .to_string(),
        "node n9 does not exist (skiff node ls lists the nodes)"
    );
    assert!(refuse(update("", Some("x"))).contains("may not be empty"));
    assert!(refuse(update("a=b", Some("x"))).contains("may not hold '='"));
    assert!(refuse(update("a b", None)).contains("spaces"));
    assert!(refuse(update(&"k".repeat(300), Some("x"))).contains("at most 253"));
    assert!(refuse(update("k", Some(&"v".repeat(2000)))).contains("at most 1024"));
    assert!(refuse(update("k", Some("a\nb"))).contains("control characters"));
    let many = NodeUpdate {
        availability: None,
        labels: (0..200)
            .map(|i| (format!("k{i}"), Some("v".into())))
            .collect(),
    };
    assert!(refuse(many).contains("at most 128 labels"));
}
