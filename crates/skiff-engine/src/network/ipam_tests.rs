use super::*;

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn the_first_host_is_the_gateway_and_containers_get_the_rest_in_turn() {
    let mut ipam = Ipam::new(net("10.1.0.0/29")).unwrap();
    assert_eq!(ipam.gateway(), ip("10.1.0.1"));
    assert_eq!(ipam.capacity(), 5);
    let got: Vec<_> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|o| ipam.allocate(o, |_| true).unwrap())
        .collect();
    assert_eq!(
        got,
        ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"].map(ip)
    );
}

#[test]
fn an_owner_keeps_its_address() {
    let mut ipam = Ipam::new(net("10.1.0.0/24")).unwrap();
    let a = ipam.allocate("a", |_| true).unwrap();
    assert_eq!(ipam.allocate("a", |_| true).unwrap(), a);
    assert_eq!(ipam.allocated.len(), 1);
}

#[test]
fn a_released_address_is_reused_last() {
    let mut ipam = Ipam::new(net("10.1.0.0/29")).unwrap();
    for o in ["a", "b", "c"] {
        ipam.allocate(o, |_| true).unwrap();
    }
    assert_eq!(ipam.release("a"), Some(ip("10.1.0.2")));
    assert_eq!(ipam.release("a"), None);
    // .5 and .6 come before the released .2.
    assert_eq!(ipam.allocate("d", |_| true).unwrap(), ip("10.1.0.5"));
    assert_eq!(ipam.allocate("e", |_| true).unwrap(), ip("10.1.0.6"));
    assert_eq!(ipam.allocate("f", |_| true).unwrap(), ip("10.1.0.2"));
}

#[test]
fn exhaustion_is_an_error_naming_the_subnet() {
    let mut ipam = Ipam::new(net("10.1.0.0/30")).unwrap();
    ipam.allocate("a", |_| true).unwrap();
    let e = ipam.allocate("b", |_| true).unwrap_err();
    assert_eq!(
        e,
        IpamError::Exhausted {
            subnet: net("10.1.0.0/30"),
            count: 1
        }
    );
    assert!(e.to_string().contains("10.1.0.0/30 is exhausted"), "{e}");
    assert_eq!(ipam.allocated.len(), 1);
}

#[test]
fn allocations_of_owners_that_are_gone_are_reclaimed_only_when_full() {
    let mut ipam = Ipam::new(net("10.1.0.0/29")).unwrap();
    for o in ["a", "b", "c", "d", "e"] {
        ipam.allocate(o, |_| true).unwrap();
    }
    // "c" is gone (its container directory vanished without a release).
    let got = ipam.allocate("f", |o| o != "c").unwrap();
    assert_eq!(got, ip("10.1.0.4"));
    assert_eq!(ipam.allocated.len(), 5);
    assert!(ipam.address_of("c").is_none());
}

#[test]
fn never_hands_out_an_address_twice() {
    let mut ipam = Ipam::new(net("10.2.0.0/26")).unwrap();
    let mut held = std::collections::BTreeMap::new();
    // A deterministic mix of allocations and releases.
    let mut seed = 7u64;
    for i in 0..2000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if seed >> 62 == 0 && !held.is_empty() {
            let owner: String = held
                .keys()
                .nth((seed as usize) % held.len())
                .cloned()
                .unwrap();
            let ip = held.remove(&owner).unwrap();
            assert_eq!(ipam.release(&owner), Some(ip));
        } else {
            let owner = format!("c{i}");
            match ipam.allocate(&owner, |_| true) {
                Ok(ip) => {
                    assert!(!held.values().any(|h| *h == ip), "{ip} handed out twice");
                    assert!(ip != ipam.gateway());
                    assert!(ipam.subnet.contains(&ip));
                    held.insert(owner, ip);
                }
                Err(IpamError::Exhausted { .. }) => assert_eq!(held.len() as u64, ipam.capacity()),
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn bad_subnets_are_refused_with_a_hint() {
    let e = Ipam::new(net("10.1.0.5/24")).unwrap_err();
    assert!(e.to_string().contains("did you mean 10.1.0.0/24"), "{e}");
    assert!(matches!(
        Ipam::new(net("10.1.0.0/31")),
        Err(IpamError::BadPrefix { .. })
    ));
    assert!(matches!(
        Ipam::new(net("10.0.0.0/7")),
        Err(IpamError::BadPrefix { .. })
    ));
}

#[test]
fn the_state_round_trips_through_json() {
    let mut ipam = Ipam::new(net("10.1.0.0/24")).unwrap();
    ipam.allocate("a", |_| true).unwrap();
    let text = serde_json::to_string(&ipam).unwrap();
    let back: Ipam = serde_json::from_str(&text).unwrap();
    assert_eq!(back, ipam);
}

#[test]
fn reconcile_drops_the_gone_and_takes_what_records_hold() {
    let mut ipam = Ipam::new(net("10.1.0.0/24")).unwrap();
    for o in ["a", "b", "c"] {
        ipam.allocate(o, |_| true).unwrap();
    }
    // The table lost d's allocation and still has b's, whose container is gone; a record
    // outside the subnet (or the gateway's address) is not taken.
    ipam.reconcile(
        |o| o != "b",
        [
            ("a".to_string(), ip("10.1.0.2")),
            ("d".to_string(), ip("10.1.0.9")),
            ("e".to_string(), ip("10.2.0.5")),
            ("f".to_string(), ip("10.1.0.1")),
        ],
    );
    let owners: Vec<(Ipv4Addr, &str)> = ipam
        .allocated
        .iter()
        .map(|(ip, o)| (*ip, o.as_str()))
        .collect();
    assert_eq!(
        owners,
        [
            (ip("10.1.0.2"), "a"),
            (ip("10.1.0.4"), "c"),
            (ip("10.1.0.9"), "d")
        ]
    );
    // Handing out goes on after the last one, around d's.
    assert_eq!(ipam.allocate("g", |_| true).unwrap(), ip("10.1.0.5"));
}

#[test]
fn reconcile_gives_an_owner_the_address_its_record_has() {
    let mut ipam = Ipam::new(net("10.1.0.0/24")).unwrap();
    ipam.allocate("a", |_| true).unwrap();
    ipam.reconcile(|_| true, [("a".to_string(), ip("10.1.0.7"))]);
    assert_eq!(ipam.address_of("a"), Some(ip("10.1.0.7")));
    assert_eq!(ipam.allocated.len(), 1);
}
