use std::net::Ipv4Addr;

use skiff_api::app::EndpointMode;

use super::*;
use crate::test_support::{app_spec, name};

fn service(app: &str, svc: &str, mode: EndpointMode, vip: Option<&str>) -> Service {
    let mut spec = app_spec("services:\n  web:\n    image: busybox\n")
        .services
        .remove("web")
        .unwrap();
    spec.deploy.endpoint_mode = mode;
    Service {
        env: name("dev"),
        app: name(app),
        name: name(svc),
        spec_revision: 1,
        spec,
        vip: vip.map(|v| v.parse().unwrap()),
        rollout: None,
    }
}

fn range(text: &str) -> VipRange {
    let (ip, prefix) = text.split_once('/').unwrap();
    VipRange::new(ip.parse().unwrap(), prefix.parse().unwrap()).unwrap()
}

/// What each change sets, by service name.
fn summary(plan: &VipPlan) -> Vec<(String, Option<Ipv4Addr>)> {
    plan.changes
        .iter()
        .map(|c| (c.service.name.to_string(), c.service.vip))
        .collect()
}

#[test]
fn vip_services_get_distinct_addresses_of_the_range_and_dnsrr_ones_none() {
    let services = [
        service("shop", "api", EndpointMode::Vip, None),
        service("shop", "db", EndpointMode::Dnsrr, None),
        service("shop", "web", EndpointMode::Vip, None),
    ];
    let input: Vec<(&Service, u64)> = services.iter().zip([4, 5, 6]).collect();
    let r = range("10.96.0.0/16");
    let plan = assign_vips(&input, r);
    assert!(plan.exhausted.is_empty());
    let got = summary(&plan);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[1].0.as_str()), ("api", "web"));
    let (a, b) = (got[0].1.unwrap(), got[1].1.unwrap());
    assert!(r.holds(a) && r.holds(b) && a != b, "{a} {b}");
    assert_eq!(
        plan.changes.iter().map(|c| c.revision).collect::<Vec<_>>(),
        [4, 6]
    );
    // The same services again: the same addresses (the start comes from the key).
    assert_eq!(assign_vips(&input, r), plan);
}

#[test]
fn kept_addresses_stay_and_outside_duplicate_and_unwanted_ones_change() {
    let services = [
        service("a", "keep", EndpointMode::Vip, Some("10.96.0.7")),
        service("b", "dup", EndpointMode::Vip, Some("10.96.0.7")),
        service("c", "outside", EndpointMode::Vip, Some("10.97.0.7")),
        service("d", "now-dnsrr", EndpointMode::Dnsrr, Some("10.96.0.9")),
        service("e", "network", EndpointMode::Vip, Some("10.96.0.0")),
    ];
    let input: Vec<(&Service, u64)> = services.iter().map(|s| (s, 1)).collect();
    let plan = assign_vips(&input, range("10.96.0.0/16"));
    let got = summary(&plan);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["now-dnsrr", "dup", "outside", "network"]);
    assert_eq!(got[0].1, None);
    let new: Vec<Ipv4Addr> = got[1..].iter().map(|(_, ip)| ip.unwrap()).collect();
    for ip in &new {
        assert!(range("10.96.0.0/16").holds(*ip), "{ip}");
        assert_ne!(*ip, "10.96.0.7".parse::<Ipv4Addr>().unwrap());
    }
    assert!(new[0] != new[1] && new[1] != new[2] && new[0] != new[2]);
}

#[test]
fn a_full_range_leaves_the_rest_without_and_says_which() {
    // A /30 holds two addresses.
    let services = [
        service("a", "one", EndpointMode::Vip, None),
        service("a", "two", EndpointMode::Vip, None),
        service("a", "three", EndpointMode::Vip, None),
    ];
    let input: Vec<(&Service, u64)> = services.iter().map(|s| (s, 1)).collect();
    let plan = assign_vips(&input, range("10.96.0.0/30"));
    let mut ips: Vec<Ipv4Addr> = plan.changes.iter().filter_map(|c| c.service.vip).collect();
    ips.sort();
    assert_eq!(
        ips,
        [
            "10.96.0.1".parse::<Ipv4Addr>().unwrap(),
            "10.96.0.2".parse().unwrap()
        ]
    );
    assert_eq!(plan.exhausted.len(), 1);
    assert_eq!(plan.exhausted[0].to_string(), "/services/dev/a/three");
}

#[test]
fn ranges_are_checked() {
    let ip = |t: &str| t.parse::<Ipv4Addr>().unwrap();
    assert!(VipRange::new(ip("10.96.0.0"), 7).is_err());
    assert!(VipRange::new(ip("10.96.0.0"), 31).is_err());
    let err = VipRange::new(ip("10.96.0.1"), 16).unwrap_err().to_string();
    assert!(
        err.contains("10.96.0.1/16") && err.contains("first address"),
        "{err}"
    );
    let r = range("10.96.0.0/24");
    assert_eq!(r.capacity(), 254);
    assert!(!r.holds(ip("10.96.0.0")) && !r.holds(ip("10.96.0.255")));
    assert!(r.holds(ip("10.96.0.1")) && r.holds(ip("10.96.0.254")));
    assert!(!r.holds(ip("10.96.1.1")) && !r.holds(ip("10.95.255.255")));
}
