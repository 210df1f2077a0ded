//! Service traffic through a virtual IP against the same traffic straight to the task's
//! address: TCP from a container on one test host to a container on another, across Skiff's
//! overlay, once to the server container's address and once to a service virtual IP whose one
//! backend is that container (`skiff network vips`: nftables DNAT on the client's node). Same
//! tool (iperf3), same duration, interleaved. Target: the virtual IP carries at least 0.9 of
//! the direct throughput (issue 8).
//!
//! `cargo bench -p skiff --bench vip_throughput` as root; needs iperf3. `RUNS=N` (default 7),
//! `SECONDS=N` per run (default 5). The hosts are network namespaces on a switch namespace of
//! their own (`tests/support/netns.rs`); everything is removed at the end, also on failure.

mod netbench;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use netbench::{client, median, need_iperf3, server, skiff, sleeper, two_hosts, Servers, SUBNETS};

/// The target ratio virtual IP / direct.
const TARGET: f64 = 0.9;
/// The virtual IP the benchmark gives the server container.
const VIP: &str = "10.96.0.10";

fn main() {
    need_iperf3();
    let runs: usize = netbench::env_or("RUNS", 7);
    let seconds: u64 = netbench::env_or("SECONDS", 5);

    let net = two_hosts();
    let (pid0, _) = sleeper(&net.hosts[0], SUBNETS[0]);
    let (pid1, ip1) = sleeper(&net.hosts[1], SUBNETS[1]);
    let vips = serde_json::json!([{"name": "bench/app/iperf", "vip": VIP, "backends": [ip1]}]);
    let file = net.hosts[0].engine.dir.path().join("vips.json");
    std::fs::write(&file, vips.to_string()).expect("write the list");
    skiff(
        &net.hosts[0],
        SUBNETS[0],
        &["network", "vips", file.to_str().unwrap()],
    );
    let container0 = format!("/proc/{pid0}/ns/net");
    let container1 = format!("/proc/{pid1}/ns/net");

    let _servers = Servers(vec![server(&container1, 5201)]);
    std::thread::sleep(Duration::from_millis(300));
    let through_vip = || client(&container0, VIP, 5201, seconds);
    let direct = || client(&container0, &ip1, 5201, seconds);
    through_vip();
    direct();

    let (mut v, mut d) = (Vec::new(), Vec::new());
    println!("TCP throughput, iperf3, {seconds} s per run, {runs} runs each, interleaved");
    println!(
        "{:>4} {:>24} {:>24}",
        "run", "through the VIP", "to the task's address"
    );
    for run in 1..=runs {
        let a = through_vip();
        let b = direct();
        println!(
            "{run:>4} {:>24} {:>24}",
            format!("{:.2} Gbit/s ({} retr)", a.gbits, a.retransmits),
            format!("{:.2} Gbit/s ({} retr)", b.gbits, b.retransmits)
        );
        v.push(a.gbits);
        d.push(b.gbits);
    }
    let (mv, md) = (median(&mut v), median(&mut d));
    println!("median through the virtual IP:  {mv:.2} Gbit/s");
    println!("median to the task's address:   {md:.2} Gbit/s");
    let ratio = mv / md;
    println!(
        "ratio VIP/direct: {ratio:.3} (target >= {TARGET}){}",
        if ratio >= TARGET {
            ""
        } else {
            "  BELOW TARGET"
        }
    );
}
