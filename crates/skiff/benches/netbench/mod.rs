//! What the network benchmarks share: two test hosts joined by Skiff's overlay, a sleeping
//! container on each, iperf3 clients and servers run in a network namespace, and medians.

use std::process::{Child, Command, Stdio};

use crate::support;
use crate::support::netns::{TestHost, TestNet};

/// The pod subnets of the two hosts.
pub const SUBNETS: [&str; 2] = ["10.1.1.0/24", "10.1.2.0/24"];

/// Exits with a message unless iperf3 is installed.
pub fn need_iperf3() {
    if Command::new("iperf3").arg("--version").output().is_err() {
        eprintln!("iperf3 is not installed (deploy/install-deps.sh, or apt-get install iperf3)");
        std::process::exit(2);
    }
}

/// Two test hosts whose engines are joined by the overlay (host i has `SUBNETS[i]`).
pub fn two_hosts() -> TestNet {
    let net = TestNet::new(2);
    for (i, host) in net.hosts.iter().enumerate() {
        let peer = 1 - i;
        let peer_arg = format!("{}={}", net.hosts[peer].addr, SUBNETS[peer]);
        skiff(
            host,
            SUBNETS[i],
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
    net
}

/// One iperf3 client run's result.
pub struct Result {
    pub gbits: f64,
    pub retransmits: u64,
}

/// Runs `iperf3 -c` in the network namespace `ns` (a file) against `ip:port`.
pub fn client(ns: &str, ip: &str, port: u16, seconds: u64) -> Result {
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
pub fn server(ns: &str, port: u16) -> Child {
    Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(["iperf3", "-s", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf3 -s")
}

/// The iperf3 servers this benchmark started.
pub struct Servers(pub Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a bridge container that sleeps on `host`; returns its init's pid and its address.
pub fn sleeper(host: &TestHost, subnet: &str) -> (i64, String) {
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
pub fn skiff(host: &TestHost, subnet: &str, args: &[&str]) -> String {
    let mut all = vec![args[0], "--subnet", subnet];
    all.extend_from_slice(&args[1..]);
    host.engine.ok(&all)
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
