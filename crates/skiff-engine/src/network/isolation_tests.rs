//! Isolation: the checks, the rules as text, the rules read back and evaluated against the
//! model for every pair of members, and the kernel side through a recording fake.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::container::PortMapping;
use crate::network::firewall::Firewall;
use crate::network::ports::{self, PortError, Table};
use crate::network::save_synced;

fn member(address: &str, networks: &[&str]) -> Member {
    Member {
        address: address.parse().unwrap(),
        networks: networks.iter().map(|n| n.to_string()).collect(),
    }
}

/// The brief's example: a1, a2 on dev/a, b1 on dev/b, s1 on both, p1 on prod/a; r1 is
/// another node's container on dev/b.
fn example() -> Isolation {
    Isolation {
        members: vec![
            member("10.87.0.5", &["dev/b", "dev/a"]), // s1, networks out of order
            member("10.87.0.2", &["dev/a"]),          // a1
            member("10.87.0.3", &["dev/a"]),          // a2
            member("10.87.0.4", &["dev/b"]),          // b1
            member("10.87.0.6", &["prod/a"]),         // p1
            member("10.88.0.2", &["dev/b", "dev/b"]), // r1, a network twice
        ],
        pods: Vec::new(),
        nodes: Vec::new(),
    }
}

/// The node's own containers: a1, a2, b1 (ids as the address table holds them) and one
/// whose id nft could not take, which is left out.
fn local() -> BTreeMap<Ipv4Addr, String> {
    [
        ("10.87.0.2", "1a2b3c4d5e6f"),
        ("10.87.0.3", "a0b1c2d3e4f5"),
        ("10.87.0.4", "ffee0011aabb"),
        ("10.87.0.9", "x\"y*z\" . 1"),
    ]
    .into_iter()
    .map(|(ip, id)| (ip.parse().unwrap(), id.to_string()))
    .collect()
}

#[test]
fn the_rules_are_sets_per_network_and_a_chain_per_combination() {
    let got = render(&example(), &["10.96.0.10".parse().unwrap()], &local());
    let ip = "table ip skiff {
\tset iso_vips {
\t\ttype ipv4_addr
\t\telements = { 10.96.0.10 }
\t}
\tset iso_pods {
\t\ttype ipv4_addr
\t\tflags interval
\t}
\tset iso_nodes {
\t\ttype ipv4_addr
\t}
\tset iso_members {
\t\ttype ipv4_addr
\t\telements = { 10.87.0.2, 10.87.0.3, 10.87.0.4, 10.87.0.5, 10.87.0.6, 10.88.0.2 }
\t}
\tset iso_net_0 {
\t\ttype ipv4_addr
\t\tcomment \"dev/a\"
\t\telements = { 10.87.0.2, 10.87.0.3, 10.87.0.5 }
\t}
\tset iso_net_1 {
\t\ttype ipv4_addr
\t\tcomment \"dev/b\"
\t\telements = { 10.87.0.4, 10.87.0.5, 10.88.0.2 }
\t}
\tset iso_net_2 {
\t\ttype ipv4_addr
\t\tcomment \"prod/a\"
\t\telements = { 10.87.0.6 }
\t}
\tchain iso_nets_0 {
\t\tip daddr @iso_net_0 accept
\t\tmeta l4proto tcp reject with tcp reset
\t\treject with icmp type admin-prohibited
\t}
\tchain iso_nets_1 {
\t\tip daddr @iso_net_0 accept
\t\tip daddr @iso_net_1 accept
\t\tmeta l4proto tcp reject with tcp reset
\t\treject with icmp type admin-prohibited
\t}
\tchain iso_nets_2 {
\t\tip daddr @iso_net_1 accept
\t\tmeta l4proto tcp reject with tcp reset
\t\treject with icmp type admin-prohibited
\t}
\tchain iso_nets_3 {
\t\tip daddr @iso_net_2 accept
\t\tmeta l4proto tcp reject with tcp reset
\t\treject with icmp type admin-prohibited
\t}
\tmap iso_member_nets {
\t\ttype ipv4_addr : verdict
\t\telements = { 10.87.0.2 : jump iso_nets_0, 10.87.0.3 : jump iso_nets_0, \
10.87.0.4 : jump iso_nets_2, 10.87.0.5 : jump iso_nets_1, 10.87.0.6 : jump iso_nets_3, \
10.88.0.2 : jump iso_nets_2 }
\t}
\tchain isolation {
\t\ttype filter hook forward priority 0; policy accept;
\t\tct state established,related accept
\t\tip daddr != @iso_members ip daddr != @iso_pods accept
\t\tip daddr @iso_nodes accept
\t\tct status dnat ct original ip daddr != @iso_vips accept
\t\tip saddr vmap @iso_member_nets
\t\tip daddr != @iso_members accept
\t\tip saddr @iso_nodes accept
\t\tip saddr @iso_pods meta l4proto tcp reject with tcp reset
\t\tip saddr @iso_pods reject with icmp type admin-prohibited
\t}
}
table bridge skiff {
";
    assert!(got.starts_with(ip), "{got}");
    let bridge = &got[ip.len()..];
    assert!(
        bridge.ends_with(
            "\tchain prerouting {
\t\ttype filter hook prerouting priority -200; policy accept;
\t\tiifname \"sk*\" iifname . ip saddr != @iso_ports drop
\t\tiifname \"sk*\" iifname . arp saddr ip != @iso_ports drop
\t\tmeta pkttype != host ip daddr @iso_members ip saddr vmap @iso_member_nets
\t\tmeta pkttype != host ip daddr @iso_members ip saddr @iso_pods drop
\t}
}
"
        ),
        "{bridge}"
    );
    assert!(
        bridge.starts_with(
            "\tset iso_ports {
\t\ttype ifname . ipv4_addr
\t\tflags interval
\t\telements = { \"sk1a2b3c4d*\" . 10.87.0.2, \"ska0b1c2d3*\" . 10.87.0.3, \"skffee0011*\" . 10.87.0.4 }
\t}
\tset iso_pods {
\t\ttype ipv4_addr
\t\tflags interval
\t}
\tset iso_members {
"
        ),
        "{bridge}"
    );
    assert!(bridge.contains("\tchain iso_nets_1 {\n\t\tip daddr @iso_net_0 accept\n\t\tip daddr @iso_net_1 accept\n\t\tdrop\n\t}\n"));
    assert!(
        !bridge.contains("reject") && !bridge.contains("ct "),
        "{bridge}"
    );
    // No members, no rules; the order of the list does not matter.
    assert_eq!(render(&Isolation::default(), &[], &local()), "");
    let mut reversed = example();
    reversed.members.reverse();
    assert_eq!(
        render(&reversed, &[], &local()),
        render(&example(), &[], &local())
    );
}

/// The lines of the block `\t{kind} {name} {` … `\t}` of `table`.
fn block<'a>(table: &'a str, kind: &str, name: &str) -> Vec<&'a str> {
    let head = format!("\t{kind} {name} {{");
    table
        .lines()
        .skip_while(|l| *l != head)
        .skip(1)
        .take_while(|l| *l != "\t}")
        .map(str::trim)
        .collect()
}

/// The elements of a set or map block.
fn elements<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("elements = { "))
        .map(|e| e.trim_end_matches(" }").split(", ").collect())
        .unwrap_or_default()
}

/// What the rules of `table` (one family's block) decide for a new connection from `from` to
/// `to`, read back from the text: a destination outside `iso_members` passes; a source
/// outside `iso_member_nets` passes; otherwise its chain accepts a destination in one of its
/// sets, and refuses the rest.
fn decides(table: &str, from: &str, to: &str) -> bool {
    if !elements(&block(table, "set", "iso_members")).contains(&to) {
        return true;
    }
    let map: BTreeMap<&str, &str> = elements(&block(table, "map", "iso_member_nets"))
        .iter()
        .map(|e| e.split_once(" : jump ").unwrap())
        .collect();
    let Some(chain) = map.get(from) else {
        return true;
    };
    let rules = block(table, "chain", chain);
    let last = rules.last().unwrap();
    assert!(*last == "drop" || last.starts_with("reject"), "{rules:?}");
    rules
        .iter()
        .filter_map(|r| r.strip_prefix("ip daddr @"))
        .any(|r| {
            let set = r.strip_suffix(" accept").unwrap();
            elements(&block(table, "set", set)).contains(&to)
        })
}

#[test]
fn both_tables_decide_as_the_model_for_every_pair() {
    let iso = example();
    let script = render(&iso, &[], &local());
    let (ip, bridge) = script.split_at(script.find("table bridge").unwrap());
    let mut addrs: Vec<String> = iso.members.iter().map(|m| m.address.to_string()).collect();
    addrs.push("10.87.0.1".into()); // the bridge's address: no member
    addrs.push("192.0.2.7".into()); // another host
    let mut allowed = BTreeSet::new();
    for from in &addrs {
        for to in &addrs {
            let want = iso.allows(from.parse().unwrap(), to.parse().unwrap());
            assert_eq!(decides(ip, from, to), want, "ip: {from} → {to}");
            assert_eq!(decides(bridge, from, to), want, "bridge: {from} → {to}");
            if want && from != to {
                allowed.insert((from.as_str(), to.as_str()));
            }
        }
    }
    // The model itself, as the brief puts it.
    let (a1, a2, b1, s1, p1, r1) = (
        "10.87.0.2",
        "10.87.0.3",
        "10.87.0.4",
        "10.87.0.5",
        "10.87.0.6",
        "10.88.0.2",
    );
    for (from, to, want) in [
        (a1, a2, true),
        (a1, b1, false),
        (s1, a1, true),
        (s1, b1, true),
        (a1, s1, true),
        (p1, a1, false),
        (a1, p1, false),
        (b1, r1, true),
        (a1, r1, false),
        ("10.87.0.1", p1, true),
        (p1, "192.0.2.7", true),
    ] {
        assert_eq!(allowed.contains(&(from, to)), want, "{from} → {to}");
    }
}

#[test]
fn bad_lists_are_refused_naming_the_member() {
    let cases: Vec<(Vec<Member>, &str)> = vec![
        (
            vec![member("0.0.0.0", &["dev/a"])],
            "member 0.0.0.0: not a unicast address",
        ),
        (
            vec![member("127.0.0.1", &["dev/a"])],
            "member 127.0.0.1: not a unicast",
        ),
        (
            vec![member("224.0.0.1", &["dev/a"])],
            "member 224.0.0.1: not a unicast",
        ),
        (
            vec![
                member("10.87.0.2", &["dev/a"]),
                member("10.87.0.2", &["dev/b"]),
            ],
            "member 10.87.0.2 is listed twice",
        ),
        (
            vec![member("10.87.0.2", &[])],
            "member 10.87.0.2: no networks",
        ),
        (
            vec![member("10.87.0.2", &["dev a"])],
            "member 10.87.0.2: network id \"dev a\": use 1 to 128",
        ),
        (
            vec![member("10.87.0.2", &["dev/\"a"])],
            "network id \"dev/\\\"a\"",
        ),
        (vec![member("10.87.0.2", &[""])], "network id \"\""),
        (
            vec![member("10.87.0.2", &[&"n".repeat(129)])],
            "use 1 to 128",
        ),
    ];
    for (members, want) in cases {
        let err = Isolation {
            members,
            pods: Vec::new(),
            nodes: Vec::new(),
        }
        .check()
        .expect_err(want)
        .to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
    let addr = |i: usize| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 1)) + i as u32);
    let many = Isolation {
        members: (0..=MAX_MEMBERS)
            .map(|i| Member {
                address: addr(i),
                networks: vec!["dev/a".into()],
            })
            .collect(),
        pods: Vec::new(),
        nodes: Vec::new(),
    };
    assert!(many
        .check()
        .unwrap_err()
        .to_string()
        .contains("at most 65536"));
    let nets = Isolation {
        members: (0..=MAX_NETWORKS)
            .map(|i| Member {
                address: addr(i),
                networks: vec![format!("dev/n{i}")],
            })
            .collect(),
        pods: Vec::new(),
        nodes: Vec::new(),
    };
    let err = nets.check().unwrap_err().to_string();
    assert!(err.contains("4097 distinct networks"), "{err}");
    let wide = Isolation {
        members: vec![Member {
            address: addr(0),
            networks: (0..=MAX_MEMBER_NETWORKS).map(|i| format!("n{i}")).collect(),
        }],
        pods: Vec::new(),
        nodes: Vec::new(),
    };
    let err = wide.check().unwrap_err().to_string();
    assert!(err.contains("member 10.0.0.1: 65 networks"), "{err}");
    assert!(example().check().is_ok());
    assert!(Isolation::default().check().is_ok());
}

/// Records what would be done to the kernel; fails nft on demand.
#[derive(Default)]
struct Fake {
    calls: RefCell<Vec<String>>,
    fail_nft: Cell<bool>,
}

impl Firewall for Fake {
    fn nft(&self, script: &str) -> Result<(), NetworkError> {
        self.calls.borrow_mut().push(script.to_string());
        if self.fail_nft.get() {
            return Err(NetworkError::Nft {
                message: "refused".into(),
            });
        }
        Ok(())
    }

    fn route_localnet(&self, _bridge: &str, _on: bool) -> Result<(), NetworkError> {
        Ok(())
    }

    fn probe(&self, _m: &PortMapping) -> Result<(), PortError> {
        Ok(())
    }
}

/// What `set_isolation` does once the list is checked and the bridge is there.
fn set_with(store: &Store, iso: &Isolation, fw: &Fake) -> Result<(), NetworkError> {
    let opts = NetworkOptions::default();
    let prev = store
        .load()
        .unwrap()
        .unwrap_or_else(|| State::new(Ipam::new(opts.subnet).unwrap()));
    let mut next = prev.clone();
    replace(&mut next, &opts, iso);
    save_synced(store, &prev, &next, fw)
}

#[test]
fn set_renders_with_the_rest_forgets_on_empty_and_a_refusal_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    std::fs::create_dir_all(&store.dir).unwrap();
    let fw = Fake::default();
    set_with(&store, &example(), &fw).unwrap();
    let calls = std::mem::take(&mut *fw.calls.borrow_mut());
    assert_eq!(calls.len(), 1);
    let table = Table {
        bridge: "skiff0".into(),
        subnet: "10.87.0.0/16".parse().unwrap(),
        masquerade: false,
    };
    assert_eq!(
        calls[0],
        ports::render(&table, &[], &[], &[]) + &render(&example(), &[], &BTreeMap::new())
    );
    let saved = store.load().unwrap().unwrap();
    assert_eq!(saved.isolation, example().normalized());
    assert_eq!(saved.table, Some(table));

    // The same list in another order: nothing to do.
    let mut reversed = example();
    reversed.members.reverse();
    set_with(&store, &reversed, &fw).unwrap();
    assert!(fw.calls.borrow().is_empty());

    // nft refuses: the file keeps the last list.
    let before = std::fs::read(store.path()).unwrap();
    fw.fail_nft.set(true);
    let other = Isolation {
        members: vec![member("10.87.0.2", &["dev/z"])],
        pods: Vec::new(),
        nodes: Vec::new(),
    };
    assert!(set_with(&store, &other, &fw).is_err());
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
    fw.fail_nft.set(false);
    std::mem::take(&mut *fw.calls.borrow_mut());

    // Empty: nothing else needs the tables, both go.
    set_with(&store, &Isolation::default(), &fw).unwrap();
    assert_eq!(*fw.calls.borrow(), vec![ports::removal()]);
    let saved = store.load().unwrap().unwrap();
    assert!(saved.isolation.is_empty() && saved.table.is_none());
    let text = std::fs::read_to_string(store.path()).unwrap();
    assert!(!text.contains("isolation"), "{text}");
}

#[test]
fn a_start_adds_the_ports_to_the_tables_the_kernel_has_or_fails_without_them() {
    assert_eq!(refresh(&Isolation::default(), &local()), None);
    assert_eq!(
        refresh(&example(), &local()).unwrap(),
        "add element ip skiff iso_members { 10.87.0.5 }
add element bridge skiff iso_members { 10.87.0.5 }
add element bridge skiff iso_ports { \"sk1a2b3c4d*\" . 10.87.0.2, \"ska0b1c2d3*\" . 10.87.0.3, \"skffee0011*\" . 10.87.0.4 }
"
    );
    // No container on the node: only the check that the tables are there.
    assert_eq!(
        refresh(&example().normalized(), &BTreeMap::new()).unwrap(),
        "add element ip skiff iso_members { 10.87.0.2 }\nadd element bridge skiff iso_members { 10.87.0.2 }\n"
    );
}

#[test]
fn pod_addresses_that_are_not_members_are_on_no_network() {
    let mut iso = example();
    iso.pods = vec![
        "10.87.0.0/16".parse().unwrap(),
        "10.88.0.0/16".parse().unwrap(),
    ];
    let ip = |t: &str| t.parse::<Ipv4Addr>().unwrap();
    // 10.87.0.9 is a container of another environment (or not yet listed): kept apart from
    // members both ways, free with other non-members; addresses outside the pods stay free.
    assert!(!iso.allows(ip("10.87.0.9"), ip("10.87.0.2")));
    assert!(!iso.allows(ip("10.87.0.2"), ip("10.87.0.9")));
    assert!(iso.allows(ip("10.87.0.9"), ip("10.88.0.9")));
    assert!(iso.allows(ip("10.0.0.1"), ip("10.87.0.2")));
    assert!(iso.allows(ip("10.87.0.2"), ip("10.0.0.1")));
    assert!(iso.allows(ip("10.87.0.2"), ip("10.87.0.3")));
    // A node's own addresses in the ranges are the node's, not a container's.
    iso.nodes = vec![ip("10.88.0.0"), ip("10.88.0.1")];
    assert!(iso.allows(ip("10.88.0.0"), ip("10.87.0.2")));
    assert!(iso.allows(ip("10.87.0.2"), ip("10.88.0.1")));
    let got = render(&iso, &[], &local());
    for want in [
        "elements = { 10.87.0.0/16, 10.88.0.0/16 }",
        "ip daddr != @iso_members ip daddr != @iso_pods accept",
        "ip saddr @iso_pods meta l4proto tcp reject with tcp reset",
        "\tset iso_nodes {\n\t\ttype ipv4_addr\n\t\telements = { 10.88.0.0, 10.88.0.1 }\n\t}\n",
        "ip saddr @iso_nodes accept",
        "meta pkttype != host ip daddr @iso_members ip saddr @iso_pods drop",
    ] {
        assert!(got.contains(want), "missing {want:?} in\n{got}");
    }
    // Without pods, the set is empty: the rules match nothing.
    let none = render(&example(), &[], &local());
    assert!(none.contains("\tset iso_pods {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n"));
}
