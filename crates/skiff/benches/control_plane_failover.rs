//! Leader failover under load: the time from SIGKILL of the Raft leader until a write sent after
//! the kill is acknowledged, Skiff against a three-member etcd, each on a fresh cluster of three
//! processes on 127.0.0.1 per run (see docs/control-plane.md, "Benchmarks").
//!
//! `cargo bench -p skiff --bench control_plane_failover [-- --runs 5 --clients 16 …]`; each
//! knob is also an environment variable (`RUNS=10 cargo bench …`).

mod control_plane;

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use control_plane::load::{Load, LoadConfig};
use control_plane::{admin_http, Cluster, Common, System};

/// Leader failover time under load, Skiff against etcd.
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent clients, each with one write in flight.
    #[arg(long, env = "CLIENTS", default_value_t = 16)]
    clients: usize,
    /// Kills per system, each on a fresh cluster.
    #[arg(long, env = "RUNS", default_value_t = 5)]
    runs: usize,
    /// Seconds of load before the kill.
    #[arg(long, env = "WARMUP_SECS", default_value_t = 2.0)]
    warmup: f64,
    /// The longest a write is waited for, in milliseconds, before it is given up and retried
    /// on the next member (clients wait from half of it to all of it): it bounds how long a
    /// client stays stuck on a write its member lost.
    #[arg(long, env = "TIMEOUT_MS", default_value_t = 200)]
    timeout_ms: u64,
    /// Seconds to wait for a write after the kill before the run counts as failed.
    #[arg(long, env = "LIMIT_SECS", default_value_t = 15.0)]
    limit: f64,
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = LoadConfig {
        clients: args.clients,
        keys_per_client: args.common.keys_per_client,
        value_bytes: args.common.value_bytes,
        timeout: Duration::from_millis(args.timeout_ms),
        window: None,
    };
    let http = admin_http();
    let mut results = Vec::new();
    'systems: for system in args.common.runnable_systems() {
        let mut times = Vec::new();
        for run in 1..=args.runs {
            match one_run(system, &args, &config, &http).await {
                Ok(time) => times.push(time),
                // One system that fails does not keep the other from being measured.
                Err(e) => {
                    println!("{} run {run}: not measured: {e:#}", system.name());
                    continue 'systems;
                }
            }
        }
        results.push((system, times));
    }
    println!(
        "\nleader failover: SIGKILL of the leader of 3 members on 127.0.0.1 under {} \
         closed-loop clients (client timeouts up to {} ms), until a write sent after the kill is \
         acknowledged; {} runs, a fresh cluster each",
        args.clients, args.timeout_ms, args.runs
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>8}",
        "system", "median", "min", "max", "failed"
    );
    for (system, times) in &results {
        let mut ok: Vec<Duration> = times.iter().flatten().copied().collect();
        ok.sort();
        let secs =
            |d: Option<&Duration>| d.map_or("-".into(), |d| format!("{:.3}s", d.as_secs_f64()));
        println!(
            "{:<8} {:>10} {:>10} {:>10} {:>8}",
            system.name(),
            secs(ok.get(ok.len() / 2)),
            secs(ok.first()),
            secs(ok.last()),
            times.len() - ok.len()
        );
        if *system == System::Skiff {
            let met = ok.len() == times.len() && ok.last() < Some(&Duration::from_millis(1500));
            let verdict = if met { "met" } else { "NOT met" };
            println!("skiff target: every failover under 1.5 s: {verdict}");
        }
    }
    Ok(())
}

/// One run: a fresh cluster under load, its leader killed; how long until writes succeed again
/// (`None`: not within the limit).
async fn one_run(
    system: System,
    args: &Args,
    config: &LoadConfig,
    http: &reqwest::Client,
) -> anyhow::Result<Option<Duration>> {
    let mut cluster = Cluster::start(system, http).await?;
    let load = Load::start(cluster.api(), config);
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let leader = cluster.leader(http).await?;
    let (pid, at) = cluster.kill(leader).context("the leader is not running")?;
    load.killed_at(at);
    let recovery = load.recovery(Duration::from_secs_f64(args.limit)).await;
    let summary = load.stop().await;
    drop(cluster);
    let took = recovery.map_or("none within the limit".into(), |d| {
        format!("{:.3} s", d.as_secs_f64())
    });
    println!(
        "{} run: killed the leader, member {} (pid {pid}); first write sent after the kill \
         acknowledged after {took}; {} writes acknowledged, {} failed in the run",
        system.name(),
        leader + 1,
        summary.acked,
        summary.errors
    );
    Ok(recovery)
}
