//! Overlay throughput: TCP from a container on one test host to a container on another,
//! across Skiff's VXLAN overlay, against the same test between the two hosts themselves over
//! the plain veth path the overlay runs on. Same tool (iperf3), same duration, interleaved.
//!
//! `cargo bench -p skiff --bench overlay_throughput` as root; needs iperf3
//! (`deploy/install-deps.sh` installs it). `RUNS=N` (default 7), `SECONDS=N` per run
//! (default 5). The hosts are network namespaces on a switch namespace of their own (the
//! tests' harness, `tests/support/netns.rs`): nothing is made in, or sent through, the
//! benchmark's own network namespace, and everything is removed at the end, also on failure.
//!
//! iperf3 runs inside each container's network namespace (`nsenter --net=/proc/PID/ns/net`),
//! so what is measured is the container's path: its veth, the bridge, the route into
//! `skiff.vxlan`, encapsulation, the underlay veth, and the same in reverse on the peer.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::netns::{TestHost, TestNet};

/// The target ratio overlay / plain.
const TARGET: f64 = 0.8;

fn main() {
    if Command::new("iperf3").arg("--version").output().is_err() {
        eprintln!("iperf3 is not installed (deploy/install-deps.sh, or apt-get install iperf3)");
        std::process::exit(2);
    }
    let runs: usize = env_or("RUNS", 7);
    let seconds: u64 = env_or("SECONDS", 5);

    let net = TestNet::new(2);
    let subnets = ["10.1.1.0/24", "10.1.2.0/24"];
    for (i, host) in net.hosts.iter().enumerate() {
        let peer = 1 - i;
        let peer_arg = format!("{}={}", net.hosts[peer].addr, subnets[peer]);
        skiff(
            host,
            subnets[i],
            &[
                "network",
                "overlay",
                "--quiet",
                "--local",
                &host.addr.to_string(),
                "--peer",
                &peer_arg,
            ],
        );
    }
    let (pid0, _) = sleeper(&net.hosts[0], subnets[0]);
    let (pid1, ip1) = sleeper(&net.hosts[1], subnets[1]);
    let container0 = format!("/proc/{pid0}/ns/net");
    let container1 = format!("/proc/{pid1}/ns/net");
    let host0 = format!("/run/netns/{}", net.hosts[0].netns);
    let host1 = format!("/run/netns/{}", net.hosts[1].netns);

    // Servers for the whole run, killed (by their pid) when `_servers` goes.
    let _servers = Servers(vec![server(&container1, 5201), server(&host1, 5202)]);
    std::thread::sleep(Duration::from_millis(300));

    let overlay = || client(&container0, &ip1, 5201, seconds);
    let plain = || client(&host0, &net.hosts[1].addr.to_string(), 5202, seconds);
    // Warm-up: ARP, routes, first connections.
    client(&container0, &ip1, 5201, 1);
    client(&host0, &net.hosts[1].addr.to_string(), 5202, 1);

    let mut o = Vec::new();
    let mut p = Vec::new();
    println!("TCP throughput, iperf3, {seconds} s per run, {runs} runs each, interleaved");
    println!(
        "{:>4} {:>24} {:>24}",
        "run", "container→container", "host→host (plain veth)"
    );
    for run in 1..=runs {
        let a = overlay();
        let b = plain();
        println!(
            "{run:>4} {:>24} {:>24}",
            format!("{:.2} Gbit/s ({} retr)", a.gbits, a.retransmits),
            format!("{:.2} Gbit/s ({} retr)", b.gbits, b.retransmits)
        );
        o.push(a.gbits);
        p.push(b.gbits);
    }
    let (mo, mp) = (median(&mut o), median(&mut p));
    println!("median container→container across the VXLAN overlay: {mo:.2} Gbit/s");
    println!("median host→host over the plain veth path:            {mp:.2} Gbit/s");
    let ratio = mo / mp;
    println!(
        "ratio overlay/plain: {ratio:.3} (target >= {TARGET}){}",
        if ratio >= TARGET {
            ""
        } else {
            "  BELOW TARGET"
        }
    );
    // (From `ip`: /sys/class/net shows the namespace /sys was mounted in, not ours.)
    let mtus = net.hosts[0].sh_ok("ip -o link show | awk '{print $2, $4, $5}'");
    println!("links on host 0 (name, mtu):");
    for line in mtus.lines().filter(|l| !l.starts_with("lo:")) {
        println!("  {line}");
    }
}

/// One iperf3 client run's result.
struct Result {
    gbits: f64,
    retransmits: u64,
}

/// Runs `iperf3 -c` in the network namespace `ns` (a file) against `ip:port`.
fn client(ns: &str, ip: &str, port: u16, seconds: u64) -> Result {
    let out = Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(["iperf3", "-J", "-c", ip, "-p", &port.to_string(), "-t"])
        .arg(seconds.to_string())
        .output()
        .expect("run iperf3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "iperf3 -c {ip}:{port} in {ns}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("iperf3's JSON");
    Result {
        gbits: v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .expect("bits_per_second")
            / 1e9,
        retransmits: v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
    }
}

/// Starts `iperf3 -s` in the network namespace `ns` (a file).
fn server(ns: &str, port: u16) -> Child {
    Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(["iperf3", "-s", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf3 -s")
}

/// The iperf3 servers this benchmark started.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a bridge container that sleeps on `host`; returns its init's pid and its address.
fn sleeper(host: &TestHost, subnet: &str) -> (i64, String) {
    let id = support::id_of(&skiff(
        host,
        subnet,
        &[
            "container",
            "run",
            "-d",
            "--network",
            "bridge",
            "test:latest",
            "sleep",
            "100000",
        ],
    ));
    let out = skiff(host, subnet, &["container", "inspect", &id]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    (
        v["shim"]["pid"].as_i64().expect("the container's pid"),
        v["network"]["ip"]
            .as_str()
            .expect("its address")
            .to_string(),
    )
}

/// `skiff GROUP --subnet SUBNET REST…` on `host`.
fn skiff(host: &TestHost, subnet: &str, args: &[&str]) -> String {
    let mut all = vec![args[0], "--subnet", subnet];
    all.extend_from_slice(&args[1..]);
    host.engine.ok(&all)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
