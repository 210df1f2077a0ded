use super::*;

fn tcp(host_ip: Option<&str>, host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(|ip| ip.parse().unwrap()),
        host_port,
        container_port,
        protocol: Protocol::Tcp,
    }
}

fn udp(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        protocol: Protocol::Udp,
        ..tcp(None, host_port, container_port)
    }
}

fn held(owner: &str, name: &str, mapping: PortMapping, ip: &str) -> PublishedPort {
    PublishedPort {
        owner: owner.to_string(),
        name: name.to_string(),
        mapping,
        container_ip: ip.parse().unwrap(),
    }
}

fn table(masquerade: bool) -> Table {
    Table {
        bridge: "skiff0".into(),
        subnet: "10.87.0.0/16".parse().unwrap(),
        masquerade,
    }
}

#[test]
fn overlap_is_protocol_and_port_with_an_address_in_common() {
    let cases = [
        (tcp(None, 8080, 80), tcp(None, 8080, 81), true),
        (tcp(None, 8080, 80), tcp(Some("127.0.0.1"), 8080, 80), true),
        (tcp(Some("127.0.0.1"), 8080, 80), tcp(None, 8080, 80), true),
        (
            tcp(Some("127.0.0.1"), 8080, 80),
            tcp(Some("127.0.0.1"), 8080, 90),
            true,
        ),
        (
            tcp(Some("127.0.0.1"), 8080, 80),
            tcp(Some("10.0.0.1"), 8080, 80),
            false,
        ),
        (tcp(None, 8080, 80), udp(8080, 80), false),
        (tcp(None, 8080, 80), tcp(None, 8081, 80), false),
    ];
    for (a, b, want) in cases {
        assert_eq!(overlaps(&a, &b), want, "{a:?} / {b:?}");
        assert_eq!(overlaps(&b, &a), want, "{b:?} / {a:?}");
    }
}

#[test]
fn a_port_held_by_another_container_is_refused_naming_both() {
    let held = vec![
        held(
            "a".repeat(64).as_str(),
            "web",
            tcp(Some("127.0.0.1"), 8080, 80),
            "10.87.0.2",
        ),
        held("b".repeat(64).as_str(), "dns", udp(53, 53), "10.87.0.3"),
    ];
    let wanted = [tcp(None, 9000, 80), tcp(None, 8080, 80)];
    let (w, h) = conflict(&held, &wanted).expect("a conflict");
    let message = in_use(w, h).to_string();
    assert_eq!(
        message,
        format!(
            "8080/tcp conflicts with 127.0.0.1:8080/tcp, published by container web ({}): \
             choose another host port, or remove that container",
            "a".repeat(12)
        )
    );
    // Another protocol, another port or another specific address is free.
    for free in [
        tcp(None, 53, 53),
        udp(8080, 80),
        tcp(Some("10.0.0.1"), 8080, 80),
        udp(54, 53),
    ] {
        assert!(conflict(&held, &[free]).is_none(), "{free:?}");
    }
    assert!(conflict(&held, &[udp(53, 5353)]).is_some());
    assert!(conflict(&[], &wanted).is_none());
}

#[test]
fn a_request_may_not_ask_for_one_port_twice() {
    let e = check(&[
        tcp(None, 8080, 80),
        udp(8080, 80),
        tcp(Some("127.0.0.1"), 8080, 81),
    ])
    .unwrap_err();
    assert_eq!(
        e,
        PortError::Duplicate {
            first: "8080/tcp".into(),
            second: "127.0.0.1:8080/tcp".into()
        }
    );
    assert!(e.to_string().contains("can be published once"), "{e}");
    // The same container port behind two host ports is fine, as in Docker.
    check(&[tcp(None, 8080, 80), tcp(None, 8081, 80), udp(8080, 80)]).unwrap();
    check(&[
        tcp(Some("127.0.0.1"), 8080, 80),
        tcp(Some("10.0.0.1"), 8080, 80),
    ])
    .unwrap();
}

#[test]
fn ports_and_addresses_that_cannot_be_published_are_refused() {
    assert!(matches!(
        check(&[tcp(None, 0, 80)]),
        Err(PortError::ZeroPort { .. })
    ));
    assert!(matches!(
        check(&[tcp(None, 80, 0)]),
        Err(PortError::ZeroPort { .. })
    ));
    for ip in ["0.0.0.0", "255.255.255.255", "224.0.0.1"] {
        let e = check(&[tcp(Some(ip), 80, 80)]).unwrap_err();
        assert!(matches!(e, PortError::BadHostIp { .. }), "{ip}: {e}");
        assert!(e.to_string().contains("give none"), "{e}");
    }
    let many: Vec<PortMapping> = (1..=MAX_PER_CONTAINER as u16 + 1)
        .map(|p| tcp(None, p, p))
        .collect();
    assert_eq!(
        check(&many),
        Err(PortError::TooMany {
            count: MAX_PER_CONTAINER + 1
        })
    );
    check(&many[..MAX_PER_CONTAINER]).unwrap();
}

#[test]
fn the_ruleset_is_skiffs_table_alone_with_its_maps_filled_from_the_state() {
    let ports = [
        held("a", "web", tcp(None, 8080, 80), "10.87.0.2"),
        held("a", "web", tcp(Some("127.0.0.1"), 8443, 443), "10.87.0.2"),
        held("b", "dns", udp(5353, 53), "10.87.0.3"),
    ];
    let got = render(&table(false), &ports, &[], &[]);
    let want = "\
table ip skiff {}
delete table ip skiff
table bridge skiff {}
delete table bridge skiff
table ip skiff {
\tmap tcp_any {
\t\ttype inet_service : ipv4_addr . inet_service
\t\telements = { 8080 : 10.87.0.2 . 80 }
\t}
\tmap tcp_addr {
\t\ttype ipv4_addr . inet_service : ipv4_addr . inet_service
\t\telements = { 127.0.0.1 . 8443 : 10.87.0.2 . 443 }
\t}
\tmap udp_any {
\t\ttype inet_service : ipv4_addr . inet_service
\t\telements = { 5353 : 10.87.0.3 . 53 }
\t}
\tmap udp_addr {
\t\ttype ipv4_addr . inet_service : ipv4_addr . inet_service
\t}
\tchain ports {
\t\tdnat ip to ip daddr . tcp dport map @tcp_addr
\t\tdnat ip to tcp dport map @tcp_any
\t\tdnat ip to ip daddr . udp dport map @udp_addr
\t\tdnat ip to udp dport map @udp_any
\t}
\tchain prerouting {
\t\ttype nat hook prerouting priority -100; policy accept;
\t\tfib daddr type local jump ports
\t}
\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local jump ports
\t}
\tchain postrouting {
\t\ttype nat hook postrouting priority 100; policy accept;
\t\toifname \"skiff0\" ct status dnat ip saddr 10.87.0.0/16 masquerade
\t\toifname \"skiff0\" ip saddr 127.0.0.0/8 masquerade
\t}
\tchain guard {
\t\ttype filter hook prerouting priority -150; policy accept;
\t\tiifname \"skiff0\" ip saddr 127.0.0.0/8 drop
\t\tiifname \"skiff0\" ip daddr 127.0.0.0/8 drop
\t}
}
";
    assert_eq!(got, want, "{got}");
    // No statement names another table than Skiff's two.
    for line in got.lines().filter(|l| l.contains("table")) {
        assert!(
            line.contains("table ip skiff") || line.contains("table bridge skiff"),
            "{line}"
        );
    }
}

#[test]
fn masquerading_adds_one_rule_for_traffic_leaving_the_node() {
    let rule = "ip saddr 10.87.0.0/16 oifname != \"skiff0\" masquerade";
    assert!(!render(&table(false), &[], &[], &[]).contains(rule));
    let with = render(&table(true), &[], &[], &[]);
    assert!(with.contains(&format!("\t\t{rule}\n")), "{with}");
    // Except towards the overlay: other nodes' containers see the container's own address.
    let overlay = "\t\toifname \"skiff.vxlan\" accept\n";
    assert!(with.contains(&format!("{overlay}\t\t{rule}\n")), "{with}");
}

#[test]
fn several_elements_share_one_declaration() {
    let ports = [
        held("a", "a", tcp(None, 8080, 80), "10.87.0.2"),
        held("b", "b", tcp(None, 8081, 80), "10.87.0.3"),
    ];
    let got = render(&table(false), &ports, &[], &[]);
    assert!(
        got.contains("elements = { 8080 : 10.87.0.2 . 80, 8081 : 10.87.0.3 . 80 }"),
        "{got}"
    );
}

#[test]
fn a_table_is_wanted_for_ports_or_masquerading_only() {
    let subnet = "10.87.0.0/16".parse().unwrap();
    assert_eq!(wanted_table("skiff0", subnet, false, &[]), None);
    assert_eq!(wanted_table("skiff0", subnet, true, &[]), Some(table(true)));
    let ports = [held("a", "a", tcp(None, 1, 1), "10.87.0.2")];
    assert_eq!(
        wanted_table("skiff0", subnet, false, &ports),
        Some(table(false))
    );
}

#[test]
fn entries_of_containers_that_are_gone_are_pruned() {
    let mut ports = vec![
        held("a", "a", tcp(None, 1, 1), "10.87.0.2"),
        held("gone", "g", tcp(None, 2, 2), "10.87.0.3"),
        held("gone", "g", udp(2, 2), "10.87.0.3"),
    ];
    assert_eq!(prune(&mut ports, |o| o != "gone"), 2);
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].owner, "a");
}

#[test]
fn the_removal_script_only_names_skiffs_tables() {
    assert_eq!(
        removal(),
        "table ip skiff {}\ndelete table ip skiff\ntable bridge skiff {}\ndelete table bridge skiff\n"
    );
}
