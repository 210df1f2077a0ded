//! The bridge network when things are not as expected, on test hosts made of network
//! namespaces (see `support/netns.rs`): each refusal gives a clear error and leaves nothing
//! behind (no container directory, no address allocation, no link), and the network holds
//! over restarts, a deleted bridge and a killed shim.

mod support;

use std::collections::BTreeMap;

use support::id_of;
use support::netns::{eventually, TestHost, TestNet};

/// The address allocations in `<data>/network/state.json` (address → owner); none when the
/// file does not exist.
fn allocations(host: &TestHost) -> BTreeMap<String, String> {
    let path = host.engine.data().join("network/state.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            serde_json::from_value(v["ipam"]["allocated"].clone()).unwrap()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The host ends of containers' veth pairs (`sk` + 8 characters of an id + 4 random ones).
fn veths(host: &TestHost) -> Vec<String> {
    host.links()
        .into_iter()
        .filter(|l| l.len() == 14 && l.starts_with("sk"))
        .collect()
}

/// Runs `skiff container create` with `args` (flags, then the image and command), insisting
/// on failure; returns the error text.
fn create_fails(host: &TestHost, args: &[&str]) -> String {
    let mut all = vec!["container", "create", "--network", "bridge"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["test:latest", "true"]);
    host.engine.fails(&all)
}

/// Checks that a refused command left nothing: no container directory, no allocation, and
/// the host's links as they were.
fn assert_nothing_left(host: &TestHost, links_before: &[String]) {
    assert_eq!(host.engine.container_dirs(), Vec::<String>::new());
    assert_eq!(allocations(host), BTreeMap::new());
    assert_eq!(host.links(), links_before);
}

/// Runs a web server in a bridge container; returns its id and address.
fn web(host: &TestHost, body: &str) -> (String, String) {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let id = id_of(&host.engine.ok(&[
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "test:latest",
        "sh",
        "-c",
        &script,
    ]));
    let ip = host.ip_of(&id);
    (id, ip)
}

/// Fetches `http://IP/` from the host (busybox nc: busybox's wget crashes here) until it
/// answers with `body`, for up to 5 s.
fn assert_serves(host: &TestHost, ip: &str, body: &str) {
    let get = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {ip} 80");
    eventually(|| {
        let out = host.sh(&get);
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains(body) {
            Ok(())
        } else {
            Err(format!("http://{ip}/ answered {text:?}"))
        }
    });
}

#[test]
fn a_bridge_name_taken_by_another_kind_of_device_is_refused() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    // (A veth: this kernel has no dummy driver.)
    host.sh_ok("ip link add skiff0 type veth peer name skiff0peer");
    let links = host.links();
    let err = host.engine.fails(&[
        "container",
        "run",
        "--rm",
        "--network",
        "bridge",
        "test:latest",
        "true",
    ]);
    assert!(
        err.contains("bridge skiff0: a veth device of that name exists"),
        "{err}"
    );
    assert!(err.contains("--bridge"), "{err}");
    assert_nothing_left(host, &links);
    // The device is as it was.
    let veth = host.sh_ok("ip -d link show skiff0");
    assert!(veth.contains("veth"), "{veth}");
}

#[test]
fn an_existing_bridge_with_another_address_is_refused_and_left_alone() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    host.sh_ok("ip link add skiff0 type bridge && ip addr add 10.50.0.1/24 dev skiff0");
    let links = host.links();
    let err = create_fails(host, &[]);
    assert!(
        err.contains("bridge skiff0 has address 10.50.0.1/24, not 10.87.0.1/16"),
        "{err}"
    );
    assert!(err.contains("--subnet"), "{err}");
    assert_nothing_left(host, &links);
    let addrs = host.sh_ok("ip -o -4 addr show dev skiff0");
    assert_eq!(addrs.lines().count(), 1, "{addrs}");
    assert!(addrs.contains("10.50.0.1/24"), "{addrs}");
    // Given the subnet it serves, the engine uses it.
    let out = host.engine.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "bridge",
        "--subnet",
        "10.50.0.0/24",
        "test:latest",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains("inet 10.50.0.2/24"), "{out}");
}

#[test]
fn a_subnet_that_overlaps_a_route_of_another_link_is_refused() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    // eth0 has 10.0.0.1/24; and a route to 10.70.0.0/16 through a router on it.
    host.sh_ok("ip route add 10.70.0.0/16 via 10.0.0.254");
    let links = host.links();
    let err = create_fails(host, &["--subnet", "10.0.0.0/16"]);
    assert!(
        err.contains("subnet 10.0.0.0/16 overlaps the route to 10.0.0.0/24 on eth0"),
        "{err}"
    );
    assert!(err.contains("--subnet"), "{err}");
    assert_nothing_left(host, &links);
    let err = create_fails(host, &["--subnet", "10.70.1.0/24"]);
    assert!(
        err.contains("subnet 10.70.1.0/24 overlaps the route to 10.70.0.0/16 on eth0"),
        "{err}"
    );
    assert_nothing_left(host, &links);
}

#[test]
fn an_exhausted_subnet_refuses_the_next_container_naming_the_subnet() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let subnet = ["--subnet", "10.9.0.0/30"];
    let mut args = vec!["container", "create", "--network", "bridge"];
    args.extend_from_slice(&subnet);
    args.extend_from_slice(&["test:latest", "true"]);
    let first = id_of(&host.engine.ok(&args));
    assert_eq!(host.ip_of(&first), "10.9.0.2");
    let links = host.links();
    let err = create_fails(host, &subnet);
    assert!(err.contains("subnet 10.9.0.0/30 is exhausted"), "{err}");
    // Only the first container, and its address.
    assert_eq!(host.engine.container_dirs(), vec![first.clone()]);
    assert_eq!(
        allocations(host),
        BTreeMap::from([("10.9.0.2".to_string(), first.clone())])
    );
    assert_eq!(host.links(), links);
    // Once it is removed, its address is free again.
    host.engine.ok(&["container", "rm", &first]);
    let second = id_of(&host.engine.ok(&args));
    assert_eq!(host.ip_of(&second), "10.9.0.2");
}

#[test]
fn addresses_are_handed_out_in_turn_across_engine_commands() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let create = || {
        let id = id_of(&host.engine.ok(&[
            "container",
            "create",
            "--network",
            "bridge",
            "test:latest",
            "true",
        ]));
        let ip = host.ip_of(&id);
        (id, ip)
    };
    let (a, ip_a) = create();
    let (_b, ip_b) = create();
    assert_eq!((ip_a.as_str(), ip_b.as_str()), ("10.87.0.2", "10.87.0.3"));
    host.engine.ok(&["container", "rm", &a]);
    let (c, ip_c) = create();
    assert_ne!(
        ip_c, ip_a,
        "a released address was handed out again at once"
    );
    assert_ne!(ip_c, ip_b, "an address was handed out twice");
    assert_eq!(ip_c, "10.87.0.4");
    // Not even the one handed out last, once released.
    host.engine.ok(&["container", "rm", &c]);
    let (_d, ip_d) = create();
    assert_eq!(ip_d, "10.87.0.5");
    assert_eq!(allocations(host).len(), 2);
}

#[test]
fn a_restarted_container_keeps_its_address_on_a_fresh_working_veth() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let (id, ip) = web(host, "first-run");
    assert_serves(host, &ip, "first-run");
    let before = veths(host);
    assert_eq!(before.len(), 1, "{:?}", host.links());
    let mac = |id: &str| {
        let out = host
            .engine
            .ok(&["container", "exec", id, "ip", "-o", "link", "show", "eth0"]);
        out.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no MAC address in {out}"))
            .to_string()
    };
    // From the address, so the node's ARP entry for it stays right over the restart.
    let mac_before = mac(&id);
    assert_eq!(mac_before, "02:73:0a:57:00:02");
    assert!(
        before[0].starts_with(&format!("sk{}", &id[..8])),
        "{before:?}"
    );
    host.engine.ok(&["container", "stop", "-t", "0", &id]);
    host.engine.ok(&["container", "start", &id]);
    assert_eq!(host.ip_of(&id), ip);
    // The old pair goes with the old namespace; the new one is another.
    eventually(|| match veths(host).as_slice() {
        [one] if *one != before[0] => Ok(()),
        other => Err(format!("veths {other:?}, before the restart {before:?}")),
    });
    assert_eq!(mac(&id), mac_before);
    assert_serves(host, &ip, "first-run");
    let inside = host.engine.ok(&[
        "container",
        "exec",
        &id,
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(inside.contains(&format!("inet {ip}/16")), "{inside}");
    let lo = host
        .engine
        .ok(&["container", "exec", &id, "ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains("LOOPBACK,UP"), "{lo}");
    assert_eq!(allocations(host).len(), 1);
}

#[test]
fn a_bridge_deleted_behind_the_engines_back_is_made_again_at_the_next_start() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let (id, ip) = web(host, "still-here");
    host.engine.ok(&["container", "stop", "-t", "0", &id]);
    host.sh_ok("ip link del skiff0");
    host.engine.ok(&["container", "start", &id]);
    let bridge = host.sh_ok("ip -o -4 addr show dev skiff0; ip -d link show skiff0");
    assert!(bridge.contains("10.87.0.1/16"), "{bridge}");
    assert!(bridge.contains("bridge"), "{bridge}");
    assert!(bridge.contains("mtu 1450"), "{bridge}");
    assert_serves(host, &ip, "still-here");
    // And a new container's create makes it too.
    host.engine.ok(&["container", "rm", "-f", &id]);
    host.sh_ok("ip link del skiff0");
    let (_, ip) = web(host, "made-at-create");
    assert_serves(host, &ip, "made-at-create");
}

#[test]
fn a_start_that_cannot_plug_the_container_fails_clearly_and_leaves_no_veth() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let id = id_of(&host.engine.ok(&[
        "container",
        "create",
        "--network",
        "bridge",
        "test:latest",
        "sleep",
        "60",
    ]));
    // Between create and start, the bridge's name goes to another kind of device.
    host.sh_ok("ip link del skiff0 && ip link add skiff0 type veth peer name skiff0peer");
    let links = host.links();
    let err = host.engine.fails(&["container", "start", &id]);
    assert!(
        err.contains("bridge skiff0: a veth device of that name exists"),
        "{err}"
    );
    assert_ne!(host.inspect(&id)["status"], "running");
    eventually(|| match veths(host).as_slice() {
        [] => Ok(()),
        left => Err(format!("veths left: {left:?}")),
    });
    assert_eq!(host.links(), links);
    // Once the name is the bridge's again, the container starts with its address.
    host.sh_ok("ip link del skiff0");
    host.engine.ok(&["container", "start", &id]);
    let inside = host.engine.ok(&[
        "container",
        "exec",
        &id,
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        inside.contains(&format!("inet {}/16", host.ip_of(&id))),
        "{inside}"
    );
}

/// The bridge's MAC address.
fn bridge_mac(host: &TestHost) -> String {
    // (Not /sys/class/net: sysfs shows the namespace it was mounted in.)
    let out = host.sh_ok("ip -o link show skiff0");
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC address in {out}"))
        .to_string()
}

#[test]
fn the_bridge_keeps_its_mac_address_as_containers_come_and_go() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let (a, _) = web(host, "a");
    // Its own, from the gateway's address, rather than the lowest of its ports'.
    let mac = bridge_mac(host);
    assert_eq!(mac, "02:73:0a:57:00:01");
    let mut others = Vec::new();
    for _ in 0..4 {
        let (id, _) = web(host, "other");
        assert_eq!(bridge_mac(host), mac);
        others.push(id);
    }
    for id in &others {
        host.engine.ok(&["container", "rm", "-f", id]);
        assert_eq!(bridge_mac(host), mac);
    }
    // So the first container still reaches its gateway at the address it learnt.
    host.engine.ok(&[
        "container",
        "exec",
        &a,
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "10.87.0.1",
    ]);
    // Made again after a deletion, it has the same address.
    host.engine.ok(&["container", "rm", "-f", &a]);
    host.sh_ok("ip link del skiff0");
    web(host, "again");
    assert_eq!(bridge_mac(host), mac);
}

#[test]
fn malformed_network_flags_are_refused_naming_the_flag() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let links = host.links();
    let long_name = "b".repeat(16);
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["--subnet", "10.0.0.5/24"],
            &["--subnet", "host bits are set", "10.0.0.0/24"],
        ),
        (&["--subnet", "nonsense"], &["--subnet", "nonsense"]),
        (&["--subnet", "10.0.0.0/31"], &["--subnet", "/30"]),
        (&["--bridge", &long_name], &["--bridge", "1 to 15"]),
        (&["--mtu", "10"], &["--mtu", "576"]),
    ];
    for (flags, wanted) in cases {
        let err = create_fails(host, flags);
        for w in wanted {
            assert!(err.contains(w), "{flags:?}: {w:?} not in {err}");
        }
        assert_nothing_left(host, &links);
    }
}

#[test]
fn a_container_whose_shim_was_killed_is_removable_and_leaves_no_veth() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let (id, ip) = web(host, "doomed");
    assert_serves(host, &ip, "doomed");
    let v = host.inspect(&id);
    for key in ["shim_pid", "pid"] {
        let pid = v["shim"][key].as_i64().unwrap() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    eventually(|| match host.inspect(&id)["status"].as_str() {
        Some("dead") | Some("exited") => Ok(()),
        other => Err(format!("status {other:?}")),
    });
    host.engine.ok(&["container", "rm", &id]);
    host.engine.assert_clean(&id);
    assert_eq!(allocations(host), BTreeMap::new());
    eventually(|| match veths(host).as_slice() {
        [] => Ok(()),
        left => Err(format!("veths left: {left:?}")),
    });
    // The network works for the next one.
    let (_, ip) = web(host, "next");
    assert_serves(host, &ip, "next");
}

#[test]
fn network_none_and_host_are_as_before() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let links = host.links();
    // none, also by default: loopback only, up.
    for flags in [&["--network", "none"][..], &[]] {
        let mut args = vec!["container", "run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["test:latest", "ip", "-o", "link"]);
        let out = host.engine.ok(&args);
        let names: Vec<&str> = out.lines().filter_map(|l| l.split(": ").nth(1)).collect();
        assert_eq!(names, ["lo"], "{out}");
    }
    // host: the node's own interfaces and address.
    let out = host.engine.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "host",
        "test:latest",
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(out.contains("eth0") && out.contains("10.0.0.1/24"), "{out}");
    // Neither makes a bridge, a veth or an allocation.
    assert_nothing_left(host, &links);
    assert!(!host.engine.data().join("network/state.json").exists());
}

#[test]
fn allocations_a_power_failure_lost_are_taken_back_from_the_records() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let create = || {
        let id = id_of(&host.engine.ok(&[
            "container",
            "create",
            "--network",
            "bridge",
            "test:latest",
            "true",
        ]));
        let ip = host.ip_of(&id);
        (id, ip)
    };
    let (a, ip_a) = create();
    let (b, ip_b) = create();
    // The state file as a power failure may leave it (it is written without a sync): a's
    // allocation lost, one of a container that is gone still there, another boot's.
    let path = host.engine.data().join("network/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let allocated = state["ipam"]["allocated"].as_object_mut().unwrap();
    allocated.remove(&ip_a);
    allocated.insert("10.87.0.9".into(), "f".repeat(64).into());
    state["boot_id"] = "another-boot".into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let (c, ip_c) = create();
    assert!(ip_c != ip_a && ip_c != ip_b, "{ip_c} given twice");
    assert_eq!(
        allocations(host),
        BTreeMap::from([(ip_a, a.clone()), (ip_b, b.clone()), (ip_c, c.clone())])
    );
    // A torn file: the allocations come from the records alone.
    std::fs::write(&path, b"{\"ipam\": {\"sub").unwrap();
    let (d, ip_d) = create();
    let all = allocations(host);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all.get(&ip_d), Some(&d));
    assert_eq!(all.values().filter(|o| **o == a).count(), 1, "{all:?}");
    // Removal still releases.
    host.engine.ok(&["container", "rm", &a]);
    assert_eq!(allocations(host).len(), 3);
    // Published ports come back from the records too: after a torn file, another container
    // asking for the same port is refused.
    let publish = [
        "container",
        "create",
        "--network",
        "bridge",
        "-p",
        "8080:80",
    ];
    let p = id_of(
        &host
            .engine
            .ok(&[&publish[..], &["test:latest", "true"]].concat()),
    );
    std::fs::write(&path, b"{\"ipam\": {\"sub").unwrap();
    let err = host
        .engine
        .fails(&[&publish[..], &["test:latest", "true"]].concat());
    assert!(err.contains("8080/tcp") && err.contains(&p[..12]), "{err}");
}
