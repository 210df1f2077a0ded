//! Published ports on test hosts made of network namespaces (see `support/netns.rs`): a port
//! is reached from another host, from the node itself (its own address and 127.0.0.1) and
//! from containers on the node (hairpin); a conflict is refused leaving nothing; removal,
//! however the container ended, takes its ports out of nftables; other tables are left alone.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::id_of;
use support::netns::{TestHost, TestNet};

/// Runs a web server answering `body` in a bridge container with `extra` arguments (`-p …`).
fn web(host: &TestHost, name: &str, extra: &[&str], body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec![
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["test:latest", "sh", "-c", &script]);
    id_of(&host.engine.ok(&args))
}

/// A shell command fetching `http://IP:PORT/` with `nc` (`busybox nc` on a test host; busybox
/// wget crashes on Debian 12's busybox-static once connected).
fn http_get(nc: &str, ip: &str, port: u16) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | {nc} -w 2 {ip} {port}")
}

/// Fetches `http://IP:PORT/` from the test host itself; the body, or what went wrong.
fn fetch(host: &TestHost, ip: &str, port: u16) -> String {
    let out = host.sh(&http_get("busybox nc", ip, port));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fetches `http://IP:PORT/` from a new container on the host's bridge.
fn fetch_from_container(host: &TestHost, ip: &str, port: u16) -> String {
    let out = host.engine.run(&[
        "container",
        "run",
        "--rm",
        "--network",
        "bridge",
        "test:latest",
        "sh",
        "-c",
        &http_get("nc", ip, port),
    ]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Retries `f` for up to 10 s (a server needs a moment to listen).
fn eventually(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Waits until `f` returns output containing `want`.
fn reaches(what: &str, want: &str, mut f: impl FnMut() -> String) {
    eventually(what, || {
        let got = f();
        if got.contains(want) {
            Ok(())
        } else {
            Err(format!("wanted {want:?}, got {got:?}"))
        }
    });
}

/// Skiff's table as nft lists it ("" when there is none).
fn skiff_table(host: &TestHost) -> String {
    let out = host.sh("nft list table ip skiff");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `elements = …` lines of Skiff's maps, one string.
fn elements(host: &TestHost) -> String {
    skiff_table(host)
        .lines()
        .filter(|l| {
            l.contains("elements") || l.trim_start().starts_with(|c: char| c.is_ascii_digit())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Makes a table of another owner, with a chain and a rule, in the host's namespace; returns
/// how nft lists it.
fn other_table(host: &TestHost) -> String {
    host.sh_ok(
        "nft add table ip other && \
         nft add chain ip other input '{ type filter hook input priority 0; policy accept; }' && \
         nft add rule ip other input tcp dport 9 counter && \
         nft add chain ip other postrouting '{ type nat hook postrouting priority 100; }' && \
         nft add rule ip other postrouting ip saddr 192.0.2.0/24 masquerade",
    );
    host.sh_ok("nft list table ip other")
}

/// The node's published ports in its state file.
fn state_ports(host: &TestHost) -> serde_json::Value {
    let path = host.engine.data().join("network/state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "{}".into());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.get("ports").cloned().unwrap_or(serde_json::json!([]))
}

/// A process started in a test host's namespace, killed (by its pid) when dropped.
struct Background(Child);

impl Background {
    fn start(host: &TestHost, script: &str) -> Background {
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", host.netns))
            .args(["sh", "-c", &format!("exec {script}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run nsenter");
        Background(child)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pids of a running container's shim and process.
fn shim_and_process(host: &TestHost, id: &str) -> [i32; 2] {
    let info = host.engine.ok(&["container", "inspect", id]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    ["shim_pid", "pid"].map(|k| v["shim"][k].as_i64().unwrap() as i32)
}

#[test]
fn a_published_port_is_reached_from_another_host_the_node_and_containers_on_it() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    let theirs = other_table(node);
    web(node, "web", &["-p", "8080:80"], "hello-web");
    reaches("host1 → 10.0.0.1:8080", "hello-web", || {
        fetch(other, "10.0.0.1", 8080)
    });
    // From the node itself, on its own address and on loopback (route_localnet).
    reaches("node → 10.0.0.1:8080", "hello-web", || {
        fetch(node, "10.0.0.1", 8080)
    });
    reaches("node → 127.0.0.1:8080", "hello-web", || {
        fetch(node, "127.0.0.1", 8080)
    });
    assert_eq!(
        node.sh_ok("cat /proc/sys/net/ipv4/conf/skiff0/route_localnet")
            .trim(),
        "1"
    );
    // Hairpin: another container through the node's address, and the container itself.
    reaches("container → 10.0.0.1:8080", "hello-web", || {
        fetch_from_container(node, "10.0.0.1", 8080)
    });
    reaches("web → its own 10.0.0.1:8080", "hello-web", || {
        let out = node.engine.run(&[
            "container",
            "exec",
            "web",
            "sh",
            "-c",
            &http_get("nc", "10.0.0.1", 8080),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    assert_eq!(node.sh_ok("nft list table ip other"), theirs);
    node.engine.ok(&["container", "rm", "-f", "web"]);
    // Nothing needs Skiff's table any more: it is gone, the other one is as it was.
    assert_eq!(skiff_table(node), "");
    assert_eq!(node.sh_ok("nft list table ip other"), theirs);
    assert_eq!(
        node.sh_ok("cat /proc/sys/net/ipv4/conf/skiff0/route_localnet")
            .trim(),
        "0"
    );
    let refused = fetch(other, "10.0.0.1", 8080);
    assert!(!refused.contains("hello-web"), "{refused}");
}

/// A UDP echo server in Perl's core built-ins (no modules): busybox has no UDP server.
const UDP_ECHO: &str = r#"socket(S, 2, 2, 17) or die "socket: $!"; bind(S, pack("Sna4x8", 2, 53, "\0\0\0\0")) or die "bind: $!"; while (1) { my $from = recv(S, my $m, 512, 0); send(S, "pong $m", 0, $from); }"#;

/// A shell command sending one UDP datagram to IP:PORT and printing the answer.
fn udp_ask(ip: [u8; 4], port: u16) -> String {
    let [a, b, c, d] = ip;
    format!(
        r#"perl -e 'socket(S, 2, 2, 17) or die; send(S, "ping", 0, pack("Sna4x8", 2, {port}, pack("C4", {a}, {b}, {c}, {d}))) or die "send: $!"; my $r = ""; eval {{ local $SIG{{ALRM}} = sub {{ die "timeout\n" }}; alarm 1; recv(S, $r, 512, 0); alarm 0; }}; print $r'"#
    )
}

#[test]
fn a_udp_port_is_published() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    // The host's perl and its libraries, read-only.
    node.engine.ok(&[
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        "echo",
        "-p",
        "5353:53/udp",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "test:latest",
        "/usr/bin/perl",
        "-e",
        UDP_ECHO,
    ]);
    reaches("host1 → 10.0.0.1:5353/udp", "pong ping", || {
        other.sh_ok(&udp_ask([10, 0, 0, 1], 5353))
    });
    // In the UDP map only.
    assert!(elements(node).contains("5353 : 10.87.0.2 . 53"));
    let tcp = node.sh_ok("nft list map ip skiff tcp_any");
    assert!(!tcp.contains("elements"), "{tcp}");
    node.engine.ok(&["container", "rm", "-f", "echo"]);
    assert_eq!(other.sh_ok(&udp_ask([10, 0, 0, 1], 5353)), "");
}

#[test]
fn a_port_published_on_loopback_is_reached_from_the_node_only() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    web(node, "local", &["-p", "127.0.0.1:8081:80"], "only-local");
    reaches("node → 127.0.0.1:8081", "only-local", || {
        fetch(node, "127.0.0.1", 8081)
    });
    for (from, ip) in [(other, "10.0.0.1"), (node, "10.0.0.1")] {
        let got = fetch(from, ip, 8081);
        assert!(!got.contains("only-local"), "{} → {ip}: {got}", from.netns);
    }
    let got = fetch_from_container(node, "10.0.0.1", 8081);
    assert!(!got.contains("only-local"), "container → 10.0.0.1: {got}");
}

#[test]
fn a_conflicting_port_is_refused_at_create_and_leaves_nothing() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let first = web(node, "first", &["-p", "8080:80"], "first");
    // A program on the node listening on 7000.
    let _listener = Background::start(node, "busybox nc -l -p 7000");
    eventually("the listener", || {
        let ss = node.sh_ok("ss -Htln 'sport = :7000'");
        if ss.contains("7000") {
            Ok(())
        } else {
            Err(ss)
        }
    });
    let table = skiff_table(node);
    let ports = state_ports(node);
    let dirs = node.engine.container_dirs();
    assert_eq!(ports.as_array().unwrap().len(), 1, "{ports}");
    let cases: [(&[&str], String); 4] = [
        (
            &["-p", "9090:80", "-p", "127.0.0.1:8080:80"],
            format!(
                "127.0.0.1:8080/tcp conflicts with 8080/tcp, published by container first ({}): \
                 choose another host port, or remove that container",
                &first[..12]
            ),
        ),
        (
            &["-p", "8079-8081:79-81"],
            "8080/tcp conflicts with 8080/tcp, published by container first".into(),
        ),
        (
            &["-p", "9000:80", "-p", "9000:81"],
            "9000/tcp and 9000/tcp are both asked for".into(),
        ),
        (
            &["-p", "7000:80"],
            "7000/tcp: a program on the node already uses this port".into(),
        ),
    ];
    for (flags, want) in cases {
        for verb in ["create", "run"] {
            let mut args = vec!["container", verb, "--network", "bridge", "--name", "second"];
            if verb == "run" {
                args.push("-d");
            }
            args.extend_from_slice(flags);
            args.push("test:latest");
            let err = node.engine.fails(&args);
            assert!(err.contains(&want), "{verb} {flags:?}: {err}");
            assert_eq!(skiff_table(node), table, "{verb} {flags:?}");
            assert_eq!(state_ports(node), ports, "{verb} {flags:?}");
            assert_eq!(node.engine.container_dirs(), dirs, "{verb} {flags:?}");
        }
    }
    // Another protocol on the same port, another address for a port held on one: fine.
    let udp = id_of(&node.engine.ok(&[
        "container",
        "create",
        "--network",
        "bridge",
        "-p",
        "8080:80/udp",
        "test:latest",
    ]));
    node.engine.ok(&["container", "rm", &udp]);
    assert_eq!(skiff_table(node), table);
}

#[test]
fn removal_takes_the_ports_out_however_the_container_ended() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    let theirs = other_table(node);
    web(node, "kept", &["-p", "8081:80"], "kept");
    // --rm: the shim removes it when it ends.
    node.engine.ok(&[
        "container",
        "run",
        "-d",
        "--rm",
        "--network",
        "bridge",
        "-p",
        "8082:80",
        "test:latest",
        "sleep",
        "1",
    ]);
    let killed = web(
        node,
        "killed",
        &["-p", "8083:80", "-p", "8084:80/udp"],
        "killed",
    );
    let all = elements(node);
    for p in ["8081", "8082", "8083", "8084"] {
        assert!(all.contains(p), "{p}: {all}");
    }
    eventually("the --rm container's ports go", || {
        let e = elements(node);
        if e.contains("8082") {
            Err(e)
        } else {
            Ok(())
        }
    });
    // Shim and process killed behind the engine's back, then removed.
    for pid in shim_and_process(node, &killed) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    node.engine.ok(&["container", "rm", "-f", "killed"]);
    let left = elements(node);
    assert!(left.contains("8081"), "{left}");
    for p in ["8082", "8083", "8084"] {
        assert!(!left.contains(p), "{p}: {left}");
    }
    assert_eq!(state_ports(node).as_array().unwrap().len(), 1);
    node.engine.ok(&["container", "rm", "-f", "kept"]);
    assert_eq!(skiff_table(node), "");
    assert_eq!(state_ports(node), serde_json::json!([]));
    assert_eq!(node.sh_ok("nft list table ip other"), theirs);
}

#[test]
fn masquerading_is_off_by_default_and_on_with_the_flag() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    let docroot = tempfile::tempdir().unwrap();
    std::fs::write(docroot.path().join("index.html"), "from-host1\n").unwrap();
    let _server = Background::start(
        other,
        &format!("busybox httpd -f -p 9000 -h {}", docroot.path().display()),
    );
    reaches("host1's server", "from-host1", || {
        fetch(other, "10.0.0.2", 9000)
    });
    let rule = "oifname != \"skiff0\" masquerade";
    web(node, "web", &["-p", "8080:80"], "web");
    let table = skiff_table(node);
    assert!(!table.contains(rule), "{table}");
    // Without it, host1 cannot answer the node subnet (it has no route there).
    let got = fetch_from_container(node, "10.0.0.2", 9000);
    assert!(!got.contains("from-host1"), "{got}");
    let out = node.engine.ok(&[
        "container",
        "run",
        "--rm",
        "--masquerade",
        "--network",
        "bridge",
        "test:latest",
        "sh",
        "-c",
        &http_get("nc", "10.0.0.2", 9000),
    ]);
    assert!(out.contains("from-host1"), "{out}");
    let table = skiff_table(node);
    assert!(
        table.contains(&format!("ip saddr 10.87.0.0/16 {rule}")),
        "{table}"
    );
    // The published port kept working through the change.
    reaches("host1 → 10.0.0.1:8080", "web", || {
        fetch(other, "10.0.0.1", 8080)
    });
}

#[test]
fn a_lost_table_is_rebuilt_when_a_container_starts() {
    let net = TestNet::new(2);
    let (node, other) = (&net.hosts[0], &net.hosts[1]);
    web(node, "web", &["-p", "8080:80"], "rebuilt");
    reaches("host1 → 10.0.0.1:8080", "rebuilt", || {
        fetch(other, "10.0.0.1", 8080)
    });
    let table = skiff_table(node);
    // As a reboot or an operator's flush would leave it.
    node.sh_ok("nft delete table ip skiff");
    node.engine.ok(&["container", "stop", "-t", "1", "web"]);
    node.engine.ok(&["container", "start", "web"]);
    assert_eq!(skiff_table(node), table);
    reaches("host1 → 10.0.0.1:8080 again", "rebuilt", || {
        fetch(other, "10.0.0.1", 8080)
    });
}

/// A container that routes 127.0.0.1 out of its eth0 (it may: NET_ADMIN) and, a second
/// after it started (and its start restored Skiff's table), sends to 127.0.0.1:9999 through
/// the node; `meanwhile` runs in that second.
fn loopback_probe(node: &TestHost, meanwhile: impl FnOnce()) {
    let script = "ip route del local 127.0.0.0/8 dev lo table local; \
         ip route del local 127.0.0.1 dev lo table local; \
         ip route add 127.0.0.1/32 via 10.87.0.1 dev eth0 && sleep 1 && \
         echo hi | nc -w 1 127.0.0.1 9999";
    let id = id_of(&node.engine.ok(&[
        "container",
        "run",
        "-d",
        "--cap-add",
        "NET_ADMIN",
        "--network",
        "bridge",
        "test:latest",
        "sh",
        "-c",
        script,
    ]));
    meanwhile();
    node.engine.ok(&["container", "wait", &id]);
    node.engine.ok(&["container", "rm", &id]);
}

/// How many packets from the bridge to a loopback address the node took in.
fn loopback_arrivals(node: &TestHost) -> u64 {
    let chain = node.sh_ok("nft list chain ip watch input");
    chain
        .split("counter packets ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {chain}"))
}

#[test]
fn containers_do_not_reach_the_nodes_loopback_through_route_localnet() {
    let net = TestNet::new(1);
    let node = &net.hosts[0];
    // Counts what reaches the node's local delivery from the bridge for 127.0.0.0/8.
    node.sh_ok(
        "nft add table ip watch && \
         nft add chain ip watch input '{ type filter hook input priority 0; policy accept; }' && \
         nft add rule ip watch input iifname skiff0 ip daddr 127.0.0.0/8 counter",
    );
    web(node, "web", &["-p", "8080:80"], "web");
    assert_eq!(
        node.sh_ok("cat /proc/sys/net/ipv4/conf/skiff0/route_localnet")
            .trim(),
        "1"
    );
    loopback_probe(node, || {});
    assert_eq!(loopback_arrivals(node), 0);
    // The path is real: without the guard chain (taken out after the probe's start put it
    // back) the same packets get in.
    loopback_probe(node, || {
        node.sh_ok("nft delete chain ip skiff guard");
    });
    assert!(loopback_arrivals(node) > 0);
}
