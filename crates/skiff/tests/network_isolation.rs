//! Isolation between containers on test hosts made of network namespaces (see
//! `support/netns.rs`): containers on a node and across two nodes joined by the overlay reach
//! each other exactly when they share a network; a virtual IP is reachable only by clients
//! that share a network with its backend; the node itself, published ports and other hosts are
//! untouched; without `br_netfilter` the bridge table alone keeps containers of one node apart;
//! removing the list restores everything; bad lists change nothing.
//!
//! Network ids are opaque strings; here `dev/a`, `dev/b` and `prod/a`.

mod support;

use std::time::{Duration, Instant};

use support::id_of;
use support::netns::{eventually, TestHost, TestNet};
use support::web::{fetch, fetch_in, skiff_table};

/// Runs `skiff GROUP [--subnet SUBNET] REST…` on `host`; insists on success.
fn skiff(host: &TestHost, subnet: Option<&str>, args: &[&str]) -> String {
    host.engine.ok(&with_subnet(subnet, args))
}

/// `[GROUP, "--subnet", SUBNET, REST…]` (the node subnet is a global flag).
fn with_subnet<'a>(subnet: Option<&'a str>, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![args[0]];
    if let Some(s) = subnet {
        v.extend(["--subnet", s]);
    }
    v.extend(&args[1..]);
    v
}

/// Runs a web server answering its name in a bridge container `name` (with `extra` flags of
/// `run`, such as `-p`); returns its address.
fn web(host: &TestHost, subnet: Option<&str>, name: &str, extra: &[&str]) -> String {
    let script =
        format!("mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec![
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        name,
    ];
    args.extend(extra);
    args.extend(["test:latest", "sh", "-c", &script]);
    let id = id_of(&skiff(host, subnet, &args));
    host.ip_of(&id)
}

/// Sets `host`'s isolation to `members` (`(address, [network, …])`).
fn isolate(host: &TestHost, subnet: Option<&str>, members: &[(&str, &[&str])]) {
    let list: Vec<serde_json::Value> = members
        .iter()
        .map(|(a, n)| serde_json::json!({"address": a, "networks": n}))
        .collect();
    let out = set(host, subnet, &serde_json::Value::from(list).to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `skiff network isolation FILE` with `json` in FILE.
fn set(host: &TestHost, subnet: Option<&str>, json: &str) -> std::process::Output {
    let file = host.engine.dir.path().join("isolation.json");
    std::fs::write(&file, json).unwrap();
    let args = with_subnet(subnet, &["network", "isolation", file.to_str().unwrap()]);
    host.engine.run(&args)
}

/// Insists that container `from` gets `want`'s page from `ip:port` (servers may need a moment
/// to listen).
fn reaches(host: &TestHost, from: &str, ip: &str, port: u16, want: &str) {
    eventually(|| {
        let got = fetch_in(host, from, ip, port);
        if got.contains(want) {
            Ok(())
        } else {
            Err(format!("{from} → {ip}:{port} ({want}): got {got:?}"))
        }
    });
}

/// Insists that container `from` cannot open a connection to `ip:port`: refused at once (a TCP
/// reset from the IPv4 rules) or, with `fast` false, refused or timed out (the bridge rules
/// drop).
fn refused(host: &TestHost, from: &str, ip: &str, port: u16, fast: bool) {
    let started = Instant::now();
    let got = fetch_in(host, from, ip, port);
    let took = started.elapsed();
    assert!(
        !got.contains("HTTP/1"),
        "{from} → {ip}:{port}: got an answer: {got:?}"
    );
    if fast {
        assert!(
            got.contains("Connection refused"),
            "{from} → {ip}:{port}: {got:?}"
        );
        assert!(
            took < Duration::from_secs(1),
            "{from} → {ip}:{port}: refused after {took:?}"
        );
    }
}

#[test]
fn containers_on_one_node_reach_each_other_only_through_a_shared_network() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    let a1 = web(node, None, "a1", &[]);
    let a2 = web(node, None, "a2", &[]);
    let b1 = web(node, None, "b1", &[]);
    let s1 = web(node, None, "s1", &[]);
    let p1 = web(node, None, "p1", &["-p", "8080:80"]);
    // Whether the kernel passes bridged traffic through the IPv4 hooks (`br_netfilter`, on in
    // this kernel). Between containers of one node the bridge table drops (no reset, either
    // way); through the node (a virtual IP, the overlay) the IPv4 chain resets.
    let brnf = node
        .sh("cat /proc/sys/net/bridge/bridge-nf-call-iptables")
        .stdout
        .starts_with(b"1");
    // Before: everyone reaches everyone.
    reaches(node, "a1", &b1, 80, "b1");
    reaches(node, "p1", &a1, 80, "a1");

    let members: &[(&str, &[&str])] = &[
        (&a1, &["dev/a"]),
        (&a2, &["dev/a"]),
        (&b1, &["dev/b"]),
        (&s1, &["dev/a", "dev/b"]),
        (&p1, &["prod/a"]),
    ];
    isolate(node, None, members);
    reaches(node, "a1", &a2, 80, "a2");
    reaches(node, "a2", &a1, 80, "a1");
    refused(node, "a1", &b1, 80, false);
    refused(node, "b1", &a1, 80, false);
    reaches(node, "s1", &a1, 80, "a1");
    reaches(node, "s1", &b1, 80, "b1");
    reaches(node, "a1", &s1, 80, "s1");
    reaches(node, "b1", &s1, 80, "s1");
    for dev in ["a1", "b1", "s1"] {
        refused(node, dev, &p1, 80, false);
    }
    for dev in [&a1, &b1, &s1] {
        refused(node, "p1", dev, 80, false);
    }

    // A container started now, not on the list: its bridge port is bound to its address at
    // its start (the tables are there: only that is added), and nothing isolates it.
    let c1 = web(node, None, "c1", &[]);
    reaches(node, "c1", &a1, 80, "a1");
    reaches(node, "p1", &c1, 80, "c1");
    // After a flush, the next start rebuilds the tables whole.
    node.sh_ok("nft flush ruleset");
    web(node, None, "c2", &[]);
    assert!(skiff_table(node).contains("chain isolation"));
    reaches(node, "c2", &a1, 80, "a1");
    refused(node, "a1", &b1, 80, false);
    refused(node, "p1", &a1, 80, false);

    // A virtual IP over b1 (routed through the node: the IPv4 rules refuse, after the DNAT):
    // reached by those that share a network with b1, b1 included.
    let vip = serde_json::json!([{"name": "dev/b/web", "vip": "10.96.0.10", "backends": [b1]}]);
    let file = node.engine.dir.path().join("vips.json");
    std::fs::write(&file, vip.to_string()).unwrap();
    node.engine.ok(&["network", "vips", file.to_str().unwrap()]);
    reaches(node, "s1", "10.96.0.10", 80, "b1");
    reaches(node, "b1", "10.96.0.10", 80, "b1");
    // With br_netfilter, the kernel sends the reset for a bridged packet straight out of the
    // port it came in by, without undoing the DNAT: the client ignores a reset from the
    // backend's address and times out (checked fast below, with br_netfilter off).
    refused(node, "a1", "10.96.0.10", 80, !brnf);
    refused(node, "p1", "10.96.0.10", 80, !brnf);

    // The node itself reaches every container, and a published port answers another host
    // and, through the node's address, containers of every environment (as Swarm's ingress).
    for (ip, name) in [(&a1, "a1"), (&b1, "b1"), (&s1, "s1"), (&p1, "p1")] {
        let got = fetch(node, ip, 80);
        assert!(got.contains(name), "node → {name}: {got:?}");
    }
    let got = fetch(other, "10.0.0.1", 8080);
    assert!(got.contains("p1"), "host1 → 10.0.0.1:8080: {got:?}");
    reaches(node, "a1", "10.0.0.1", 8080, "p1");
    reaches(node, "s1", "10.0.0.1", 8080, "p1");

    let ip_table = skiff_table(node);
    assert!(ip_table.contains("chain isolation"), "{ip_table}");
    let bridge_table = node.sh_ok("nft list table bridge skiff");
    assert!(
        bridge_table
            .contains("meta pkttype != host ip daddr @iso_members ip saddr vmap @iso_member_nets"),
        "{bridge_table}"
    );

    // Without br_netfilter, bridged traffic never meets the IPv4 hooks: the bridge table
    // alone keeps the node's containers apart.
    if brnf {
        node.sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=0");
    }
    reaches(node, "a1", &a2, 80, "a2");
    reaches(node, "s1", &b1, 80, "b1");
    refused(node, "a1", &b1, 80, false);
    refused(node, "p1", &a1, 80, false);
    refused(node, "a1", &p1, 80, false);
    refused(node, "a1", "10.96.0.10", 80, true);
    reaches(node, "s1", "10.96.0.10", 80, "b1");
    reaches(node, "a1", "10.0.0.1", 8080, "p1");
    // And the IPv4 rules alone would not: with the bridge table gone, a1 reaches b1.
    node.sh_ok("nft delete table bridge skiff");
    reaches(node, "a1", &b1, 80, "b1");

    // Removed: everyone reaches everyone again, and the tables hold nothing of it.
    isolate(node, None, &[]);
    reaches(node, "a1", &p1, 80, "p1");
    reaches(node, "p1", &a1, 80, "a1");
    if brnf {
        node.sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=1");
    }
    reaches(node, "a1", &b1, 80, "b1");
    reaches(node, "a1", "10.96.0.10", 80, "b1");
    assert!(!skiff_table(node).contains("iso"), "{}", skiff_table(node));
    assert!(!node.sh("nft list table bridge skiff").status.success());
    let state = std::fs::read_to_string(node.engine.data().join("network/state.json")).unwrap();
    assert!(!state.contains("isolation"), "{state}");
}

/// The node subnet of host `i`.
fn subnet(i: usize) -> String {
    format!("10.1.{}.0/24", i + 1)
}

#[test]
fn across_the_overlay_each_node_enforces_the_same_rule() {
    let net = TestNet::new(2);
    let (h0, h1) = (&net.hosts[0], &net.hosts[1]);
    let (s0, s1) = (subnet(0), subnet(1));
    let (s0, s1) = (Some(s0.as_str()), Some(s1.as_str()));
    for (i, (host, sub)) in [(h0, s0), (h1, s1)].into_iter().enumerate() {
        let peer = net.hosts[1 - i].addr;
        let local = host.addr.to_string();
        let peer = format!("{peer}={}", subnet(1 - i));
        skiff(
            host,
            sub,
            &["network", "overlay", "--local", &local, "--peer", &peer],
        );
    }
    let a1 = web(h0, s0, "a1", &[]);
    let b1 = web(h0, s0, "b1", &[]);
    let a2 = web(h1, s1, "a2", &[]);
    let p2 = web(h1, s1, "p2", &[]);
    let x2 = web(h1, s1, "x2", &[]);
    reaches(h0, "a1", &p2, 80, "p2");

    let members: Vec<(&str, &[&str])> = vec![
        (&a1, &["dev/a"]),
        (&b1, &["dev/b"]),
        (&a2, &["dev/a"]),
        (&p2, &["prod/a"]),
        (&x2, &["dev/a", "dev/b"]),
    ];
    isolate(h0, s0, &members);
    isolate(h1, s1, &members);
    reaches(h0, "a1", &a2, 80, "a2");
    reaches(h1, "a2", &a1, 80, "a1");
    reaches(h0, "b1", &x2, 80, "x2");
    reaches(h1, "x2", &a1, 80, "a1");
    reaches(h1, "x2", &b1, 80, "b1");
    refused(h0, "a1", &p2, 80, true);
    refused(h1, "p2", &a1, 80, true);
    refused(h0, "b1", &a2, 80, true);
    refused(h1, "a2", &b1, 80, true);

    // Each node enforces on its own: with host1's list gone, host0 still refuses what
    // crosses it, either way.
    isolate(h1, s1, &[]);
    refused(h1, "p2", &a1, 80, true);
    refused(h0, "a1", &p2, 80, true);
    reaches(h1, "a2", &a1, 80, "a1");

    isolate(h0, s0, &[]);
    reaches(h0, "a1", &p2, 80, "p2");
    reaches(h1, "p2", &a1, 80, "a1");
    reaches(h0, "b1", &a2, 80, "a2");
}

#[test]
fn bad_lists_are_refused_naming_the_member_and_change_nothing() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let a1 = web(node, None, "a1", &[]);
    isolate(node, None, &[(&a1, &["dev/a"])]);
    let before = (skiff_table(node), node.sh_ok("nft list table bridge skiff"));
    let cases = [
        (
            serde_json::json!([
                {"address": a1, "networks": ["dev/a"]},
                {"address": a1, "networks": ["dev/b"]},
            ]),
            format!("isolation: member {a1} is listed twice"),
        ),
        (
            serde_json::json!([{"address": a1, "networks": ["dev a"]}]),
            format!("member {a1}: network id \"dev a\""),
        ),
        (
            serde_json::json!([{"address": a1, "networks": []}]),
            format!("member {a1}: no networks"),
        ),
        (
            serde_json::json!([{"address": "127.0.0.1", "networks": ["dev/a"]}]),
            "member 127.0.0.1: not a unicast address".to_string(),
        ),
        (
            serde_json::json!([{"address": "10.87.0.300", "networks": ["dev/a"]}]),
            "not a list of isolation members".to_string(),
        ),
        (
            serde_json::json!([{"address": a1, "networks": ["dev/a"], "env": "dev"}]),
            "unknown field `env`".to_string(),
        ),
    ];
    for (json, want) in cases {
        let out = set(node, None, &json.to_string());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{json} was taken");
        assert!(err.contains(&want), "{json}: {err}");
        let now = (skiff_table(node), node.sh_ok("nft list table bridge skiff"));
        assert_eq!(now, before, "{json} changed the tables");
    }
}

/// `InEchos` of container `name`: the ICMP echo requests it has received.
fn in_echos(host: &TestHost, name: &str) -> u64 {
    let snmp = host
        .engine
        .ok(&["container", "exec", name, "cat", "/proc/net/snmp"]);
    let icmp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Icmp:")).collect();
    let names: Vec<&str> = icmp[0].split_whitespace().collect();
    let values: Vec<&str> = icmp[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "InEchos").unwrap();
    values[i].parse().unwrap()
}

/// The hardware address the node's neighbour entry for `ip` holds.
fn lladdr(host: &TestHost, ip: &str) -> String {
    let entry = host.sh_ok(&format!("ip neigh show {ip} dev skiff0"));
    let mut words = entry.split_whitespace();
    words
        .find(|w| *w == "lladdr")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no hardware address for {ip}: {entry:?}"))
        .to_string()
}

/// Runs `sh -c SCRIPT` in container `name`; its output, errors included.
fn sh_in(host: &TestHost, name: &str, script: &str) -> String {
    let out = host
        .engine
        .run(&["container", "exec", name, "sh", "-c", script]);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn a_container_cannot_pass_for_a_container_of_another_network() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let b1 = web(node, None, "b1", &[]);
    let s1 = web(node, None, "s1", &[]);
    // m1 may change its own addresses (and, as every container, use raw sockets).
    let m1 = web(node, None, "m1", &["--cap-add", "NET_ADMIN"]);
    isolate(
        node,
        None,
        &[
            (&b1, &["dev/b"]),
            (&s1, &["dev/a", "dev/b"]),
            (&m1, &["dev/a"]),
        ],
    );
    reaches(node, "s1", &b1, 80, "b1");
    refused(node, "m1", &b1, 80, false);
    // The node knows s1's hardware address.
    assert!(fetch(node, &s1, 80).contains("s1"));
    let s1_mac = lladdr(node, &s1);

    // m1 takes s1's address and pings b1 from it: s1 may reach b1, m1 may not.
    let before = in_echos(node, "b1");
    let got = sh_in(
        node,
        "m1",
        &format!("ip addr add {s1}/32 dev eth0 && ping -c 3 -W 1 -I {s1} {b1}"),
    );
    assert!(got.contains("0 packets received"), "{got}");
    assert_eq!(in_echos(node, "b1"), before, "b1 got m1's forged pings");
    // Nor can m1 draw the node's traffic for s1 with an ARP announcement.
    let arping = format!("arping -U -c 2 -I eth0 -s {s1} {s1}");
    let got = sh_in(node, "m1", &arping);
    assert!(got.contains("ARPING"), "{got}");
    assert_eq!(lladdr(node, &s1), s1_mac, "the node's entry for s1 changed");
    assert!(fetch(node, &s1, 80).contains("s1"));

    // Without the two rules that bind ports to addresses, the forged pings arrive.
    let rules = node.sh_ok("nft -a list chain bridge skiff prerouting");
    for line in rules.lines().filter(|l| l.contains("@iso_ports")) {
        let handle = line.rsplit("# handle ").next().unwrap().trim();
        node.sh_ok(&format!(
            "nft delete rule bridge skiff prerouting handle {handle}"
        ));
    }
    sh_in(node, "m1", &format!("ping -c 3 -W 1 -I {s1} {b1}"));
    assert!(
        in_echos(node, "b1") > before,
        "the forged pings did not arrive even without the rules: the test proves nothing"
    );
    eventually(|| {
        sh_in(node, "m1", &arping);
        let now = lladdr(node, &s1);
        match now != s1_mac {
            true => Ok(()),
            false => Err(format!("the announcement did not reach the node: {now}")),
        }
    });
}
