//! Service virtual IPs on a test host made of a network namespace (see `support/netns.rs`):
//! an address on no interface whose connections are spread over three containers, reached from
//! a client container and from the node itself, on any port the backends listen on; a backend
//! taken out gets no more traffic; without backends new connections are refused at once; an
//! empty list leaves nothing in nftables; bad lists are refused naming the entry.

mod support;

use std::time::{Duration, Instant};

use support::netns::{TestHost, TestNet};
use support::web::{all_answer, fetch, fetch_in, set_list, set_list_ok, skiff_table, web};

const VIP: &str = "10.96.0.10";

fn set(host: &TestHost, json: &str) -> std::process::Output {
    set_list(host, "vips", json)
}

fn set_ok(host: &TestHost, json: &str) {
    set_list_ok(host, "vips", json)
}

/// The virtual IP of `dev/shop/web` over `backends`.
fn web_vip(backends: &[String]) -> String {
    serde_json::json!([{"name": "dev/shop/web", "vip": VIP, "backends": backends}]).to_string()
}

#[test]
fn a_vip_balances_over_its_backends_on_their_ports_and_refuses_without_any() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let ids: Vec<String> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|n| web(node, n))
        .collect();
    web(node, "client");
    let backends: Vec<String> = ids.iter().map(|id| node.ip_of(id)).collect();
    set_ok(node, &web_vip(&backends));
    let all = ["web-1", "web-2", "web-3"];
    all_answer("client → VIP:80", &all, || {
        fetch_in(node, "client", VIP, 80)
    });
    // A backend calling its own service (hairpin), and the node itself.
    all_answer("web-1 → VIP:80", &all, || {
        fetch_in(node, "web-1", VIP, 80)
    });
    // The node's own connections need a route towards the address before the output hook
    // rewrites it (as kube-proxy's ClusterIPs do); a node has a default route. The test host's
    // points at its switch, which is this test's own namespace.
    let route = node.sh("ip route add default via 10.0.0.254 dev eth0");
    assert!(route.status.success(), "{route:?}");
    all_answer("node → VIP:80", &all, || fetch(node, VIP, 80));
    let table = skiff_table(node);
    assert!(
        table.contains(&format!("ip daddr {VIP} dnat to numgen random mod 3 map")),
        "{table}"
    );
    // The port is the backends': nothing listens on 8080, so nothing answers there.
    let got = fetch_in(node, "client", VIP, 8080);
    assert!(got.contains("Connection refused"), "{got:?}");

    // web-3 taken out: no more traffic for it.
    set_ok(node, &web_vip(&backends[..2]));
    all_answer("client → VIP without web-3", &all[..2], || {
        fetch_in(node, "client", VIP, 80)
    });
    for _ in 0..20 {
        let got = fetch_in(node, "client", VIP, 80);
        assert!(!got.contains("web-3"), "web-3 answered after its removal");
    }

    // No backends: refused at once, from a container and from the node.
    set_ok(node, &web_vip(&[]));
    for (what, got) in [
        (
            "client",
            Box::new(|| fetch_in(node, "client", VIP, 80)) as Box<dyn Fn() -> String>,
        ),
        ("node", Box::new(|| fetch(node, VIP, 80))),
    ] {
        let started = Instant::now();
        let answer = got();
        assert!(answer.contains("Connection refused"), "{what}: {answer:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: not at once"
        );
    }

    // An empty list: Skiff's table goes (nothing else needs it), the state file forgets it.
    set_ok(node, "[]");
    assert_eq!(skiff_table(node), "");
    let state = std::fs::read_to_string(node.engine.data().join("network/state.json")).unwrap();
    assert!(!state.contains("vips"), "{state}");
}

#[test]
fn bad_lists_are_refused_naming_the_entry_and_leave_the_table_as_it_was() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let id = web(node, "web-1");
    let backend = node.ip_of(&id);
    set_ok(node, &web_vip(std::slice::from_ref(&backend)));
    let before = skiff_table(node);
    let cases = [
        (
            serde_json::json!([
                {"name": "dev/shop/web", "vip": VIP, "backends": [backend]},
                {"name": "dev/shop/api", "vip": VIP, "backends": []},
            ]),
            "virtual IP dev/shop/api: 10.96.0.10 is also the address of dev/shop/web",
        ),
        (
            serde_json::json!([{"name": "dev shop", "vip": "10.96.0.11"}]),
            "virtual IP name \"dev shop\"",
        ),
        (
            serde_json::json!([{"name": "dev/shop/web", "vip": "127.0.0.1"}]),
            "127.0.0.1 is not a unicast address",
        ),
        (
            serde_json::json!([{"name": "dev/shop/web", "vip": "10.96.0.300"}]),
            "not a list of virtual IPs",
        ),
        (
            serde_json::json!([{"name": "dev/shop/web", "vip": VIP, "port": 80}]),
            "unknown field `port`",
        ),
    ];
    for (json, want) in cases {
        let out = set(node, &json.to_string());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{json} was taken");
        assert!(err.contains(want), "{json}: {err}");
        assert_eq!(skiff_table(node), before, "{json} changed the table");
    }
}
