//! Network set-up cost: what `--network bridge` adds to a container's start (and stop and
//! removal) over `--network none`, for Skiff and for podman with its default network stack
//! (netavark), measured the same way in the same run.
//!
//! `cargo bench -p skiff --bench network_setup` as root (needs iproute2 and busybox-static;
//! podman is measured when installed). `ITERATIONS=N` (default 100), `PODMAN=0` to measure
//! Skiff alone, `BASELINE_SKIFF=PATH` to measure another `skiff` binary too, interleaved
//! with this one (a before and after under the same load; it gets its own bridge and
//! subnet), `SKIFF=PATH` to measure another binary than the one just built (a binary the
//! linker just wrote starts measurably slower than a copy of it: its page cache is in
//! small pieces, so compare copies).
//!
//! Everything runs inside a network namespace the benchmark makes and deletes (both engines
//! through `nsenter --net`, which switches only the network namespace): their bridges, veths
//! and firewall rules land there, never in the machine's own. Podman gets its own storage,
//! run and temporary directories and network configuration directory under a temporary
//! directory, so the machine's podman state is not touched.
//!
//! Each round, for each network (in alternating order) and each engine (in rotating order),
//! one container is taken through its life, each step a command of its own, timed:
//! * start: `run -d --network NET IMAGE sleep 3600` — create and start, which is where the
//!   network is set up (Skiff allocates the address at create and plugs a veth at start;
//!   podman does all of it at start). The command returns once the process runs;
//! * stop: `stop -t 0` — SIGKILL, and the engine's clean-up after the process;
//! * rm: removal, where the address is released.
//!
//! The difference of the medians, bridge less none, is the network's cost.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use skiff_testkit::image::{busybox_layer, Compression, ImageBuilder};

/// Which network a container is started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    None,
    Bridge,
}

impl Net {
    fn flag(self) -> &'static str {
        match self {
            Net::None => "none",
            Net::Bridge => "bridge",
        }
    }
}

/// The steps of a container's life that are timed.
const STEPS: [&str; 3] = ["start", "stop", "rm"];

/// The times of one engine, per network and step.
#[derive(Default)]
struct Times {
    none: [Vec<Duration>; 3],
    bridge: [Vec<Duration>; 3],
}

impl Times {
    fn of(&mut self, net: Net) -> &mut [Vec<Duration>; 3] {
        match net {
            Net::None => &mut self.none,
            Net::Bridge => &mut self.bridge,
        }
    }
}

fn main() {
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let want_podman = std::env::var("PODMAN").map_or(true, |v| v != "0");
    let baseline = std::env::var_os("BASELINE_SKIFF").map(PathBuf::from);
    let bench = Bench::new(want_podman, baseline);

    // Both networks work, and the bridge one gives the container an address.
    for engine in bench.engines() {
        let out = ok(&mut engine.command(&[
            "run",
            "--rm",
            "--network",
            "bridge",
            engine.image(),
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "eth0",
        ]));
        assert!(
            out.contains("inet "),
            "{}: no address in a bridge container: {out}",
            engine.name()
        );
        ok(&mut engine.command(&["run", "--rm", "--network", "none", engine.image(), "true"]));
    }
    // Warm up (page cache, the bridge, podman's first-run set-up).
    for _ in 0..3 {
        for engine in bench.engines() {
            for net in [Net::None, Net::Bridge] {
                engine.cycle(net);
            }
        }
    }
    let mut times: Vec<Times> = bench.engines().map(|_| Times::default()).collect();
    for i in 0..iterations {
        let order = if i % 2 == 0 {
            [Net::None, Net::Bridge]
        } else {
            [Net::Bridge, Net::None]
        };
        for net in order {
            // Each engine in turn goes first: none always runs after another's clean-up.
            let n = bench.engines.len();
            for e in (0..n).map(|k| (k + i) % n) {
                let steps = bench.engines[e].cycle(net);
                for (k, d) in steps.into_iter().enumerate() {
                    times[e].of(net)[k].push(d);
                }
            }
        }
    }

    println!(
        "network set-up cost: {iterations} containers per engine and network, interleaved, \
         in network namespace {}",
        bench.netns.name
    );
    println!("{:<36} {:>10} {:>10}", "", "median", "p90");
    for (engine, t) in bench.engines().zip(times.iter_mut()) {
        for (k, step) in STEPS.iter().enumerate() {
            for net in [Net::None, Net::Bridge] {
                let v = &mut t.of(net)[k];
                println!(
                    "{:<36} {:>10} {:>10}",
                    format!("{} {step} --network {}", engine.name(), net.flag()),
                    ms(median(v)),
                    ms(percentile(v, 90))
                );
            }
        }
    }
    println!("bridge less none (difference of the medians):");
    let mut start_diffs = BTreeMap::new();
    for (engine, t) in bench.engines().zip(times.iter_mut()) {
        let diffs: Vec<f64> = (0..STEPS.len())
            .map(|k| secs(median(&mut t.bridge[k])) - secs(median(&mut t.none[k])))
            .collect();
        println!(
            "  {:<11} start {:>8.2}ms   stop {:>8.2}ms   rm {:>8.2}ms",
            engine.name(),
            diffs[0] * 1e3,
            diffs[1] * 1e3,
            diffs[2] * 1e3
        );
        start_diffs.insert(engine.name(), diffs[0]);
    }
    let skiff_diff = start_diffs["skiff"];
    println!(
        "skiff's start difference: {:.2}ms (target < 5ms)",
        skiff_diff * 1e3
    );
    if let Some(podman_diff) = start_diffs.get("podman") {
        println!(
            "ratio of the start differences skiff/podman: {:.3} (target <= 1)",
            skiff_diff / podman_diff
        );
    } else if want_podman {
        println!("podman is not installed: no comparison (apt install podman)");
    }
}

/// The benchmark's network namespace, temporary directory and engines; dropping it removes
/// every container, mount and the namespace, also when the benchmark fails.
struct Bench {
    /// Skiff first, then the baseline and podman when measured.
    engines: Vec<Engine>,
    netns: Netns,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new(want_podman: bool, baseline: Option<PathBuf>) -> Bench {
        let netns = Netns::new();
        let dir = tempfile::Builder::new()
            .prefix("skiff-bench-net-")
            .tempdir()
            .unwrap();
        let archive = dir.path().join("busybox.tar");
        ImageBuilder::new()
            .layer(busybox_layer(Compression::Gzip))
            .write_oci_archive(&archive, "bench:latest");
        let mut bench = Bench {
            engines: Vec::new(),
            netns,
            dir,
        };
        let mut skiffs = vec![Engine::Skiff {
            name: "skiff",
            bin: std::env::var_os("SKIFF")
                .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_skiff")), PathBuf::from),
            netns: bench.netns.name.clone(),
            data: bench.dir.path().join("skiff"),
            network: Vec::new(),
        }];
        if let Some(bin) = baseline {
            skiffs.push(Engine::Skiff {
                name: "skiff-base",
                bin,
                netns: bench.netns.name.clone(),
                data: bench.dir.path().join("skiff-base"),
                network: ["--bridge", "skiffbase0", "--subnet", "10.89.0.0/16"]
                    .map(String::from)
                    .to_vec(),
            });
        }
        for skiff in skiffs {
            ok(skiff.command(&["image", "load", "-i"]).arg(&archive));
            bench.engines.push(skiff);
        }
        let has_podman = Command::new("podman")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if want_podman && has_podman {
            let podman = Engine::podman(bench.dir.path(), &bench.netns.name);
            ok(podman.command(&["load", "-i"]).arg(&archive));
            bench.engines.push(podman);
        }
        bench
    }

    fn engines(&self) -> impl Iterator<Item = &Engine> {
        self.engines.iter()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for engine in &self.engines {
            match engine {
                Engine::Skiff { data, .. } => {
                    let ids = fs::read_dir(data.join("containers")).into_iter().flatten();
                    for id in ids
                        .flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                    {
                        if !id.starts_with('.') {
                            let _ = engine.command(&["rm", "-f", &id]).output();
                        }
                    }
                }
                Engine::Podman { .. } => {
                    let _ = engine.command(&["rm", "-a", "-f"]).output();
                }
            }
        }
        // Podman's storage keeps its overlay directory mounted.
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A network namespace of the benchmark's own, with loopback up; deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let name = format!("skiff-bench-{}", std::process::id());
        ok(Command::new("ip").args(["netns", "add", &name]));
        let netns = Netns { name };
        ok(Command::new("ip").args(["-n", &netns.name, "link", "set", "lo", "up"]));
        netns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// An engine under test, whose commands run in the benchmark's network namespace.
enum Engine {
    Skiff {
        /// Its name in the report.
        name: &'static str,
        /// The `skiff` binary.
        bin: PathBuf,
        netns: String,
        data: PathBuf,
        /// Its network flags (bridge and subnet), when not the defaults.
        network: Vec<String>,
    },
    Podman {
        netns: String,
        conf: PathBuf,
        root: PathBuf,
        runroot: PathBuf,
    },
}

impl Engine {
    /// Podman with its own storage and configuration under `dir`: the settings this kind of
    /// machine needs (rlimits it cannot raise, cgroupfs, file events), netavark, and no
    /// network definitions but its default one.
    fn podman(dir: &Path, netns: &str) -> Engine {
        let conf = dir.join("containers.conf");
        let networks = dir.join("podman-networks");
        let tmp = dir.join("podman-tmp");
        for d in [&networks, &tmp] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(
            &conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 tmp_dir = \"{}\"\n\
                 [network]\nnetwork_backend = \"netavark\"\nnetwork_config_dir = \"{}\"\n",
                tmp.display(),
                networks.display()
            ),
        )
        .unwrap();
        Engine::Podman {
            netns: netns.to_string(),
            conf,
            root: dir.join("podman-root"),
            runroot: dir.join("podman-run"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Engine::Skiff { name, .. } => name,
            Engine::Podman { .. } => "podman",
        }
    }

    fn image(&self) -> &'static str {
        match self {
            Engine::Skiff { .. } => "bench:latest",
            Engine::Podman { .. } => "localhost/bench:latest",
        }
    }

    /// `skiff container ARGS` or `podman ARGS`, in the benchmark's network namespace.
    fn command(&self, args: &[&str]) -> Command {
        let netns = match self {
            Engine::Skiff { netns, .. } | Engine::Podman { netns, .. } => netns,
        };
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{netns}"));
        let mut args = args;
        match self {
            Engine::Skiff {
                bin, data, network, ..
            } => {
                // `image load` is the one command that is not `container`'s.
                let group = match args.split_first() {
                    Some((&"image", rest)) => {
                        args = rest;
                        "image"
                    }
                    _ => "container",
                };
                c.arg(bin)
                    .arg(group)
                    .arg("--data-dir")
                    .arg(data)
                    .args(network);
            }
            Engine::Podman {
                conf,
                root,
                runroot,
                ..
            } => {
                c.arg("podman")
                    .env("CONTAINERS_CONF", conf)
                    .arg("--root")
                    .arg(root)
                    .arg("--runroot")
                    .arg(runroot);
            }
        }
        c.args(args);
        c
    }

    /// Takes one container on `net` through start, stop and removal; the time of each.
    fn cycle(&self, net: Net) -> [Duration; 3] {
        let mut run = self.command(&[
            "run",
            "-d",
            "--network",
            net.flag(),
            self.image(),
            "sleep",
            "3600",
        ]);
        let (start, out) = timed(&mut run);
        let id = out.trim().lines().last().unwrap_or("").to_string();
        assert!(!id.is_empty(), "{}: run -d printed no id", self.name());
        let (stop, _) = timed(&mut self.command(&["stop", "-t", "0", &id]));
        let (rm, _) = timed(&mut self.command(&["rm", &id]));
        [start, stop, rm]
    }
}

/// Runs `cmd`, insisting on success; returns its stdout.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    check(cmd, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, insisting on success; returns how long it took and its stdout.
fn timed(cmd: &mut Command) -> (Duration, String) {
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    check(cmd, &out);
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check(cmd: &Command, out: &Output) {
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Mount points at or under `dir`.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(&dir))
        .collect()
}

fn median(v: &mut [Duration]) -> Duration {
    percentile(v, 50)
}

fn percentile(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}
