//! Replicated write throughput and latency: Skiff's API against a three-member etcd, both run
//! here as three processes on 127.0.0.1 and measured in the same run under the same closed-loop
//! load of small writes (see docs/control-plane.md, "Benchmarks").
//!
//! `cargo bench -p skiff --bench control_plane_write [-- --clients 64 --duration 10 …]`; each
//! knob is also an environment variable (`CLIENTS=32 cargo bench …`).

mod control_plane;

use std::time::Duration;

use clap::Parser;
use control_plane::load::{Load, LoadConfig, Summary};
use control_plane::{admin_http, ms, Cluster, Common, System};

/// Replicated write throughput and latency, Skiff against etcd.
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent clients, each with one write in flight.
    #[arg(long, env = "CLIENTS", default_value_t = 64)]
    clients: usize,
    /// Seconds of load before the measurement.
    #[arg(long, env = "WARMUP_SECS", default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, env = "DURATION_SECS", default_value_t = 10.0)]
    duration: f64,
    /// The longest a write is waited for, in milliseconds, before it counts as an error
    /// (clients wait from half of it to all of it).
    #[arg(long, env = "TIMEOUT_MS", default_value_t = 5000)]
    timeout_ms: u64,
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let config = LoadConfig {
        clients: args.clients,
        keys_per_client: args.common.keys_per_client,
        value_bytes: args.common.value_bytes,
        timeout: Duration::from_millis(args.timeout_ms),
        window: Some((warmup, warmup + duration)),
    };
    let http = admin_http();
    let mut results = Vec::new();
    for system in args.common.runnable_systems() {
        println!("{}: starting 3 members", system.name());
        // One system that fails to start does not keep the other from being measured.
        let cluster = match Cluster::start(system, &http).await {
            Ok(cluster) => cluster,
            Err(e) => {
                println!("{}: not measured: {e:#}", system.name());
                continue;
            }
        };
        let load = Load::start(cluster.api(), &config);
        tokio::time::sleep(warmup + duration).await;
        let summary = load.stop().await;
        drop(cluster);
        results.push((system, summary));
    }
    println!(
        "\nreplicated writes: 3 members on 127.0.0.1, {} closed-loop clients, {}-byte values, \
         {} keys per client, {:.0} s warm-up then {:.0} s measured",
        args.clients, config.value_bytes, config.keys_per_client, args.warmup, args.duration
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "system", "ops/s", "p50", "p90", "p99", "max", "errors"
    );
    for (system, s) in &results {
        println!(
            "{:<8} {:>10.1} {:>10} {:>10} {:>10} {:>10} {:>8}",
            system.name(),
            s.latencies.len() as f64 / args.duration,
            ms(s.percentile(50.0)),
            ms(s.percentile(90.0)),
            ms(s.percentile(99.0)),
            ms(s.percentile(100.0)),
            s.window_errors
        );
    }
    let find = |wanted| results.iter().find(|(s, _)| *s == wanted).map(|(_, r)| r);
    if let (Some(skiff), Some(etcd)) = (find(System::Skiff), find(System::Etcd)) {
        report_ratios(skiff, etcd);
    }
    Ok(())
}

fn report_ratios(skiff: &Summary, etcd: &Summary) {
    let throughput = skiff.latencies.len() as f64 / etcd.latencies.len().max(1) as f64;
    let p99 = skiff.percentile(99.0).as_secs_f64() / etcd.percentile(99.0).as_secs_f64();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "skiff/etcd throughput: {throughput:.2} (target >= 1.0: {})",
        verdict(throughput >= 1.0)
    );
    println!(
        "skiff p99 / etcd p99:  {p99:.2} (target <= 1.0: {})",
        verdict(p99 <= 1.0)
    );
}
