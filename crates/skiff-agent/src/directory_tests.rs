use hickory_proto::rr::RecordType;
use skiff_proto::agent::{Endpoint, Endpoints, ServiceInfo, ServiceNetwork};

use super::*;
use crate::dns::Answer;

fn service(app: &str, name: &str, vip: &str, dnsrr: bool, aliases: &[&str]) -> ServiceInfo {
    ServiceInfo {
        app: app.into(),
        name: name.into(),
        vip: vip.into(),
        dnsrr,
        networks: vec![ServiceNetwork {
            id: format!("dev/{app}_default"),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        }],
    }
}

fn endpoint(id: &str, app: &str, service: &str, ip: &str, ready: bool) -> Endpoint {
    Endpoint {
        task_id: id.into(),
        app: app.into(),
        service: service.into(),
        ip: ip.into(),
        ready,
    }
}

/// dev: shop/web (VIP 10.96.0.5, two ready tasks and one not), shop/db (dnsrr, one ready).
fn dev() -> Endpoints {
    Endpoints {
        env: "dev".into(),
        full: true,
        services: vec![
            service("shop", "web", "10.96.0.5", false, &["www"]),
            service("shop", "db", "", true, &[]),
        ],
        endpoints: vec![
            endpoint("t1", "shop", "web", "10.208.0.2", true),
            endpoint("t2", "shop", "web", "10.208.1.2", true),
            endpoint("t3", "shop", "web", "10.208.1.3", false),
            endpoint("t4", "shop", "db", "10.208.0.3", true),
        ],
        ..Default::default()
    }
}

#[test]
fn messages_build_up_and_replace_the_directory() {
    let mut d = Directory::default();
    d.apply(&dev());
    assert_eq!(d.envs["dev"].endpoints.len(), 4);
    d.apply(&Endpoints {
        env: "dev".into(),
        endpoints: vec![endpoint("t3", "shop", "web", "10.208.1.3", true)],
        removed_endpoints: vec!["t1".into()],
        removed_services: vec!["shop/db".into()],
        ..Default::default()
    });
    let data = &d.envs["dev"];
    assert!(data.endpoints["t3"].ready && !data.endpoints.contains_key("t1"));
    assert!(!data.services.contains_key("shop/db"));
    // A full message replaces; an empty full one removes the environment.
    d.apply(&dev());
    assert!(d.envs["dev"].endpoints.contains_key("t1"));
    d.apply(&Endpoints {
        env: "dev".into(),
        full: true,
        ..Default::default()
    });
    assert!(d.envs.is_empty());
}

#[test]
fn virtual_ips_go_to_ready_tasks_only_and_dnsrr_services_have_none() {
    let mut d = Directory::default();
    d.apply(&dev());
    let vips = d.vips();
    assert_eq!(vips.len(), 1);
    assert_eq!(vips[0].name, "dev/shop/web");
    assert_eq!(vips[0].vip.to_string(), "10.96.0.5");
    let backends: Vec<String> = vips[0].backends.iter().map(|b| b.to_string()).collect();
    assert_eq!(backends, ["10.208.0.2", "10.208.1.2"]);
}

#[test]
fn names_answer_with_the_vip_or_the_ready_tasks_within_the_clients_scope() {
    let mut d = Directory::default();
    d.apply(&dev());
    d.apply(&Endpoints {
        env: "prod".into(),
        full: true,
        services: vec![service("shop", "web", "10.96.0.9", false, &[])],
        endpoints: vec![endpoint("p1", "shop", "web", "10.208.2.2", true)],
        ..Default::default()
    });
    let table = d.dns_table().unwrap();
    let client: IpAddr = "10.208.0.2".parse().unwrap();
    let addrs = |answer: Answer| match answer {
        Answer::Addresses { addrs, .. } => addrs.iter().map(|a| a.to_string()).collect(),
        other => vec![format!("{other:?}")],
    };
    assert_eq!(
        addrs(table.resolve(client, "web", RecordType::A)),
        ["10.96.0.5"]
    );
    assert_eq!(
        addrs(table.resolve(client, "www", RecordType::A)),
        ["10.96.0.5"]
    );
    assert_eq!(
        addrs(table.resolve(client, "db", RecordType::A)),
        ["10.208.0.3"]
    );
    // A prod client gets prod's web; dev's is not a name for it.
    let prod: IpAddr = "10.208.2.2".parse().unwrap();
    assert_eq!(
        addrs(table.resolve(prod, "web", RecordType::A)),
        ["10.96.0.9"]
    );
    assert_eq!(
        table.resolve(prod, "web.shop.dev", RecordType::A),
        Answer::NxDomain
    );
}
