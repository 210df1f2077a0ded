//! Benchmark: `load` of a realistic 500-service compose file, 30 times, against a 50 ms target.
//!
//! Run: `cargo bench -p skiff-manifest --bench load_500` (RUNS=N to change 30, KEEP=1 to keep
//! the generated file and print its path).
//!
//! Peers, measured in the same run on the same file: Compose v1's `docker-compose -f FILE
//! config -q` (Debian's `docker-compose` package), which parses, interpolates and validates
//! as `load` does but pays for a Python start-up, and PyYAML's `yaml.safe_load` in-process,
//! which only parses. Either is skipped, with how to get it, when it is not installed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skiff_manifest::{load, MemoryLoader, Options};

const SERVICES: usize = 500;
const TARGET_MS: f64 = 50.0;
const PEER_RUNS: usize = 5;

fn main() {
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    let text = compose_file(SERVICES);
    println!(
        "compose file: {SERVICES} services, {} lines, {} KiB",
        text.lines().count(),
        text.len() / 1024
    );
    let (times, loaded) = time_load(&text, runs);
    // A failed load's time says nothing about the target.
    let target = loaded.then_some(TARGET_MS);
    let skiff_median = report("skiff-manifest load", &times, target);
    let parse_median = report(
        "  its YAML reading alone (yaml::parse)",
        &time_parse(&text, runs),
        None,
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, &text).expect("write the compose file");
    docker_compose(&file, loaded.then_some(skiff_median));
    pyyaml(&file, parse_median);
    if std::env::var_os("KEEP").is_some() {
        println!("kept {}", dir.keep().join("compose.yaml").display());
    }
}

/// `runs` timed loads through a [`MemoryLoader`], after one untimed warm-up; and whether the
/// file loaded.
fn time_load(text: &str, runs: usize) -> (Vec<Duration>, bool) {
    let loader = MemoryLoader::new().with("compose.yaml", text);
    let mut options = Options::new(["compose.yaml"]);
    options.project_name = Some("bench".to_owned());
    let loaded = check(load(&options, &loader));
    let times = time(runs, || load(&options, &loader));
    (times, loaded)
}

/// `runs` timed reads of the text into a located YAML tree: the part PyYAML is compared with.
fn time_parse(text: &str, runs: usize) -> Vec<Duration> {
    let limits = skiff_manifest::yaml::Limits::default();
    time(runs, || skiff_manifest::yaml::parse(text, 0, &limits))
}

/// Times `f` `runs` times, excluding the drop of what it returns.
fn time<T>(runs: usize, f: impl Fn() -> T) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let result = std::hint::black_box(f());
            let elapsed = start.elapsed();
            drop(result);
            elapsed
        })
        .collect()
}

/// Whether the file loaded; says so loudly when it did not, as those times are not of a load.
fn check(result: Result<skiff_manifest::Loaded, skiff_manifest::Diagnostics>) -> bool {
    match result {
        Ok(loaded) => {
            let (services, warnings) = (loaded.spec.services.len(), loaded.warnings.len());
            println!("loaded: {services} services, {warnings} warnings");
            true
        }
        Err(diags) => {
            println!(
                "WARNING: load failed with {} diagnostics; its times are of a failed load",
                diags.len()
            );
            for d in diags.iter().take(5) {
                println!("  {d}");
            }
            false
        }
    }
}

/// Prints median and p90 (and the target, if any); returns the median in ms.
fn report(what: &str, times: &[Duration], target_ms: Option<f64>) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let p90 = ms[((ms.len() - 1) as f64 * 0.9).round() as usize];
    let mut line = format!(
        "{what}: median {median:.2} ms, p90 {p90:.2} ms over {} runs",
        ms.len()
    );
    if let Some(target) = target_ms {
        let verdict = if p90 <= target { "within" } else { "OVER" };
        let _ = write!(line, " — {verdict} the {target:.0} ms target");
    }
    println!("{line}");
    median
}

/// Compose v1's own validation of the same file, as whole processes; compared with skiff's
/// median load when the file loaded.
fn docker_compose(file: &Path, skiff_median: Option<f64>) {
    let probe = Command::new("docker-compose").arg("version").output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        println!(
            "peer docker-compose: skipped (not installed; on Debian: apt-get install docker-compose)"
        );
        return;
    }
    let dir = file.parent().unwrap();
    let run = |args: &[&str]| {
        let start = Instant::now();
        let out = Command::new("docker-compose")
            .args(["--project-name", "bench"])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose");
        (start.elapsed(), out)
    };
    let (_, out) = run(&["-f", "compose.yaml", "config", "-q"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        println!("peer docker-compose: refused the file, not timed:\n{err}");
        return;
    }
    let config: Vec<Duration> = (0..PEER_RUNS)
        .map(|_| run(&["-f", "compose.yaml", "config", "-q"]).0)
        .collect();
    let startup: Vec<Duration> = (0..PEER_RUNS).map(|_| run(&["version"]).0).collect();
    let peer = report(
        "peer docker-compose config -q (whole process)",
        &config,
        None,
    );
    let base = report(
        "  of which start-up (docker-compose version)",
        &startup,
        None,
    );
    match skiff_median {
        Some(ours) => println!(
            "ratio skiff/docker-compose: {} (against its time less start-up: {})",
            ratio(ours, peer),
            ratio(ours, peer - base)
        ),
        None => println!("ratio skiff/docker-compose: n/a (the load failed)"),
    }
}

/// `0.0123 (81× faster)`: small ratios are easier to read upside down.
fn ratio(ours: f64, theirs: f64) -> String {
    let r = ours / theirs.max(f64::EPSILON);
    if r > 0.0 && r < 1.0 {
        format!("{r:.4} ({:.0}× faster)", 1.0 / r)
    } else {
        format!("{r:.4}")
    }
}

/// PyYAML's `safe_load` of the same file, timed inside Python so start-up does not count;
/// compared with skiff's YAML reading alone, as PyYAML only parses.
fn pyyaml(file: &Path, skiff_parse_median: f64) {
    const SCRIPT: &str = r#"
import sys, time, yaml
text = open(sys.argv[1]).read()
def median(loader):
    times = []
    for _ in range(5):
        t = time.perf_counter(); yaml.load(text, Loader=loader); times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1000
print(median(yaml.SafeLoader))
print(median(yaml.CSafeLoader) if yaml.__with_libyaml__ else "")
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(file)
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        println!(
            "reference PyYAML: skipped (needs python3 with yaml: apt-get install python3-yaml)"
        );
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines().map(|l| l.trim().parse::<f64>().ok());
    if let Some(Some(safe)) = lines.next() {
        println!(
            "reference PyYAML safe_load: median {safe:.2} ms; ratio skiff parse/PyYAML {}",
            ratio(skiff_parse_median, safe)
        );
    }
    if let Some(Some(c)) = lines.next() {
        println!(
            "reference PyYAML CSafeLoader (libyaml): median {c:.2} ms; ratio skiff parse/libyaml {}",
            ratio(skiff_parse_median, c)
        );
    }
}

/// A compose file with `n` services of the kind a large platform team writes: each with an
/// image, a command, environment, two ports, a named volume and a bind mount, a healthcheck,
/// labels, a full `deploy` section, two networks and a dependency on an earlier service.
fn compose_file(n: usize) -> String {
    let mut s = String::with_capacity(n * 2048);
    // No `name:`: Compose v1 predates it and would refuse the file; the name is an option.
    s.push_str("services:\n");
    for i in 0..n {
        service(&mut s, i);
    }
    s.push_str("\nnetworks:\n  front: {}\n  back:\n    internal: true\n\nvolumes:\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "  data-{i:03}:\n    labels:\n      com.example.backup: daily"
        );
    }
    s
}

fn service(s: &mut String, i: usize) {
    let name = format!("svc-{i:03}");
    let team = i % 20;
    let _ = write!(
        s,
        r#"  {name}:
    image: registry.example.com/team-{team}/{name}:1.{minor}.{patch}
    command: ["/usr/local/bin/server", "--listen", "0.0.0.0:8080", "--name", "{name}"]
    environment:
      SERVICE_NAME: {name}
      LOG_LEVEL: ${{LOG_LEVEL:-info}}
      DATABASE_URL: postgres://{name}@db-{team}.internal:5432/app
      CACHE_TTL: "300"
      FEATURE_FLAGS: checkout,search,recommendations
    ports:
      - "{http}:8080"
      - target: 9090
        published: {metrics}
        protocol: udp
    volumes:
      - data-{i:03}:/var/lib/app
      - /etc/ssl/certs:/etc/ssl/certs:ro
    healthcheck:
      test: ["CMD", "curl", "-fsS", "http://127.0.0.1:8080/healthz"]
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 15s
    labels:
      com.example.team: team-{team}
      com.example.service: {name}
      com.example.tier: backend
    networks: [front, back]
"#,
        minor = i % 13,
        patch = i % 7,
        http = 30000 + i,
        metrics = 31000 + i,
    );
    if i > 0 {
        let _ = write!(
            s,
            "    depends_on:\n      svc-{:03}:\n        condition: service_healthy\n",
            i / 2
        );
    }
    let _ = write!(
        s,
        r#"    deploy:
      replicas: {replicas}
      resources:
        limits: {{cpus: "0.5", memory: 256M}}
        reservations: {{cpus: "0.1", memory: 64M}}
      restart_policy:
        condition: on-failure
        delay: 5s
        max_attempts: 3
        window: 2m
      update_config:
        parallelism: 2
        delay: 10s
        order: start-first
        failure_action: rollback
      placement:
        constraints:
          - node.role == worker
          - node.labels.zone != zone-{zone}
        preferences:
          - spread: node.labels.rack
"#,
        replicas = 1 + i % 5,
        zone = i % 3,
    );
}
