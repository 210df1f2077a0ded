use prost::Message as _;
use skiff_core::objects::{DesiredState, Health};
use skiff_core::{Key, Name, Object};
use skiff_proto::agent::Endpoints;

use super::EndpointTables;
use crate::agents::fixtures::{put, service, state, task};

fn dev() -> Name {
    Name::new("dev").unwrap()
}

fn decode(bytes: &[u8]) -> Endpoints {
    Endpoints::decode(bytes).unwrap()
}

/// Task `id` of `web` on n1 at `ip`, observed `observed`, with `health`.
fn web(id: &str, ip: &str, observed: &str, health: Health) -> skiff_core::objects::Task {
    let mut t = task(id, "web", Some("n1"), observed);
    t.ip = Some(ip.parse().unwrap());
    t.health = health;
    t
}

#[test]
fn a_task_has_an_address_while_its_container_exists_and_is_ready_only_when_it_should_get_traffic() {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    let mut tables = EndpointTables::default();
    let cases = [
        ("t1", "running", Health::Unknown, Some(true)),
        ("t2", "starting", Health::Unknown, Some(false)),
        ("t3", "running", Health::Unhealthy, Some(false)),
        ("t4", "assigned", Health::Unknown, None),
        ("t5", "complete", Health::Unknown, None),
    ];
    for (i, (id, observed, health, _)) in cases.iter().enumerate() {
        let t = web(id, &format!("10.208.0.{}", i + 2), observed, *health);
        tables.task(&s, &dev(), id, Some(&t));
    }
    let mut wanted_down = web("t6", "10.208.0.9", "running", Health::Healthy);
    wanted_down.desired = DesiredState::Shutdown;
    tables.task(&s, &dev(), "t6", Some(&wanted_down));
    let full = decode(&tables.full(&dev()));
    assert!(full.full);
    assert_eq!(full.env, "dev");
    let got: Vec<(&str, &str, bool)> = full
        .endpoints
        .iter()
        .map(|e| (e.task_id.as_str(), e.ip.as_str(), e.ready))
        .collect();
    assert_eq!(
        got,
        [
            ("t1", "10.208.0.2", true),
            ("t2", "10.208.0.3", false),
            ("t3", "10.208.0.4", false),
            ("t6", "10.208.0.9", false),
        ]
    );
    for (id, _, _, want) in cases {
        let found = full
            .endpoints
            .iter()
            .find(|e| e.task_id == id)
            .map(|e| e.ready);
        assert_eq!(found, want, "{id}");
    }
}

#[test]
fn with_a_healthcheck_only_healthy_tasks_are_ready() {
    let mut s = state();
    let mut object = service("web", "nginx:1");
    if let Object::Service(svc) = &mut object {
        let yaml = "name: shop\nservices:\n  web:\n    image: nginx\n    healthcheck:\n      test: [CMD, 'true']\n";
        let loader = skiff_manifest::MemoryLoader::new().with("compose.yaml", yaml);
        let options = skiff_manifest::Options::new(["compose.yaml"]);
        let mut spec = skiff_manifest::load(&options, &loader).unwrap().spec;
        svc.spec = spec.services.remove("web").unwrap();
    }
    put(&mut s, object);
    let mut tables = EndpointTables::default();
    for (id, health) in [
        ("t1", Health::Unknown),
        ("t2", Health::Starting),
        ("t3", Health::Healthy),
    ] {
        let t = web(id, "10.208.0.2", "running", health);
        tables.task(&s, &dev(), id, Some(&t));
    }
    let full = decode(&tables.full(&dev()));
    let ready: Vec<(&str, bool)> = full
        .endpoints
        .iter()
        .map(|e| (e.task_id.as_str(), e.ready))
        .collect();
    assert_eq!(ready, [("t1", false), ("t2", false), ("t3", true)]);
}

#[test]
fn a_round_sends_what_changed_once_and_nothing_for_what_did_not() {
    let mut s = state();
    let mut web_service = service("web", "nginx:1");
    if let Object::Service(svc) = &mut web_service {
        svc.vip = Some("10.96.0.5".parse().unwrap());
    }
    put(&mut s, web_service.clone());
    let key = Key::Service {
        env: dev(),
        app: Name::new("shop").unwrap(),
        service: Name::new("web").unwrap(),
    };
    let Object::Service(svc) = &web_service else {
        unreachable!()
    };
    let mut tables = EndpointTables::default();
    tables.service(&s, &key, Some(svc));
    let t1 = web("t1", "10.208.0.2", "starting", Health::Unknown);
    tables.task(&s, &dev(), "t1", Some(&t1));
    let t1 = web("t1", "10.208.0.2", "running", Health::Unknown);
    tables.task(&s, &dev(), "t1", Some(&t1));
    let changes = tables.take_changes(7);
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].env.as_str(), changes[0].revision), ("dev", 7));
    let change = decode(&changes[0].message);
    assert!(!change.full);
    assert_eq!(change.services.len(), 1);
    let info = &change.services[0];
    assert_eq!(
        (
            info.app.as_str(),
            info.name.as_str(),
            info.vip.as_str(),
            info.dnsrr
        ),
        ("shop", "web", "10.96.0.5", false)
    );
    assert_eq!(info.networks.len(), 1);
    assert_eq!(info.networks[0].id, "dev/shop_default");
    // One entry for the task: its last state in the round.
    assert_eq!(change.endpoints.len(), 1);
    assert!(change.endpoints[0].ready);

    // The same again: nothing to send.
    tables.service(&s, &key, Some(svc));
    tables.task(&s, &dev(), "t1", Some(&t1));
    assert!(tables.take_changes(8).is_empty());

    // Gone: removals.
    tables.task(&s, &dev(), "t1", None);
    tables.service(&s, &key, None);
    let change = decode(&tables.take_changes(9)[0].message);
    assert_eq!(change.removed_endpoints, ["t1"]);
    assert_eq!(change.removed_services, ["shop/web"]);
    assert!(decode(&tables.full(&dev())).endpoints.is_empty());
}

#[test]
fn a_network_shared_by_name_has_one_id_in_every_app_of_the_environment() {
    let mut s = state();
    let yaml = |app: &str| {
        format!(
            "name: {app}\nservices:\n  web:\n    image: nginx\n    networks: [default, shared]\n\
             networks:\n  shared:\n    external: true\n    name: front\n"
        )
    };
    let mut ids = Vec::new();
    for app in ["shop", "blog"] {
        let loader = skiff_manifest::MemoryLoader::new().with("compose.yaml", yaml(app));
        let options = skiff_manifest::Options::new(["compose.yaml"]);
        let mut spec = skiff_manifest::load(&options, &loader).unwrap().spec;
        let service = spec.services.remove("web").unwrap();
        let app_object = Object::App(skiff_core::objects::App::new(
            dev(),
            Name::new(app).unwrap(),
            spec,
            1,
        ));
        put(&mut s, app_object);
        let svc = skiff_core::objects::Service {
            env: dev(),
            app: Name::new(app).unwrap(),
            name: Name::new("web").unwrap(),
            spec_revision: 1,
            spec: service,
            vip: None,
            rollout: None,
        };
        let info = super::service_info(&s, &svc);
        let mut app_ids: Vec<String> = info.networks.iter().map(|n| n.id.clone()).collect();
        app_ids.sort();
        ids.push(app_ids);
    }
    assert_eq!(ids[0], ["dev/front", "dev/shop_default"]);
    assert_eq!(ids[1], ["dev/blog_default", "dev/front"]);
}
