//! The overlay's decisions, as data: validation, the device asked for, and the changes from
//! what the kernel holds to what the list asks for.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::plan::{
    plan, removal, Actual, Change, Desired, DeviceSpec, DeviceState, Entries, Fdb, Neighbour,
    Route, RouteDev,
};
use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn peer(s: &str) -> Peer {
    s.parse().unwrap()
}

fn overlay(local: &str, peers: &[&str]) -> Overlay {
    Overlay {
        peers: peers.iter().map(|p| peer(p)).collect(),
        ..Overlay::new(ip(local))
    }
}

const LOCAL_SUBNET: &str = "10.1.1.0/24";

fn opts() -> NetworkOptions {
    NetworkOptions {
        subnet: net(LOCAL_SUBNET),
        ..NetworkOptions::default()
    }
}

/// A node with eth0 (index 2, 10.0.0.1/24, MTU 1500) and its connected route.
fn facts() -> NodeFacts {
    NodeFacts {
        addresses: vec![
            NodeAddress {
                address: net("127.0.0.1/8"),
                link: 1,
                mtu: 65536,
            },
            NodeAddress {
                address: net("10.0.0.1/24"),
                link: 2,
                mtu: 1500,
            },
        ],
        routes: vec![ForeignRoute {
            dest: net("10.0.0.0/24"),
            dev: "eth0".into(),
            connected: true,
        }],
        bridge: None,
    }
}

#[test]
fn peers_parse_from_address_equals_subnet_and_print_back() {
    let p = peer("10.0.0.2=10.1.2.0/24");
    assert_eq!(p.address, ip("10.0.0.2"));
    assert_eq!(p.subnet, net("10.1.2.0/24"));
    assert_eq!(p.to_string(), "10.0.0.2=10.1.2.0/24");
    for bad in [
        "10.0.0.2",
        "10.0.0.2=",
        "x=10.1.2.0/24",
        "10.0.0.2=10.1.2.0",
    ] {
        let e = bad.parse::<Peer>().unwrap_err().to_string();
        assert!(e.contains(&format!("{bad:?}")), "{e}");
        assert!(e.contains("ADDRESS=SUBNET"), "{e}");
    }
}

#[test]
fn the_vtep_is_derived_from_the_subnet_alone() {
    assert_eq!(
        vtep_mac(net("10.1.2.0/24")).to_string(),
        "0e:73:0a:01:02:00"
    );
    assert_eq!(vtep_address(net("10.1.2.0/24")), ip("10.1.2.0"));
    // Locally administered, unicast.
    let first = vtep_mac(net("10.1.2.0/24")).0[0];
    assert_eq!(first & 0b11, 0b10);
    assert_ne!(vtep_mac(net("10.1.2.0/24")), vtep_mac(net("10.1.3.0/24")));
}

#[test]
fn a_good_list_passes() {
    let o = overlay(
        "10.0.0.1",
        &["10.0.0.2=10.1.2.0/24", "10.0.0.3=10.1.3.0/24"],
    );
    validate(&o, net(LOCAL_SUBNET)).unwrap();
    validate(&overlay("10.0.0.1", &[]), net(LOCAL_SUBNET)).unwrap();
}

#[test]
fn bad_lists_are_refused_naming_the_peer() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["10.0.0.2=10.1.1.0/24"],
            "peer 10.0.0.2=10.1.1.0/24 (--peer): its subnet overlaps this node's subnet 10.1.1.0/24",
        ),
        (
            &["10.0.0.2=10.1.0.0/16"],
            "peer 10.0.0.2=10.1.0.0/16 (--peer): its subnet overlaps this node's subnet",
        ),
        (
            &["10.0.0.2=10.1.2.0/24", "10.0.0.3=10.1.2.128/25"],
            "peer 10.0.0.3=10.1.2.128/25 (--peer): its subnet overlaps that of peer 10.0.0.2=10.1.2.0/24",
        ),
        (
            &["10.0.0.2=10.1.2.0/24", "10.0.0.2=10.1.3.0/24"],
            "peer 10.0.0.2=10.1.3.0/24 (--peer): address 10.0.0.2 is listed twice (also as 10.0.0.2=10.1.2.0/24)",
        ),
        (
            &["10.0.0.1=10.1.2.0/24"],
            "peer 10.0.0.1=10.1.2.0/24 (--peer): 10.0.0.1 is this node's own address (--local)",
        ),
        (
            &["10.0.0.2=10.1.2.5/24"],
            "subnet 10.1.2.5/24 has host bits set; did you mean 10.1.2.0/24?",
        ),
        (&["10.0.0.2=10.1.2.0/31"], "must have a prefix between /8 and /30"),
        (&["0.0.0.0=10.1.2.0/24"], "0.0.0.0 is not a unicast address"),
        (&["224.0.0.1=10.1.2.0/24"], "224.0.0.1 is not a unicast address"),
        (
            &["10.1.3.7=10.1.2.0/24", "10.0.0.3=10.1.3.0/24"],
            "peer 10.1.3.7=10.1.2.0/24 (--peer): its address 10.1.3.7 is inside the container subnet 10.1.3.0/24",
        ),
    ];
    for (peers, want) in cases {
        let e = validate(&overlay("10.0.0.1", peers), net(LOCAL_SUBNET))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{peers:?}: {e}");
    }
    let mut o = overlay("10.0.0.1", &[]);
    o.vni = 0;
    assert!(validate(&o, net(LOCAL_SUBNET))
        .unwrap_err()
        .to_string()
        .contains("vni 0 (--vni)"));
    o.vni = MAX_VNI + 1;
    assert!(validate(&o, net(LOCAL_SUBNET)).is_err());
    o.vni = 1;
    o.port = 0;
    assert!(validate(&o, net(LOCAL_SUBNET))
        .unwrap_err()
        .to_string()
        .contains("port 0 (--port)"));
    let e = validate(&overlay("127.0.0.1", &[]), net(LOCAL_SUBNET)).unwrap_err();
    assert!(
        e.to_string().contains("local address 127.0.0.1 (--local)"),
        "{e}"
    );
}

#[test]
fn the_device_takes_the_underlay_link_and_the_smaller_mtu() {
    let o = overlay("10.0.0.1", &["10.0.0.2=10.1.2.0/24"]);
    let spec = device_for(&o, &opts(), &facts()).unwrap();
    assert_eq!(
        spec,
        DeviceSpec {
            vni: 1,
            port: 4789,
            local: ip("10.0.0.1"),
            underlay: 2,
            // No bridge yet: the MTU a bridge will be made with (1450), which fits.
            mtu: 1450,
            mac: vtep_mac(net(LOCAL_SUBNET)),
            address: net("10.1.1.0/32"),
        }
    );
    // A bridge with a larger MTU than the underlay carries: capped at underlay - 50.
    let mut f = facts();
    f.bridge = Some(BridgeFacts {
        name: "skiff0".into(),
        mtu: 1500,
        addresses: vec![net("10.1.1.1/24")],
    });
    assert_eq!(device_for(&o, &opts(), &f).unwrap().mtu, 1450);
    // A jumbo underlay: the bridge's.
    f.addresses[1].mtu = 9000;
    assert_eq!(device_for(&o, &opts(), &f).unwrap().mtu, 1500);
}

#[test]
fn the_node_refuses_a_foreign_local_address_a_taken_subnet_and_a_wrong_bridge() {
    let e = device_for(&overlay("10.0.0.9", &[]), &opts(), &facts()).unwrap_err();
    assert_eq!(
        e,
        OverlayError::LocalNotOnNode {
            local: ip("10.0.0.9")
        }
    );
    assert!(e
        .to_string()
        .contains("10.0.0.9 (--local) is not an address of this node"));

    let mut f = facts();
    f.routes.push(ForeignRoute {
        dest: net("10.1.2.0/24"),
        dev: "eth1".into(),
        connected: false,
    });
    f.routes.push(ForeignRoute {
        dest: net("10.0.0.0/8"),
        dev: "eth0".into(),
        connected: false,
    });
    let e = device_for(&overlay("10.0.0.1", &["10.0.0.2=10.1.2.0/24"]), &opts(), &f)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("peer 10.0.0.2=10.1.2.0/24 (--peer): its subnet overlaps the route to 10.1.2.0/24 on eth1"),
        "{e}"
    );
    // Inside a broader route through a router: fine (the more specific route wins).
    device_for(&overlay("10.0.0.1", &["10.0.0.2=10.1.3.0/24"]), &opts(), &f).unwrap();
    // Over a link's own subnet: refused.
    let e = device_for(
        &overlay("10.0.0.1", &["10.0.0.2=10.0.0.128/25"]),
        &opts(),
        &facts(),
    );
    assert!(e.unwrap_err().to_string().contains("on eth0"));

    let mut f = facts();
    f.bridge = Some(BridgeFacts {
        name: "skiff0".into(),
        mtu: 1450,
        addresses: vec![net("10.87.0.1/16")],
    });
    let e = device_for(&overlay("10.0.0.1", &[]), &opts(), &f).unwrap_err();
    assert!(
        e.to_string()
            .contains("bridge skiff0 has address 10.87.0.1/16"),
        "{e}"
    );
}

fn spec() -> DeviceSpec {
    device_for(&overlay("10.0.0.1", &[]), &opts(), &facts()).unwrap()
}

/// The device as the kernel reports one made from `spec()`.
fn made() -> DeviceState {
    let s = spec();
    DeviceState {
        index: 7,
        kind: "vxlan".into(),
        vni: Some(s.vni),
        port: Some(s.port),
        local: Some(s.local),
        underlay: Some(s.underlay),
        learning: Some(false),
        udp_csum: Some(false),
        remote: None,
        mtu: s.mtu,
        mac: Some(s.mac),
        up: true,
        addresses: vec![s.address],
    }
}

fn desired(peers: &[&str]) -> Desired {
    let peers: Vec<Peer> = peers.iter().map(|p| peer(p)).collect();
    Desired {
        device: spec(),
        entries: Entries::for_peers(&peers),
    }
}

/// The kernel holding exactly `peers` on a device made from `spec()`.
fn holding(peers: &[&str]) -> Actual {
    Actual {
        device: Some(made()),
        entries: desired(peers).entries,
    }
}

const B: &str = "10.0.0.2=10.1.2.0/24";
const C: &str = "10.0.0.3=10.1.3.0/24";

fn mac_of(subnet: &str) -> Mac {
    vtep_mac(net(subnet))
}

#[test]
fn a_fresh_node_gets_the_device_then_per_peer_fdb_neighbour_route() {
    let changes = plan(&desired(&[B]), &Actual::default()).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::CreateDevice(spec()),
            Change::AddAddress(net("10.1.1.0/32")),
            Change::SetUp,
            Change::SetFdb {
                mac: mac_of("10.1.2.0/24"),
                remote: ip("10.0.0.2"),
            },
            Change::SetNeighbour(Neighbour {
                ip: ip("10.1.2.0"),
                mac: mac_of("10.1.2.0/24"),
            }),
            Change::SetRoute {
                subnet: net("10.1.2.0/24"),
                via: ip("10.1.2.0"),
            },
        ]
    );
}

#[test]
fn a_kernel_that_matches_needs_nothing() {
    assert_eq!(plan(&desired(&[B, C]), &holding(&[B, C])).unwrap(), vec![]);
    assert_eq!(plan(&desired(&[]), &holding(&[])).unwrap(), vec![]);
}

#[test]
fn an_added_peer_gets_its_entries_and_nothing_else_changes() {
    assert_eq!(
        plan(&desired(&[B, C]), &holding(&[B])).unwrap(),
        vec![
            Change::SetFdb {
                mac: mac_of("10.1.3.0/24"),
                remote: ip("10.0.0.3"),
            },
            Change::SetNeighbour(Neighbour {
                ip: ip("10.1.3.0"),
                mac: mac_of("10.1.3.0/24"),
            }),
            Change::SetRoute {
                subnet: net("10.1.3.0/24"),
                via: ip("10.1.3.0"),
            },
        ]
    );
}

#[test]
fn a_removed_peer_loses_route_then_neighbour_then_fdb() {
    assert_eq!(
        plan(&desired(&[C]), &holding(&[B, C])).unwrap(),
        vec![
            Change::DelRoute(Route {
                subnet: net("10.1.2.0/24"),
                via: Some(ip("10.1.2.0")),
                dev: RouteDev::Overlay,
            }),
            Change::DelNeighbour(ip("10.1.2.0")),
            Change::DelFdb(Fdb {
                mac: mac_of("10.1.2.0/24"),
                remote: None,
            }),
        ]
    );
}

#[test]
fn a_peer_whose_address_changed_has_only_its_fdb_entry_replaced() {
    assert_eq!(
        plan(&desired(&["10.0.0.12=10.1.2.0/24", C]), &holding(&[B, C])).unwrap(),
        vec![Change::SetFdb {
            mac: mac_of("10.1.2.0/24"),
            remote: ip("10.0.0.12"),
        }]
    );
}

#[test]
fn extra_remotes_of_a_wanted_address_are_deleted() {
    let mac = mac_of("10.1.2.0/24");
    let extra = |remote: &str| Fdb {
        mac,
        remote: Some(ip(remote)),
    };
    // The wanted remote is there among others: no replace, the others go.
    let mut actual = holding(&[B]);
    actual.entries.fdb.insert(0, extra("10.0.0.50"));
    actual.entries.fdb.push(extra("10.0.0.51"));
    assert_eq!(
        plan(&desired(&[B]), &actual).unwrap(),
        vec![
            Change::DelFdb(extra("10.0.0.50")),
            Change::DelFdb(extra("10.0.0.51")),
        ]
    );
    // It is not: the replace takes the first, the rest go.
    let mut actual = holding(&[]);
    actual.entries.fdb = vec![extra("10.0.0.50"), extra("10.0.0.51")];
    actual.entries.neighbours = desired(&[B]).entries.neighbours;
    actual.entries.routes = desired(&[B]).entries.routes;
    assert_eq!(
        plan(&desired(&[B]), &actual).unwrap(),
        vec![
            Change::SetFdb {
                mac,
                remote: ip("10.0.0.2"),
            },
            Change::DelFdb(extra("10.0.0.51")),
        ]
    );
}

#[test]
fn a_wrong_neighbour_is_replaced_and_a_stray_one_deleted() {
    let mut actual = holding(&[B]);
    actual.entries.neighbours[0].mac = Mac([0x0e, 0x73, 0, 0, 0, 1]);
    actual.entries.neighbours.push(Neighbour {
        ip: ip("10.9.9.0"),
        mac: Mac([0x0e, 0x73, 0, 0, 0, 2]),
    });
    assert_eq!(
        plan(&desired(&[B]), &actual).unwrap(),
        vec![
            Change::SetNeighbour(desired(&[B]).entries.neighbours[0]),
            Change::DelNeighbour(ip("10.9.9.0")),
        ]
    );
}

#[test]
fn a_route_of_skiffs_elsewhere_is_deleted_and_made_on_the_device() {
    let mut actual = holding(&[B]);
    actual.entries.routes[0].dev = RouteDev::Other(3);
    let stray = actual.entries.routes[0];
    assert_eq!(
        plan(&desired(&[B]), &actual).unwrap(),
        vec![
            Change::DelRoute(stray),
            Change::SetRoute {
                subnet: net("10.1.2.0/24"),
                via: ip("10.1.2.0"),
            },
        ]
    );
}

#[test]
fn device_settings_are_fixed_in_place_when_they_can_be() {
    let mut actual = holding(&[B]);
    let d = actual.device.as_mut().unwrap();
    d.mtu = 1400;
    d.up = false;
    d.addresses = vec![net("10.1.9.0/32")];
    assert_eq!(
        plan(&desired(&[B]), &actual).unwrap(),
        vec![
            Change::SetMtu(1450),
            Change::DelAddress(net("10.1.9.0/32")),
            Change::AddAddress(net("10.1.1.0/32")),
            Change::SetUp,
        ]
    );
}

#[test]
fn a_device_with_another_vni_port_or_local_address_is_made_again_with_all_entries() {
    for change in [
        |d: &mut DeviceState| d.vni = Some(2),
        |d: &mut DeviceState| d.port = Some(8472),
        |d: &mut DeviceState| d.local = Some("10.0.0.9".parse().unwrap()),
        |d: &mut DeviceState| d.learning = Some(true),
        |d: &mut DeviceState| d.udp_csum = Some(true),
        |d: &mut DeviceState| d.mac = Some(Mac([0x0e, 0x73, 10, 1, 9, 0])),
    ] {
        let mut actual = holding(&[B]);
        change(actual.device.as_mut().unwrap());
        let changes = plan(&desired(&[B]), &actual).unwrap();
        assert_eq!(changes[0], Change::DeleteDevice { index: 7 });
        assert_eq!(changes[1], Change::CreateDevice(spec()));
        // The entries went with the old device: all made again.
        assert_eq!(
            changes[2..],
            plan(&desired(&[B]), &Actual::default()).unwrap()[1..]
        );
    }
}

#[test]
fn a_device_of_another_kind_is_not_taken_over() {
    let mut actual = holding(&[]);
    actual.device.as_mut().unwrap().kind = "bridge".into();
    let e = plan(&desired(&[B]), &actual).unwrap_err();
    assert!(
        e.to_string()
            .contains("a bridge device named skiff.vxlan exists"),
        "{e}"
    );
    assert!(removal(&actual).is_err());
}

#[test]
fn removal_deletes_the_device_and_skiffs_routes_elsewhere() {
    let mut actual = holding(&[B]);
    assert_eq!(
        removal(&actual).unwrap(),
        vec![Change::DeleteDevice { index: 7 }]
    );
    let stray = Route {
        subnet: net("10.1.5.0/24"),
        via: Some(ip("10.1.5.0")),
        dev: RouteDev::Other(3),
    };
    actual.entries.routes.push(stray);
    assert_eq!(
        removal(&actual).unwrap(),
        vec![Change::DelRoute(stray), Change::DeleteDevice { index: 7 }]
    );
    assert_eq!(removal(&Actual::default()).unwrap(), vec![]);
}

#[test]
fn the_kernels_entries_read_back_as_peers() {
    let mut entries = desired(&[B, C]).entries;
    let peers = entries.peers();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0].subnet, net("10.1.2.0/24"));
    assert_eq!(peers[0].vtep, Some(ip("10.1.2.0")));
    assert_eq!(peers[0].mac, Some(mac_of("10.1.2.0/24")));
    assert_eq!(peers[0].address, Some(ip("10.0.0.2")));
    // A route whose neighbour entry is missing reads as incomplete.
    entries.neighbours.remove(1);
    let peers = entries.peers();
    assert_eq!(peers[1].mac, None);
    assert_eq!(peers[1].address, None);
}
