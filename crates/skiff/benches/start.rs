//! Start latency: `skiff container run --rm IMAGE /bin/true` (image present, no network)
//! against `podman run --rm --network none` on the same image, interleaved in the same run.
//!
//! `cargo bench -p skiff --bench start` as root (installs nothing: needs podman and
//! busybox-static). `ITERATIONS=N` (default 50). Podman gets its own storage and a
//! containers.conf with the settings this kind of machine needs (rlimits it cannot raise,
//! cgroupfs, file events), so the machine's podman state is not touched.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skiff_testkit::image::{busybox_layer, Compression, ImageBuilder};

fn main() {
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-start-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("skiff");
    let archive = dir.path().join("busybox.tar");
    ImageBuilder::new()
        .layer(busybox_layer(Compression::Gzip))
        .write_oci_archive(&archive, "bench:latest");
    let skiff = env!("CARGO_BIN_EXE_skiff");
    check(
        Command::new(skiff)
            .args(["image", "load", "-i"])
            .arg(&archive)
            .arg("--data-dir")
            .arg(&data),
    );
    let skiff_run = || {
        let mut c = Command::new(skiff);
        c.args(["container", "--data-dir"]).arg(&data).args([
            "run",
            "--rm",
            "bench:latest",
            "/bin/true",
        ]);
        c
    };

    let podman = PodmanEnv::new(dir.path(), &archive);
    // Warm up both (page cache, seccomp cache, podman's first-run set-up).
    for _ in 0..3 {
        check(&mut skiff_run());
        if let Some(p) = &podman {
            check(&mut p.run());
        }
    }
    let mut skiff_times = Vec::new();
    let mut podman_times = Vec::new();
    for _ in 0..iterations {
        skiff_times.push(time(&mut skiff_run()));
        if let Some(p) = &podman {
            podman_times.push(time(&mut p.run()));
        }
    }
    println!("start latency, {iterations} runs each, interleaved");
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "command", "median", "p10", "p90"
    );
    report("skiff container run --rm (skiff-runtime)", &mut skiff_times);
    if podman.is_some() {
        report("podman run --rm --network none", &mut podman_times);
        let ratio = median(&skiff_times).as_secs_f64() / median(&podman_times).as_secs_f64();
        println!("ratio skiff/podman: {ratio:.3} (target <= 0.1)");
    } else {
        println!("podman is not installed: no ratio (apt install podman)");
    }
}

struct PodmanEnv {
    conf: std::path::PathBuf,
    root: std::path::PathBuf,
    runroot: std::path::PathBuf,
}

impl PodmanEnv {
    fn new(dir: &Path, archive: &Path) -> Option<PodmanEnv> {
        Command::new("podman").arg("--version").output().ok()?;
        let conf = dir.join("containers.conf");
        fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .unwrap();
        let env = PodmanEnv {
            conf,
            root: dir.join("podman-root"),
            runroot: dir.join("podman-run"),
        };
        let mut load = env.cmd();
        load.arg("load").arg("-i").arg(archive);
        check(&mut load);
        Some(env)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        c
    }

    fn run(&self) -> Command {
        let mut c = self.cmd();
        c.args([
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/bench:latest",
            "/bin/true",
        ]);
        c
    }
}

fn check(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn time(cmd: &mut Command) -> Duration {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, v: &mut [Duration]) {
    v.sort();
    let pct = |p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    println!(
        "{name:<40} {:>8.2}ms {:>8.2}ms {:>8.2}ms",
        median(v).as_secs_f64() * 1e3,
        pct(10).as_secs_f64() * 1e3,
        pct(90).as_secs_f64() * 1e3
    );
}
