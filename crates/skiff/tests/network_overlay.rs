//! The VXLAN overlay between nodes, on test hosts made of network namespaces (see
//! `support/netns.rs`): host i has the node subnet 10.1.(i+1).0/24 and its engine is told the
//! other hosts with `skiff network overlay`. Containers on different hosts talk TCP, the
//! kernel holds exactly the list, changes and removals take effect, bad lists change nothing.

mod support;

use support::id_of;
use support::netns::{eventually, TestHost, TestNet};

/// The node subnet of host `i`.
fn subnet(i: usize) -> String {
    format!("10.1.{}.0/24", i + 1)
}

/// Runs `skiff GROUP --subnet SUBNET REST…` on host `i` (the engine's node subnet is a
/// global flag); insists on success.
fn skiff(net: &TestNet, i: usize, args: &[&str]) -> String {
    let args = with_subnet(i, args);
    net.hosts[i].engine.ok(&strs(&args))
}

/// Like [`skiff`], insisting on failure; returns stderr.
fn skiff_fails(net: &TestNet, i: usize, args: &[&str]) -> String {
    let args = with_subnet(i, args);
    net.hosts[i].engine.fails(&strs(&args))
}

/// `[GROUP, "--subnet", SUBNET, REST…]`.
fn with_subnet(i: usize, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![args[0].to_string(), "--subnet".into(), subnet(i)];
    v.extend(args[1..].iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `--peer ADDR=SUBNET` for each of `peers` (host indexes), at their current addresses.
fn peer_args(net: &TestNet, peers: &[usize]) -> Vec<String> {
    peers
        .iter()
        .flat_map(|&j| {
            [
                "--peer".to_string(),
                format!("{}={}", net.hosts[j].addr, subnet(j)),
            ]
        })
        .collect()
}

/// Sets host `i`'s overlay: local address `local`, the given peers.
fn set_overlay(net: &TestNet, i: usize, local: &str, peers: &[String]) -> String {
    let mut args = vec!["network", "overlay", "--local", local];
    args.extend(peers.iter().map(String::as_str));
    skiff(net, i, &args)
}

/// A full mesh: every host has every other as a peer.
fn mesh(net: &TestNet) {
    for i in 0..net.hosts.len() {
        let others: Vec<usize> = (0..net.hosts.len()).filter(|&j| j != i).collect();
        set_overlay(
            net,
            i,
            &net.hosts[i].addr.to_string(),
            &peer_args(net, &others),
        );
    }
}

/// Runs a web server in a bridge container on host `i`; returns its address.
fn web(net: &TestNet, i: usize, body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let id = id_of(&skiff(
        net,
        i,
        &[
            "container",
            "run",
            "-d",
            "--network",
            "bridge",
            "test:latest",
            "sh",
            "-c",
            &script,
        ],
    ));
    let out = skiff(net, i, &["container", "inspect", &id]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    v["network"]["ip"].as_str().unwrap().to_string()
}

/// A shell command that fetches `http://IP/` with busybox nc.
fn http_get(ip: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80")
}

/// What a fresh container on host `i` gets from `http://IP/` (empty when nothing answers).
fn fetch_from_container(net: &TestNet, i: usize, ip: &str) -> String {
    let args = with_subnet(
        i,
        &[
            "container",
            "run",
            "--rm",
            "--network",
            "bridge",
            "test:latest",
            "sh",
            "-c",
            &http_get(ip),
        ],
    );
    let out = net.hosts[i].engine.run(&strs(&args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Insists that a container on host `i` gets `body` from `ip`.
fn reaches(net: &TestNet, i: usize, ip: &str, body: &str) {
    eventually(|| {
        let got = fetch_from_container(net, i, ip);
        if got.contains(body) {
            Ok(())
        } else {
            Err(format!(
                "container on host {i} → {ip}: got {got:?}, wanted {body}"
            ))
        }
    });
}

/// The VTEP hardware address of the node with subnet 10.1.(i+1).0/24.
fn mac(i: usize) -> String {
    format!("0e:73:0a:01:{:02x}:00", i + 1)
}

/// Lines of `script`'s output on `host`, trimmed and sorted.
fn lines(host: &TestHost, script: &str) -> Vec<String> {
    let mut v: Vec<String> = host
        .sh_ok(script)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Skiff's per-peer state in host `i`'s kernel: forwarding entries, neighbour entries, routes.
fn kernel_state(net: &TestNet, i: usize) -> [Vec<String>; 3] {
    let h = &net.hosts[i];
    [
        lines(h, "bridge fdb show dev skiff.vxlan"),
        lines(h, "ip neigh show dev skiff.vxlan"),
        lines(h, "ip route show proto 83"),
    ]
}

/// Insists that host `i`'s kernel holds exactly the peers (host index, underlay address).
fn assert_holds(net: &TestNet, i: usize, peers: &[(usize, &str)]) {
    let mut want: [Vec<String>; 3] = Default::default();
    for &(j, addr) in peers {
        let vtep = format!("10.1.{}.0", j + 1);
        want[0].push(format!("{} dst {addr} self permanent", mac(j)));
        want[1].push(format!("{vtep} lladdr {} PERMANENT", mac(j)));
        want[2].push(format!("{} via {vtep} dev skiff.vxlan onlink", subnet(j)));
    }
    for w in &mut want {
        w.sort();
    }
    assert_eq!(kernel_state(net, i), want, "host {i}'s kernel");
}

#[test]
fn containers_on_two_nodes_talk_tcp_both_ways_and_the_kernel_holds_exactly_the_list() {
    let net = TestNet::new(2);
    mesh(&net);
    let ip0 = web(&net, 0, "hello-from-node0");
    let ip1 = web(&net, 1, "hello-from-node1");
    reaches(&net, 0, &ip1, "hello-from-node1");
    reaches(&net, 1, &ip0, "hello-from-node0");
    // The node itself reaches a container on the other node (from its VTEP address).
    let body = net.hosts[0].sh_ok(&http_get(&ip1).replace("| nc", "| busybox nc"));
    assert!(body.contains("hello-from-node1"), "{body}");

    assert_holds(&net, 0, &[(1, "10.0.0.2")]);
    assert_holds(&net, 1, &[(0, "10.0.0.1")]);
    let link = net.hosts[0].sh_ok("ip -d link show skiff.vxlan; ip -4 -o addr show skiff.vxlan");
    for want in [
        "mtu 1450",
        "link/ether 0e:73:0a:01:01:00",
        "vxlan id 1 local 10.0.0.1 dev eth0",
        "dstport 4789",
        "nolearning",
        "noudpcsum",
        "inet 10.1.1.0/32",
    ] {
        assert!(link.contains(want), "{want} not in {link}");
    }

    let json = skiff(&net, 0, &["network", "inspect", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["subnet"], "10.1.1.0/24", "{json}");
    assert_eq!(v["bridge"]["addresses"][0], "10.1.1.1/24", "{json}");
    assert_eq!(
        v["allocations"][&ip0].as_str().map(str::len),
        Some(64),
        "{json}"
    );
    let peers = &v["overlay"]["peers"];
    assert_eq!(peers.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(peers[0]["address"], "10.0.0.2", "{json}");
    assert_eq!(peers[0]["subnet"], "10.1.2.0/24", "{json}");
    assert_eq!(peers[0]["mac"], mac(1), "{json}");
    let text = skiff(&net, 0, &["network", "inspect"]);
    assert!(text.contains("10.0.0.2   10.1.2.0/24"), "{text}");

    // Setting the same list again changes nothing.
    let again = set_overlay(&net, 0, "10.0.0.1", &peer_args(&net, &[1]));
    assert!(again.contains("0 change(s)"), "{again}");
}

#[test]
fn a_peer_whose_address_changes_stays_reachable() {
    let net = TestNet::new(2);
    mesh(&net);
    let ip0 = web(&net, 0, "on-node0");
    let ip1 = web(&net, 1, "on-node1");
    reaches(&net, 0, &ip1, "on-node1");

    // Host 1 moves to another underlay address.
    // (Deleted first: deleting a primary address takes its secondaries with it.)
    net.hosts[1].sh_ok("ip addr del 10.0.0.2/24 dev eth0 && ip addr add 10.0.0.12/24 dev eth0");
    set_overlay(&net, 1, "10.0.0.12", &peer_args(&net, &[0]));
    let out = set_overlay(
        &net,
        0,
        "10.0.0.1",
        &["--peer".into(), "10.0.0.12=10.1.2.0/24".into()],
    );
    // Route and neighbour entry stay; only the forwarding entry is pointed elsewhere.
    assert!(out.contains("1 change(s)"), "{out}");
    assert!(
        out.contains(&format!(
            "fdb replace {} dev skiff.vxlan dst 10.0.0.12",
            mac(1)
        )),
        "{out}"
    );

    reaches(&net, 0, &ip1, "on-node1");
    reaches(&net, 1, &ip0, "on-node0");
    assert_holds(&net, 0, &[(1, "10.0.0.12")]);
    let link = net.hosts[1].sh_ok("ip -d link show skiff.vxlan");
    assert!(link.contains("local 10.0.0.12"), "{link}");
}

#[test]
fn a_removed_peer_is_no_longer_reachable_and_its_entries_are_gone() {
    let net = TestNet::new(3);
    mesh(&net);
    let ip0 = web(&net, 0, "on-node0");
    let ip1 = web(&net, 1, "on-node1");
    let ip2 = web(&net, 2, "on-node2");
    reaches(&net, 0, &ip1, "on-node1");
    reaches(&net, 0, &ip2, "on-node2");
    reaches(&net, 2, &ip0, "on-node0");
    assert_holds(&net, 0, &[(1, "10.0.0.2"), (2, "10.0.0.3")]);

    // Host 0 drops host 2.
    set_overlay(&net, 0, "10.0.0.1", &peer_args(&net, &[1]));
    assert_holds(&net, 0, &[(1, "10.0.0.2")]);
    reaches(&net, 0, &ip1, "on-node1");
    let got = fetch_from_container(&net, 0, &ip2);
    assert!(
        !got.contains("on-node2"),
        "host 2 still reachable from host 0: {got}"
    );
    // Host 2 still lists host 0, but no answer finds its way back.
    let got = fetch_from_container(&net, 2, &ip0);
    assert!(
        !got.contains("on-node0"),
        "host 0 still reachable from host 2: {got}"
    );
    // Host 1 is not affected.
    reaches(&net, 1, &ip2, "on-node2");
}

#[test]
fn bad_lists_are_refused_naming_the_peer_and_change_nothing() {
    let net = TestNet::new(2);
    set_overlay(&net, 0, "10.0.0.1", &peer_args(&net, &[1]));
    // The device's settings and address, without its index (a device made again has another).
    let link = || {
        net.hosts[0]
            .sh_ok("ip -d link show skiff.vxlan; ip -4 addr show skiff.vxlan")
            .lines()
            .map(|l| match l.split_once(": ") {
                Some((index, rest)) if index.parse::<u32>().is_ok() => rest.to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let before = (kernel_state(&net, 0), link());

    let cases: &[(&[&str], &str)] = &[
        (
            &["--local", "10.0.0.1", "--peer", "10.0.0.2=10.1.1.0/24"],
            "peer 10.0.0.2=10.1.1.0/24 (--peer): its subnet overlaps this node's subnet 10.1.1.0/24",
        ),
        (
            &["--local", "10.0.0.1", "--peer", "10.0.0.2=10.1.2.0/24", "--peer", "10.0.0.3=10.1.2.0/25"],
            "peer 10.0.0.3=10.1.2.0/25 (--peer): its subnet overlaps that of peer 10.0.0.2=10.1.2.0/24",
        ),
        (
            &["--local", "10.0.0.1", "--peer", "10.0.0.2=10.1.2.0/24", "--peer", "10.0.0.2=10.1.3.0/24"],
            "peer 10.0.0.2=10.1.3.0/24 (--peer): address 10.0.0.2 is listed twice",
        ),
        (
            &["--local", "10.0.0.1", "--peer", "10.0.0.1=10.1.2.0/24"],
            "peer 10.0.0.1=10.1.2.0/24 (--peer): 10.0.0.1 is this node's own address",
        ),
        (
            &["--local", "10.0.0.9", "--peer", "10.0.0.2=10.1.2.0/24"],
            "local address 10.0.0.9 (--local) is not an address of this node",
        ),
        (
            &["--local", "10.0.0.1", "--peer", "10.0.0.2=10.0.0.128/25"],
            "peer 10.0.0.2=10.0.0.128/25 (--peer): its subnet overlaps the route to 10.0.0.0/24 on eth0",
        ),
        (
            &["--local", "10.0.0.1", "--peer", "10.0.0.2:10.1.2.0/24"],
            "invalid value '10.0.0.2:10.1.2.0/24' for '--peer <ADDR=SUBNET>'",
        ),
        (&["--local", "10.0.0.1", "--vni", "0"], "vni 0 (--vni)"),
    ];
    for (args, want) in cases {
        let mut all = vec!["network", "overlay"];
        all.extend_from_slice(args);
        let err = skiff_fails(&net, 0, &all);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(
            (kernel_state(&net, 0), link()),
            before,
            "{args:?} changed the kernel"
        );
        // On a node without an overlay, nothing is made either.
        skiff_fails(&net, 1, &all);
        assert!(
            !net.hosts[1].links().contains(&"skiff.vxlan".to_string()),
            "{args:?}"
        );
    }

    // A change the kernel refuses half-way (another device holds VNI 2 on the port: the old
    // device is gone by then) puts the previous overlay back.
    net.hosts[0].sh_ok("ip link add other type vxlan id 2 dstport 4789 local 10.0.0.1 nolearning");
    let mut args = vec!["network", "overlay", "--local", "10.0.0.1", "--vni", "2"];
    let peers = peer_args(&net, &[1]);
    args.extend(peers.iter().map(String::as_str));
    let err = skiff_fails(&net, 0, &args);
    assert!(
        err.contains("another VXLAN device on this node uses that VNI and port"),
        "{err}"
    );
    assert_eq!((kernel_state(&net, 0), link()), before);
}

#[test]
fn removing_the_overlay_removes_the_device_and_only_skiffs_routes() {
    let net = TestNet::new(2);
    let h = &net.hosts[0];
    // Routes that are not Skiff's: one on the underlay, one through the overlay device.
    h.sh_ok("ip route add 192.168.77.0/24 dev eth0");
    set_overlay(&net, 0, "10.0.0.1", &peer_args(&net, &[1]));
    h.sh_ok("ip route add 10.99.0.0/24 via 10.1.2.0 dev skiff.vxlan onlink proto static");
    // A new list leaves the route of another owner alone, even on Skiff's device.
    set_overlay(&net, 0, "10.0.0.1", &[]);
    assert_holds(&net, 0, &[]);
    let routes = h.sh_ok("ip route show");
    assert!(
        routes.contains("10.99.0.0/24 via 10.1.2.0 dev skiff.vxlan"),
        "{routes}"
    );

    let out = skiff(&net, 0, &["network", "overlay", "--remove"]);
    assert!(out.contains("overlay removed"), "{out}");
    assert!(
        !h.links().contains(&"skiff.vxlan".to_string()),
        "{:?}",
        h.links()
    );
    assert_eq!(h.sh_ok("ip route show proto 83"), "");
    assert!(h
        .sh_ok("ip route show")
        .contains("192.168.77.0/24 dev eth0"));
    // Again: nothing to do, not an error.
    let out = skiff(&net, 0, &["network", "overlay", "--remove"]);
    assert!(out.contains("no overlay"), "{out}");
    let text = skiff(&net, 0, &["network", "inspect"]);
    assert!(text.contains("overlay     none"), "{text}");
}

#[test]
fn containers_see_each_others_own_addresses_across_the_overlay_also_with_masquerading() {
    let net = TestNet::new(2);
    mesh(&net);
    // A server on host 1 that answers with the client's address (busybox httpd's CGI).
    let script = "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho from=$REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www";
    let id = id_of(&skiff(
        &net,
        1,
        &[
            "container",
            "run",
            "-d",
            "--network",
            "bridge",
            "test:latest",
            "sh",
            "-c",
            script,
        ],
    ));
    let out = skiff(&net, 1, &["container", "inspect", &id]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    let server = v["network"]["ip"].as_str().unwrap().to_string();
    // The client prints its own address, then what the server saw. With --masquerade the
    // engine's nftables table masquerades traffic leaving the node, but not into the overlay.
    let client = format!(
        "ip -o -4 addr show eth0; printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {server} 80"
    );
    eventually(|| {
        let args = with_subnet(
            0,
            &[
                "container",
                "run",
                "--rm",
                "--masquerade",
                "--network",
                "bridge",
                "test:latest",
                "sh",
                "-c",
                &client,
            ],
        );
        let out = net.hosts[0].engine.run(&strs(&args));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let own = text
            .split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or("?")
            .to_string();
        // httpd says an IPv4 client as `[::ffff:A.B.C.D]`.
        let seen = text
            .lines()
            .find_map(|l| l.strip_prefix("from="))
            .map(|a| a.trim_matches(['[', ']']).trim_start_matches("::ffff:"));
        if seen == Some(own.as_str()) && own.starts_with("10.1.1.") {
            Ok(())
        } else {
            Err(format!(
                "the server did not see the client's own address {own}: {text:?}"
            ))
        }
    });
    let table = net.hosts[0].sh_ok("nft list table ip skiff");
    assert!(table.contains("oifname \"skiff.vxlan\" accept"), "{table}");
}
