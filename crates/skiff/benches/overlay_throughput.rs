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

mod netbench;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use netbench::{client, median, need_iperf3, server, sleeper, two_hosts, Servers, SUBNETS};

/// The target ratio overlay / plain.
const TARGET: f64 = 0.8;

fn main() {
    need_iperf3();
    let runs: usize = netbench::env_or("RUNS", 7);
    let seconds: u64 = netbench::env_or("SECONDS", 5);

    let net = two_hosts();
    let (pid0, _) = sleeper(&net.hosts[0], SUBNETS[0]);
    let (pid1, ip1) = sleeper(&net.hosts[1], SUBNETS[1]);
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
