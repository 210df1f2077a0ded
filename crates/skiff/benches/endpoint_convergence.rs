//! Endpoint convergence (issue 8): the time from a task becoming unhealthy until it receives
//! no more traffic through its service's virtual IP. Target: under 1 s.
//!
//! `cargo bench -p skiff --bench endpoint_convergence` as root. `RUNS=N` (default 5). It starts
//! the orchestration tests' cluster (`tests/orchestration_support/`: three hosts in network
//! namespaces, a server and an agent on each) and applies `web`, three replicas of busybox
//! httpd with a healthcheck every 100 ms (`test -f /ok`) under a shell that ignores SIGTERM, and
//! a stop grace period of 10 s: an unhealthy replica (which the agent stops) goes on answering
//! for 10 s unless traffic stops reaching it. A client in node1's namespace connects to the
//! virtual IP over and over, noting the wall-clock time of each answer; each run removes `/ok`
//! from the replica on node2 and reads, from the task's record, when its agent judged it
//! unhealthy (`updated_at`, the agent's clock — the same machine's). Convergence is the time of
//! the replica's last answer minus that verdict: the status report, Raft, the service data to
//! node1's session, node1's agent and its nftables. Detection (removal to verdict) is bounded
//! by the healthcheck interval and is reported apart.

#[path = "../tests/orchestration_support/mod.rs"]
mod orchestration_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use orchestration_support::client::{now_ms, Client};
use orchestration_support::TestCluster;
use serde_json::Value;

/// The target for convergence.
const TARGET: Duration = Duration::from_secs(1);

const APP: &str = r#"
name: conv
services:
  web:
    image: test:latest
    command: ["sh", "-c", "trap '' TERM; touch /ok && mkdir -p /www && hostname > /www/index.html && httpd -f -p 80 -h /www"]
    stop_grace_period: 10s
    healthcheck:
      test: ["CMD", "test", "-f", "/ok"]
      interval: 100ms
      timeout: 1s
      retries: 1
    deploy:
      replicas: 3
      placement:
        max_replicas_per_node: 1
"#;

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let cluster = TestCluster::start();
    cluster.apply("conv", APP);
    let vip = cluster.service_vip("web");
    cluster.route_host1_to_services();
    let target: SocketAddr = format!("{vip}:80").parse().expect("an address");
    let client = Client::start(
        &cluster.net.hosts[0].netns,
        target,
        Duration::from_millis(500),
    );

    let (mut totals, mut detections, mut convergences) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let (task, host) = healthy_web_on(&cluster, "node2");
        wait_answering(&client, &host);
        let removed = now_ms();
        let slot = format!("web.{}", task["slot"]["replica"]);
        let rm = cluster.skiff(&["exec", &slot, "--", "rm", "/ok"]);
        assert!(rm.status.success(), "{rm:?}");
        let id = task["id"].as_str().unwrap_or_default().to_owned();
        let verdict = cluster.wait_for("the task unhealthy", Duration::from_secs(10), |c| {
            unhealthy_since(c, &id).ok_or_else(|| "not yet".to_string())
        });
        // Past the last answer by a margin: the replica answers for 10 s if still reached.
        std::thread::sleep(Duration::from_secs(3));
        // It must still answer at its own address: what stopped its traffic was the virtual
        // IP, not its end.
        let ip = task["ip"].as_str().unwrap_or_default();
        let direct = cluster.net.hosts[0].sh(&format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 1 {ip} 80"
        ));
        let direct = String::from_utf8_lossy(&direct.stdout).into_owned();
        assert!(
            direct.contains(&host),
            "run {run}: the replica at {ip} no longer answers by itself ({direct:?}): the \
             measurement would be of its stop, not of the virtual IP"
        );
        let last = client
            .since(removed)
            .iter()
            .filter(|(_, body)| body.as_deref() == Some(host.as_str()))
            .map(|(at, _)| *at)
            .max()
            .unwrap_or(removed);
        let ms = Duration::from_millis;
        let total = ms(last.saturating_sub(removed));
        let detection = ms(verdict.saturating_sub(removed));
        let convergence = ms(last.saturating_sub(verdict));
        println!(
            "run {run}: /ok removed → judged unhealthy {} ms → last answer {} ms later \
             (total {} ms)",
            detection.as_millis(),
            convergence.as_millis(),
            total.as_millis()
        );
        totals.push(total);
        detections.push(detection);
        convergences.push(convergence);
        // The replica is stopped after its grace period and restarted healthy: the next run
        // waits for it.
    }
    drop(client);
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (c, d, t) = (
        median(&mut convergences),
        median(&mut detections),
        median(&mut totals),
    );
    println!(
        "endpoint convergence: median {:.0} ms from the unhealthy verdict to no more traffic \
         (target < {} ms){}; detection {:.0} ms; removal of /ok to no more traffic {:.0} ms",
        c.as_secs_f64() * 1e3,
        TARGET.as_millis(),
        if c < TARGET { "" } else { "  ABOVE TARGET" },
        d.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3
    );
}

/// When the task's agent judged it unhealthy (its record's `updated_at`), once it has.
fn unhealthy_since(cluster: &TestCluster, id: &str) -> Option<u64> {
    let list = cluster.json(&["ps", "-a", "-o", "json"]).ok()?;
    let task = list
        .as_array()?
        .iter()
        .map(|r| &r["object"]["task"])
        .find(|t| t["id"] == id)?;
    (task["health"] == "unhealthy")
        .then(|| task["updated_at"].as_u64())
        .flatten()
}

/// The running, healthy web task on `node`, and its container's host name.
fn healthy_web_on(cluster: &TestCluster, node: &str) -> (Value, String) {
    let task = cluster.wait_for("a healthy web task", Duration::from_secs(60), |c| {
        let list = c.json(&["ps", "-o", "json"])?;
        list.as_array()
            .into_iter()
            .flatten()
            .map(|r| r["object"]["task"].clone())
            .find(|t| {
                t["service"] == "web"
                    && t["node"] == node
                    && t["observed"] == "running"
                    && t["desired"] == "running"
                    && t["health"] == "healthy"
            })
            .ok_or("none yet".to_string())
    });
    let slot = format!("web.{}", task["slot"]["replica"]);
    let out = cluster.skiff(&["exec", &slot, "--", "hostname"]);
    (task, String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Waits until `host` has answered through the virtual IP lately.
fn wait_answering(client: &Client, host: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let since = now_ms();
        std::thread::sleep(Duration::from_millis(500));
        let seen = client
            .since(since)
            .iter()
            .any(|(_, body)| body.as_deref() == Some(host));
        if seen {
            return;
        }
        assert!(Instant::now() < deadline, "{host} never answered");
    }
}
