//! Service ports (node-local ingress) on test hosts made of network namespaces (see
//! `support/netns.rs`): one port of the node load-balanced over three containers, reached
//! from another host, from the node itself and from containers (hairpin); a backend taken
//! out gets no more traffic; no backends: connections are refused; an empty list leaves
//! nothing in nftables; conflicts with containers' ports and the node's listeners are refused.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::netns::{TestHost, TestNet};
use support::web::{all_answer, fetch, fetch_in, set_list, set_list_ok, skiff_table, web};

fn set(host: &TestHost, json: &str) -> std::process::Output {
    set_list(host, "service-ports", json)
}

fn set_ok(host: &TestHost, json: &str) {
    set_list_ok(host, "service-ports", json)
}

/// The service port `dev/shop/web` on 8080 over `backends` (`IP:PORT`).
fn web_port(backends: &[String]) -> String {
    serde_json::json!([{
        "name": "dev/shop/web", "protocol": "tcp", "published": 8080, "backends": backends,
    }])
    .to_string()
}

#[test]
fn a_service_port_balances_over_its_backends_from_everywhere_and_refuses_without_any() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    let ids: Vec<String> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|n| web(node, n))
        .collect();
    let backends: Vec<String> = ids
        .iter()
        .map(|id| format!("{}:80", node.ip_of(id)))
        .collect();
    set_ok(node, &web_port(&backends));
    let all = ["web-1", "web-2", "web-3"];
    all_answer("host1 → 10.0.0.1:8080", &all, || {
        fetch(other, "10.0.0.1", 8080)
    });
    all_answer("node → 10.0.0.1:8080", &all, || {
        fetch(node, "10.0.0.1", 8080)
    });
    all_answer("node → 127.0.0.1:8080", &all, || {
        fetch(node, "127.0.0.1", 8080)
    });
    // Hairpin: a backend reaches the service, itself included.
    all_answer("web-1 → 10.0.0.1:8080", &all, || {
        fetch_in(node, "web-1", "10.0.0.1", 8080)
    });
    let table = skiff_table(node);
    assert!(
        table.contains("tcp dport 8080 ct mark set 0x0000534b dnat ip to numgen random mod 3 map"),
        "{table}"
    );

    // web-3 taken out: no more traffic for it.
    set_ok(node, &web_port(&backends[..2]));
    all_answer("host1 → 10.0.0.1:8080 without web-3", &all[..2], || {
        fetch(other, "10.0.0.1", 8080)
    });
    for _ in 0..20 {
        let got = fetch(other, "10.0.0.1", 8080);
        assert!(!got.contains("web-3"), "web-3 answered after its removal");
    }

    // No backends: connections are refused at once, from elsewhere and from the node —
    // even when a program on the node has bound the port since.
    set_ok(node, &web_port(&[]));
    let _squatter = listen(node, 8080);
    std::thread::sleep(Duration::from_millis(300));
    for (from, ip) in [(other, "10.0.0.1"), (node, "10.0.0.1"), (node, "127.0.0.1")] {
        let started = Instant::now();
        let got = fetch(from, ip, 8080);
        assert!(got.contains("Connection refused"), "{ip}: {got:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{ip}: not at once"
        );
    }
    let got = fetch_in(node, "web-1", "10.0.0.1", 8080);
    assert!(got.contains("Connection refused"), "from web-1: {got:?}");

    // An empty list: Skiff's table goes (nothing else needs it), the state file forgets it.
    set_ok(node, "[]");
    assert_eq!(skiff_table(node), "");
    let state = std::fs::read_to_string(node.engine.data().join("network/state.json")).unwrap();
    assert!(!state.contains("service_ports"), "{state}");
    // And the backends' own port is theirs again: nothing is left in the way.
    let got = fetch(other, "10.0.0.1", 8080);
    assert!(!got.contains("web-"), "{got}");
}

/// A process started in a test host's namespace, killed (by its pid) when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `busybox nc` listening on `port` of the host.
fn listen(host: &TestHost, port: u16) -> Background {
    Background(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", host.netns))
            .args(["busybox", "nc", "-l", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run nsenter"),
    )
}

#[test]
fn service_ports_conflict_with_container_ports_and_node_listeners_naming_the_holder() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let id = web(node, "web-1");
    let backend = format!("{}:80", node.ip_of(&id));
    set_ok(node, &web_port(std::slice::from_ref(&backend)));

    // A container asking for the service's port is refused, and gets nothing.
    let before = node.engine.container_dirs().len();
    let err = node.engine.fails(&[
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "-p",
        "8080:80",
        "test:latest",
        "sleep",
        "60",
    ]);
    assert!(
        err.contains("8080/tcp conflicts with 8080/tcp, the service port of dev/shop/web"),
        "{err}"
    );
    assert_eq!(node.engine.container_dirs().len(), before);

    // A service port on a container's port is refused, naming the container; the list in
    // place stays.
    node.engine.ok(&[
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        "pub",
        "-p",
        "9000:80",
        "test:latest",
        "sleep",
        "60",
    ]);
    let json = serde_json::json!([
        {"name": "dev/shop/web", "protocol": "tcp", "published": 8080, "backends": [backend]},
        {"name": "dev/shop/api", "protocol": "tcp", "published": 9000, "backends": []},
    ]);
    let out = set(node, &json.to_string());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("service port dev/shop/api: 9000/tcp conflicts with 9000/tcp, published by container pub"),
        "{err}"
    );
    assert!(skiff_table(node).contains("dev/shop/web"));
    assert!(!skiff_table(node).contains("dev/shop/api"));

    // A port a program on the node listens on is refused.
    let _listener = listen(node, 7000);
    let json = serde_json::json!([
        {"name": "dev/shop/db", "protocol": "tcp", "published": 7000, "backends": []},
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = set(node, &json.to_string());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            assert!(
                err.contains("service port dev/shop/db: 7000/tcp: a program on the node already uses this port"),
                "{err}"
            );
            break;
        }
        // The listener was not up yet: take the port back and try again.
        set_ok(node, "[]");
        assert!(Instant::now() < deadline, "the listener never came up");
        std::thread::sleep(Duration::from_millis(100));
    }
}
