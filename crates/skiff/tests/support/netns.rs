//! Test "hosts" for the networking tests: each host is a network namespace this test makes,
//! plugged by a veth (`eth0`, 10.0.0.N/24) into a bridge (`br0`) inside a "switch" namespace
//! of its own, with its own engine data directory. Nothing is made in, or sent to, the test
//! process's own network namespace. Dropping a [`TestNet`] removes every container (through
//! each host's engine, inside its namespace) and then the namespaces, even when the test fails.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::TestEngine;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A switch and its hosts.
#[derive(Debug)]
pub struct TestNet {
    /// The hosts, in order: host i has address 10.0.0.(i+1).
    pub hosts: Vec<TestHost>,
    switch: String,
}

/// One test host.
#[derive(Debug)]
pub struct TestHost {
    /// Its engine (commands run in its namespace).
    pub engine: TestEngine,
    /// Its network namespace's name (under /run/netns).
    pub netns: String,
    /// Its address on the switch.
    pub addr: Ipv4Addr,
}

/// Runs `ip ARGS…` and insists on success.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestNet {
    /// A switch with `n` hosts, each with the test image loaded.
    pub fn new(n: usize) -> TestNet {
        TestNet::with_engines_at(n, "data")
    }

    /// Like [`TestNet::new`], each host's engine data directory named `data_name` (see
    /// [`TestEngine::with_image_at`]).
    pub fn with_engines_at(n: usize, data_name: &'static str) -> TestNet {
        let tag = format!(
            "skt{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let switch = format!("{tag}sw");
        ip(&["netns", "add", &switch]);
        let mut net = TestNet {
            hosts: Vec::new(),
            switch: switch.clone(),
        };
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        for i in 0..n {
            let netns = format!("{tag}h{i}");
            ip(&["netns", "add", &netns]);
            let addr = Ipv4Addr::new(10, 0, 0, i as u8 + 1);
            // Both ends are made where they live: nothing passes through our namespace.
            let port = format!("p{i}");
            ip(&[
                "-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &netns,
            ]);
            ip(&["-n", &switch, "link", "set", &port, "master", "br0", "up"]);
            ip(&["-n", &netns, "link", "set", "lo", "up"]);
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &netns, "link", "set", "eth0", "up"]);
            let engine = TestEngine::with_image_at(Some(&netns), data_name);
            net.hosts.push(TestHost {
                engine,
                netns,
                addr,
            });
        }
        net
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // The engines first: they remove their containers inside their namespaces.
        let hosts: Vec<TestHost> = self.hosts.drain(..).collect();
        let names: Vec<String> = hosts.iter().map(|h| h.netns.clone()).collect();
        drop(hosts);
        for ns in names.iter().chain(std::iter::once(&self.switch)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl TestHost {
    /// Runs `sh -c SCRIPT` in the host's network namespace (host tools: ip, nft, busybox).
    pub fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args(["sh", "-c", script])
            .output()
            .expect("run nsenter")
    }

    /// Like [`TestHost::sh`], insisting on success; returns stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script} in {} failed ({}):\nstdout: {}\nstderr: {}",
            self.netns,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The links of the host's namespace (`ip -o link` names).
    pub fn links(&self) -> Vec<String> {
        self.sh_ok("ip -o link show")
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }
}

impl TestHost {
    /// `skiff container inspect ID` as JSON.
    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let out = self.engine.ok(&["container", "inspect", id]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if v.is_array() {
            v[0].clone()
        } else {
            v
        }
    }

    /// A bridge container's address.
    pub fn ip_of(&self, id: &str) -> String {
        let v = self.inspect(id);
        v["network"]["ip"]
            .as_str()
            .unwrap_or_else(|| panic!("no network.ip in {v}"))
            .to_string()
    }
}

/// Retries `f` for up to 10 s (a server needs a moment to listen, the kernel to tear a pair
/// down); panics with its last error.
pub fn eventually(mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
