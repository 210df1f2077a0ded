use super::*;
use crate::network::ports::{render, Table};

fn svc(name: &str, protocol: Protocol, published: u16, backends: &[&str]) -> ServicePort {
    ServicePort {
        name: name.into(),
        protocol,
        host_ip: None,
        published,
        backends: backends.iter().map(|b| b.parse().unwrap()).collect(),
    }
}

fn table() -> Table {
    Table {
        bridge: "skiff0".into(),
        subnet: "10.87.0.0/16".parse().unwrap(),
        masquerade: false,
    }
}

#[test]
fn a_service_port_is_one_dnat_rule_picking_a_backend_at_random() {
    let web = svc(
        "dev/shop/web",
        Protocol::Tcp,
        8080,
        &["10.87.0.2:80", "10.87.0.3:80", "10.87.0.4:80"],
    );
    let dns = ServicePort {
        host_ip: Some("10.0.0.1".parse().unwrap()),
        ..svc("dev/shop/dns", Protocol::Udp, 53, &["10.87.0.5:5353"])
    };
    assert_eq!(
        dnat_rules(&[web, dns]),
        [
            "tcp dport 8080 ct mark set 0x534b dnat ip to numgen random mod 3 map { 0 : 10.87.0.2 . 80, \
             1 : 10.87.0.3 . 80, 2 : 10.87.0.4 . 80 } comment \"dev/shop/web\"",
            "ip daddr 10.0.0.1 udp dport 53 ct mark set 0x534b dnat ip to numgen random mod 1 map \
             { 0 : 10.87.0.5 . 5353 } comment \"dev/shop/dns\"",
        ]
    );
}

#[test]
fn a_service_port_without_backends_is_refused_not_dnated() {
    let services = [
        svc("dev/shop/web", Protocol::Tcp, 8080, &[]),
        svc("dev/shop/dns", Protocol::Udp, 53, &[]),
        svc("dev/shop/api", Protocol::Tcp, 9000, &["10.87.0.2:80"]),
    ];
    assert_eq!(dnat_rules(&services).len(), 1);
    assert_eq!(
        refuse_rules(&services),
        [
            "ct state new tcp dport 8080 reject with tcp reset comment \"dev/shop/web\"",
            "ct state new udp dport 53 reject comment \"dev/shop/dns\"",
        ]
    );
}

#[test]
fn the_table_puts_service_rules_first_in_ports_and_refuses_in_an_input_chain() {
    let services = [
        svc(
            "a/b/web",
            Protocol::Tcp,
            8080,
            &["10.87.0.2:80", "10.87.0.3:80"],
        ),
        svc("a/b/off", Protocol::Tcp, 8081, &[]),
    ];
    let got = render(&table(), &[], &services, &[]);
    let want_ports = "\
\tchain ports {
\t\ttcp dport 8080 ct mark set 0x534b dnat ip to numgen random mod 2 map { 0 : 10.87.0.2 . 80, 1 : 10.87.0.3 . 80 } comment \"a/b/web\"
\t\tdnat ip to ip daddr . tcp dport map @tcp_addr
";
    assert!(got.contains(want_ports), "{got}");
    let want_refuse = "\
\tchain refuse {
\t\ttype filter hook input priority 0; policy accept;
\t\tct state new tcp dport 8081 reject with tcp reset comment \"a/b/off\"
\t}
}
";
    assert!(got.ends_with(want_refuse), "{got}");
    // Without service ports the table is as before: no refuse chain.
    assert!(!render(&table(), &[], &[], &[]).contains("refuse"));
}

#[test]
fn bad_lists_are_refused_naming_the_service_port() {
    let ok = svc("dev/shop/web", Protocol::Tcp, 8080, &["10.87.0.2:80"]);
    check(std::slice::from_ref(&ok)).unwrap();
    let cases: Vec<(ServicePort, &str)> = vec![
        (
            ServicePort {
                name: "web\"; drop".into(),
                ..ok.clone()
            },
            "service port name",
        ),
        (
            ServicePort {
                name: String::new(),
                ..ok.clone()
            },
            "service port name",
        ),
        (
            ServicePort {
                published: 0,
                ..ok.clone()
            },
            "service port dev/shop/web: 0/tcp:0: port 0",
        ),
        (
            ServicePort {
                host_ip: Some("0.0.0.0".parse().unwrap()),
                ..ok.clone()
            },
            "not a unicast address",
        ),
        (
            svc("dev/shop/web", Protocol::Tcp, 8080, &["127.0.0.1:80"]),
            "backend 127.0.0.1:80 is not a unicast",
        ),
        (
            svc("dev/shop/web", Protocol::Tcp, 8080, &["10.87.0.2:0"]),
            "backend 10.87.0.2:0",
        ),
        (
            svc(
                "dev/shop/web",
                Protocol::Tcp,
                8080,
                &["10.87.0.2:80", "10.87.0.2:80"],
            ),
            "backend 10.87.0.2:80 is given twice",
        ),
    ];
    for (s, want) in cases {
        let e = check(std::slice::from_ref(&s)).unwrap_err().to_string();
        assert!(e.contains(want), "{s:?}: {e}");
    }
    let many = ServicePort {
        backends: (0..=MAX_BACKENDS as u16)
            .map(|i| SocketAddrV4::new(Ipv4Addr::new(10, 87, (i >> 8) as u8, i as u8), 80))
            .collect(),
        ..ok.clone()
    };
    assert!(matches!(
        check(&[many]),
        Err(ServicePortError::TooManyBackends { .. })
    ));
}

#[test]
fn two_service_ports_on_the_same_traffic_are_refused() {
    let a = svc("a/b/web", Protocol::Tcp, 8080, &[]);
    let b = ServicePort {
        host_ip: Some("127.0.0.1".parse().unwrap()),
        ..svc("a/b/api", Protocol::Tcp, 8080, &[])
    };
    assert_eq!(
        check(&[a.clone(), b]).unwrap_err().to_string(),
        "service port a/b/api: 127.0.0.1:8080/tcp is also asked for by service port a/b/web: \
         a host port, protocol and address can be published once"
    );
    // Another protocol is other traffic.
    check(&[a, svc("a/b/dns", Protocol::Udp, 8080, &[])]).unwrap();
}

#[test]
fn conflicts_with_container_ports_name_the_holder_either_way() {
    let services = [svc("a/b/web", Protocol::Tcp, 8080, &[])];
    let mapping = PortMapping {
        host_ip: Some("127.0.0.1".parse().unwrap()),
        host_port: 8080,
        container_port: 80,
        protocol: Protocol::Tcp,
    };
    let e = taken_by_service(&services, &[mapping]).unwrap();
    assert_eq!(
        e.to_string(),
        "127.0.0.1:8080/tcp conflicts with 8080/tcp, the service port of a/b/web: choose \
         another host port"
    );
    let held = PublishedPort {
        owner: "0123456789abcdef".into(),
        name: "web".into(),
        mapping,
        container_ip: "10.87.0.9".parse().unwrap(),
    };
    let (s, p) = held_by_container(&services, std::slice::from_ref(&held)).unwrap();
    assert_eq!((s.name.as_str(), p.name.as_str()), ("a/b/web", "web"));
    let udp = PortMapping {
        protocol: Protocol::Udp,
        ..mapping
    };
    assert!(taken_by_service(&services, &[udp]).is_none());
}
