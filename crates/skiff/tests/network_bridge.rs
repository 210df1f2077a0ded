//! The bridge network on one node, on test hosts made of network namespaces (see
//! `support/netns.rs`): containers reach each other and the node, each start plugs a fresh
//! veth, and removal leaves nothing behind.

mod support;

use support::id_of;
use support::netns::{eventually, TestHost, TestNet};

/// Runs a web server in a bridge container; returns its id and address.
fn web(host: &TestHost, name: &str, body: &str) -> (String, String) {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let id = id_of(&host.engine.ok(&[
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        name,
        "test:latest",
        "sh",
        "-c",
        &script,
    ]));
    let ip = host.ip_of(&id);
    (id, ip)
}

/// A shell command that fetches `http://IP:PORT/` with busybox nc (busybox's wget crashes
/// on Debian 12's busybox-static once connected).
fn http_get(ip: &str, port: u16) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port}")
}

#[test]
fn two_containers_on_a_host_talk_tcp_and_the_host_reaches_them() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let (_web, ip) = web(host, "web", "hello-from-web");
    // From another container on the same bridge.
    eventually(|| {
        let out = host.engine.run(&[
            "container",
            "run",
            "--rm",
            "--network",
            "bridge",
            "test:latest",
            "sh",
            "-c",
            &http_get(&ip, 80),
        ]);
        let body = String::from_utf8_lossy(&out.stdout);
        if body.contains("hello-from-web") {
            Ok(())
        } else {
            Err(format!(
                "container → {ip}: {body:?} {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    // From the node itself.
    let body = host.sh_ok(&http_get(&ip, 80).replace("| nc", "| busybox nc"));
    assert!(body.contains("hello-from-web"), "{body}");
}

#[test]
fn each_container_gets_eth0_with_its_address_the_bridge_mtu_and_a_default_route() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let out = host.engine.ok(&[
        "container",
        "run",
        "--rm",
        "--network",
        "bridge",
        "--subnet",
        "10.60.0.0/24",
        "--hostname",
        "box",
        "test:latest",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip link show eth0; ip route; cat /etc/hosts /etc/hostname",
    ]);
    assert!(out.contains("inet 10.60.0.2/24"), "{out}");
    assert!(out.contains("mtu 1450"), "{out}");
    assert!(out.contains("default via 10.60.0.1 dev eth0"), "{out}");
    assert!(out.contains("10.60.0.2\tbox"), "{out}");
    let bridge = host.sh_ok("ip -o -4 addr show skiff0; ip link show skiff0");
    assert!(bridge.contains("10.60.0.1/24"), "{bridge}");
    assert!(bridge.contains("mtu 1450"), "{bridge}");
}

#[test]
fn removal_leaves_no_veth_and_no_allocation_also_for_a_killed_container() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let (a, _) = web(host, "a", "a");
    let (b, _) = web(host, "b", "b");
    let veths = |h: &TestHost| {
        h.links()
            .into_iter()
            .filter(|l| l.starts_with("sk") && l != "skiff0")
            .count()
    };
    assert_eq!(veths(host), 2, "{:?}", host.links());
    // b's shim and process are killed behind the engine's back.
    let info = host.engine.ok(&["container", "inspect", &b]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    for key in ["shim_pid", "pid"] {
        let pid = v["shim"][key].as_i64().unwrap() as i32;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    host.engine.ok(&["container", "rm", "-f", &a]);
    host.engine.ok(&["container", "rm", "-f", &b]);
    // The pairs go with the containers' namespaces, asynchronously.
    eventually(|| match veths(host) {
        0 => Ok(()),
        n => Err(format!("{n} veth(s) left: {:?}", host.links())),
    });
    let state = std::fs::read_to_string(host.engine.data().join("network/state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(v["ipam"]["allocated"], serde_json::json!({}), "{state}");
}

#[test]
fn runc_runs_a_bridge_container_too() {
    let net = TestNet::new(1);
    let host = &net.hosts[0];
    let out = host.engine.ok(&[
        "container",
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--network",
        "bridge",
        "test:latest",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ping -c 1 -W 2 10.87.0.1 >/dev/null && echo gateway-reached",
    ]);
    assert!(out.contains("inet 10.87.0.2/16"), "{out}");
    assert!(out.contains("gateway-reached"), "{out}");
}
