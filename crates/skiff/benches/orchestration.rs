//! The orchestrator at scale and a node's failover, on three `skiff server` processes on
//! 127.0.0.1 with simulated nodes (`skiff agent --simulate N`: real registrations and gRPC
//! sessions, a fake engine that reports each task running at once). See
//! docs/orchestration.md, "Benchmarks".
//!
//! `cargo bench -p skiff --bench orchestration [-- --nodes 1000 --tasks 50000 --failover-runs 3]`
//!
//! * scale: time from the apply of an app of `--tasks` replicas (spread over services of at most
//!   10,000) until every task is reported running on `--nodes` simulated nodes, and the largest
//!   resident memory of a server meanwhile. Targets: under 30 s, under 1 GiB (Nomad's C1M ran
//!   one million containers on 5,000 nodes in under 5 minutes with many servers).
//! * failover: three simulated nodes in one process and one in another; an app of 8 replicas;
//!   the lone node's process is killed; time until its tasks run on the others. Target: under the
//!   grace period (5 s) + 2 s.

mod control_plane;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use control_plane::process::{temp_dir, Proc};
use control_plane::skiff::{bin, SkiffCluster};
use control_plane::{admin_http, SKIFF_ENV};
use serde_json::Value;

/// The orchestrator at scale and a node's failover.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated nodes for the scale run.
    #[arg(long, env = "NODES", default_value_t = 1000)]
    nodes: usize,
    /// Tasks for the scale run.
    #[arg(long, env = "TASKS", default_value_t = 50_000)]
    tasks: usize,
    /// Failover runs, each on a fresh cluster.
    #[arg(long, env = "FAILOVER_RUNS", default_value_t = 3)]
    failover_runs: usize,
    /// Skip the scale run.
    #[arg(long)]
    no_scale: bool,
    /// Accepted for `cargo bench`'s sake.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    if !args.no_scale {
        let (took, rss) = scale(&http, args.nodes, args.tasks).await?;
        println!(
            "scale: {} tasks on {} simulated nodes running {:.2} s after the apply (target < 30 s); \
             largest server memory {} MiB (target < 1024 MiB)",
            args.tasks,
            args.nodes,
            took.as_secs_f64(),
            rss >> 20
        );
    }
    let mut times = Vec::new();
    for run in 1..=args.failover_runs {
        let took = failover(&http)
            .await
            .with_context(|| format!("failover run {run}"))?;
        println!("failover run {run}: {:.2} s", took.as_secs_f64());
        times.push(took);
    }
    if !times.is_empty() {
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "failover: median {:.2} s over {} runs (target < grace 5 s + 2 s = 7 s)",
            median.as_secs_f64(),
            times.len()
        );
    }
    Ok(())
}

/// `skiff agent --simulate n --simulate-prefix prefix` against the cluster.
fn simulate(cluster: &SkiffCluster, dir: &std::path::Path, n: usize, prefix: &str) -> Result<Proc> {
    let servers: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.trim_start_matches("http://").to_owned())
        .collect();
    let mut cmd = Command::new(bin());
    cmd.arg("agent")
        .args(["--server", &servers.join(",")])
        .args(["--token", cluster.token()])
        .args(["--simulate", &n.to_string(), "--simulate-prefix", prefix]);
    Proc::spawn(prefix, cmd, dir.join(format!("{prefix}.log")))
}

/// A compose file of `tasks` replicas of busybox, in services of at most 10,000.
fn compose(tasks: usize) -> String {
    let mut yaml = String::from("name: load\nservices:\n");
    let mut left = tasks;
    let mut i = 0;
    while left > 0 {
        let n = left.min(10_000);
        yaml.push_str(&format!(
            "  s{i}:\n    image: busybox\n    command: [sleep, '3600']\n    deploy:\n      replicas: {n}\n"
        ));
        left -= n;
        i += 1;
    }
    yaml
}

async fn apply(http: &reqwest::Client, cluster: &SkiffCluster, yaml: String) -> Result<()> {
    let url = format!("{}/v1/envs/{SKIFF_ENV}/apps", cluster.urls()[0]);
    let resp = http
        .post(url)
        .bearer_auth(cluster.token())
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("apply: {}: {}", resp.status(), resp.text().await?);
    }
    Ok(())
}

/// The tasks of the benchmark's environment, read from member `member` (stale reads, so that
/// a follower answers and the leader is left to its work).
async fn tasks(
    http: &reqwest::Client,
    cluster: &SkiffCluster,
    member: usize,
) -> Result<Vec<Value>> {
    let url = format!(
        "{}/v1/tasks?env={SKIFF_ENV}&stale=true",
        cluster.urls()[member]
    );
    let list: Value = http
        .get(url)
        .bearer_auth(cluster.token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(list["items"]
        .as_array()
        .map(|a| a.iter().map(|r| r["object"]["task"].clone()).collect())
        .unwrap_or_default())
}

fn running_on(tasks: &[Value]) -> BTreeMap<String, usize> {
    let mut by_node = BTreeMap::new();
    for t in tasks {
        if t["desired"] == "running" && t["observed"] == "running" {
            let node = t["node"].as_str().unwrap_or("-").to_owned();
            *by_node.entry(node).or_default() += 1;
        }
    }
    by_node
}

async fn nodes_ready(http: &reqwest::Client, cluster: &SkiffCluster) -> usize {
    let url = format!("{}/v1/nodes?stale=true", cluster.urls()[0]);
    let Ok(resp) = http.get(url).bearer_auth(cluster.token()).send().await else {
        return 0;
    };
    let list: Value = resp.json().await.unwrap_or_default();
    list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["object"]["node"]["status"] == "ready")
                .count()
        })
        .unwrap_or(0)
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

async fn scale(http: &reqwest::Client, nodes: usize, total: usize) -> Result<(Duration, u64)> {
    let admin = admin_http();
    let mut cluster = SkiffCluster::start(&admin).await?;
    let dir = temp_dir("skiff-bench-orch-")?;
    let mut sim = simulate(&cluster, dir.path(), nodes, "sim")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while nodes_ready(http, &cluster).await < nodes {
        sim.check_running()?;
        if Instant::now() > deadline {
            bail!("{nodes} nodes did not register within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pids: Vec<u32> = cluster.members().iter().filter_map(Proc::pid).collect();
    let start = Instant::now();
    apply(http, &cluster, compose(total)).await?;
    let mut rss = 0;
    let mut last_report = Instant::now();
    loop {
        sim.check_running()?;
        rss = pids
            .iter()
            .map(|p| rss_bytes(*p))
            .max()
            .unwrap_or(0)
            .max(rss);
        let tasks = tasks(http, &cluster, 1).await?;
        let running: usize = running_on(&tasks).values().sum();
        if running >= total {
            return Ok((start.elapsed(), rss));
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "scale: {running}/{total} running after {:.0} s ({} tasks listed)",
                start.elapsed().as_secs_f64(),
                tasks.len()
            );
            last_report = Instant::now();
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("only {running}/{total} tasks running after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn failover(http: &reqwest::Client) -> Result<Duration> {
    let admin = admin_http();
    let cluster = SkiffCluster::start(&admin).await?;
    let dir = temp_dir("skiff-bench-failover-")?;
    let _stay = simulate(&cluster, dir.path(), 3, "stay")?;
    let mut lone = simulate(&cluster, dir.path(), 1, "lone")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while nodes_ready(http, &cluster).await < 4 {
        if Instant::now() > deadline {
            bail!("4 nodes did not register within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    apply(http, &cluster, compose(8)).await?;
    loop {
        let by_node = running_on(&tasks(http, &cluster, 0).await?);
        if by_node.values().sum::<usize>() >= 8 && by_node.contains_key("lone-1") {
            break;
        }
        if Instant::now() > deadline {
            bail!("8 tasks, some on lone-1, not running within 60 s: {by_node:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed = lone
        .kill()
        .context("the lone node's process was gone already")?;
    loop {
        let by_node = running_on(&tasks(http, &cluster, 0).await?);
        let elsewhere: usize = by_node
            .iter()
            .filter(|(n, _)| *n != "lone-1")
            .map(|(_, c)| c)
            .sum();
        if elsewhere >= 8 {
            return Ok(killed.elapsed());
        }
        if killed.elapsed() > Duration::from_secs(60) {
            bail!("the lone node's tasks were not replaced within 60 s: {by_node:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
