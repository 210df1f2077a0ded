use super::*;
use crate::network::ports::{render, Table};

fn vip(name: &str, vip: &str, backends: &[&str]) -> ServiceVip {
    ServiceVip {
        name: name.into(),
        vip: vip.parse().unwrap(),
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
fn a_vip_is_one_dnat_rule_picking_a_backend_at_random_and_keeping_the_port() {
    let web = vip("dev/shop/web", "10.96.0.2", &["10.87.0.2", "10.208.1.3"]);
    let off = vip("dev/shop/off", "10.96.0.3", &[]);
    assert_eq!(
        dnat_rules(&[web, off.clone()]),
        ["ip daddr 10.96.0.2 dnat ip to numgen random mod 2 map { 0 : 10.87.0.2, 1 : 10.208.1.3 } \
          comment \"dev/shop/web\""]
    );
    assert_eq!(
        refuse_rules(&[off]),
        [
            "ct state new ip daddr 10.96.0.3 meta l4proto tcp reject with tcp reset comment \
             \"dev/shop/off\"",
            "ct state new ip daddr 10.96.0.3 reject comment \"dev/shop/off\"",
        ]
    );
}

#[test]
fn the_table_jumps_to_the_vips_before_local_ports_and_refuses_in_forward_and_output() {
    let vips = [
        vip("a/b/web", "10.96.0.2", &["10.87.0.2"]),
        vip("a/b/off", "10.96.0.3", &[]),
    ];
    let got = render(&table(), &[], &[], &vips);
    for want in [
        "\tchain vips {\n\t\tip daddr 10.96.0.2 dnat ip to numgen random mod 1 map { 0 : 10.87.0.2 } comment \"a/b/web\"\n\t}\n",
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump vips\n\t\tfib daddr type local jump ports\n",
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump vips\n",
        "\tchain vip_refuse_forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tjump vip_refuse\n",
        "\tchain vip_refuse_output {\n\t\ttype filter hook output priority 0; policy accept;\n\t\tjump vip_refuse\n",
    ] {
        assert!(got.contains(want), "missing {want:?} in\n{got}");
    }
    let none = render(&table(), &[], &[], &[]);
    assert!(!none.contains("vip"), "{none}");
}

#[test]
fn bad_lists_are_refused_naming_the_entry() {
    let cases: Vec<(Vec<ServiceVip>, &str)> = vec![
        (vec![vip("", "10.96.0.2", &[])], "virtual IP name \"\""),
        (
            vec![vip("a b", "10.96.0.2", &[])],
            "virtual IP name \"a b\"",
        ),
        (vec![vip("x\"y", "10.96.0.2", &[])], "virtual IP name"),
        (vec![vip(&"n".repeat(129), "10.96.0.2", &[])], "1 to 128"),
        (
            vec![vip("a/b/web", "0.0.0.0", &[])],
            "virtual IP a/b/web: 0.0.0.0 is not a unicast",
        ),
        (
            vec![vip("a/b/web", "224.0.0.1", &[])],
            "224.0.0.1 is not a unicast",
        ),
        (
            vec![vip("a/b/web", "127.0.0.1", &[])],
            "127.0.0.1 is not a unicast",
        ),
        (
            vec![
                vip("a/b/web", "10.96.0.2", &[]),
                vip("a/b/api", "10.96.0.2", &[]),
            ],
            "virtual IP a/b/api: 10.96.0.2 is also the address of a/b/web",
        ),
        (
            vec![vip("a/b/web", "10.96.0.2", &["10.87.0.2", "10.87.0.2"])],
            "backend 10.87.0.2 is not a unicast address or is given twice",
        ),
        (
            vec![vip("a/b/web", "10.96.0.2", &["255.255.255.255"])],
            "backend 255.255.255.255",
        ),
    ];
    for (list, want) in cases {
        let err = check(&list).expect_err(want).to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
    let many: Vec<ServiceVip> = (0..=MAX_VIPS)
        .map(|i| {
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 1)) + i as u32);
            ServiceVip {
                name: format!("s{i}"),
                vip: ip,
                backends: Vec::new(),
            }
        })
        .collect();
    assert!(check(&many)
        .unwrap_err()
        .to_string()
        .contains("at most 4096"));
    assert!(check(&many[..MAX_VIPS]).is_ok());
    let wide = ServiceVip {
        name: "a/b/web".into(),
        vip: "10.96.0.2".parse().unwrap(),
        backends: (0..=MAX_VIP_BACKENDS as u32)
            .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 87, 0, 2)) + i))
            .collect(),
    };
    assert!(check(&[wide])
        .unwrap_err()
        .to_string()
        .contains("at most 1024"));
}
