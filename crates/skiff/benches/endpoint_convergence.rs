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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    let vip = cluster.wait_for("web's virtual IP", Duration::from_secs(30), |c| {
        let services = c.json(&["get", "services", "-o", "json"])?;
        services
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|s| s["object"]["service"]["vip"].as_str().map(str::to_owned))
            .ok_or(format!("no vip yet: {services}"))
    });
    // node1's own connections reach the virtual IP through its output hook; they need a route
    // towards it first (the test host has none): a default route to the test switch, which is
    // this benchmark's own namespace.
    cluster.net.hosts[0].sh_ok("ip route replace default via 10.0.0.254 dev eth0");
    let target: SocketAddr = format!("{vip}:80").parse().expect("an address");
    let answers = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = spawn_client(&cluster.net.hosts[0].netns, target, &answers, &stop);

    let (mut totals, mut detections, mut convergences) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let (task, host) = healthy_web_on(&cluster, "node2");
        wait_answering(&answers, &host);
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
        let last = answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, body)| *at >= removed && *body == host)
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
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
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

/// Milliseconds since the epoch, as the agents stamp their reports.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
fn wait_answering(answers: &Mutex<Vec<(u64, String)>>, host: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let since = now_ms();
        std::thread::sleep(Duration::from_millis(500));
        let seen = answers
            .lock()
            .unwrap()
            .iter()
            .any(|(at, body)| *at >= since && body == host);
        if seen {
            return;
        }
        assert!(Instant::now() < deadline, "{host} never answered");
    }
}

/// A thread in `netns` fetching `http://target/` over and over, recording each body.
fn spawn_client(
    netns: &str,
    target: SocketAddr,
    answers: &Arc<Mutex<Vec<(u64, String)>>>,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (answers, stop) = (answers.clone(), stop.clone());
    let path = format!("/run/netns/{netns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("the host's namespace");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        while !stop.load(Ordering::Relaxed) {
            if let Some(body) = fetch(target) {
                answers.lock().unwrap().push((now_ms(), body));
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    })
}

/// `GET /` on `target`: the body's last line, or nothing when it failed.
fn fetch(target: SocketAddr) -> Option<String> {
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&target, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines().last().map(|l| l.trim().to_owned())
}
