//! Benchmark: `create + start + wait + delete` of `/bin/true` from a busybox bundle, 200 times
//! in sequence, for skiff-runtime and for runc on the same bundle in the same run (interleaved,
//! so that both see the same machine). Prints both medians and the ratio.
//!
//! Run as root: `cargo bench -p skiff-runtime --bench lifecycle` (ITERATIONS=N to change 200,
//! STEPS=1 to print each iteration's create/start/wait/delete times).
//! The bench process is a child subreaper, so it can wait for the container process after
//! `create` exits, as containerd's shim does.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;

fn step(binary: &Path, root: &Path, args: &[&str]) {
    let status = Command::new(binary)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("spawn runtime");
    assert!(status.success(), "{} {args:?} failed", binary.display());
}

fn cycle(rt: &common::Runtime, bundle: &Path, id: &str) -> Duration {
    let pid_file = bundle.join(format!("{id}.pid"));
    let b = bundle.to_str().unwrap();
    let p = pid_file.to_str().unwrap();
    let start = Instant::now();
    step(
        &rt.binary,
        rt.root.path(),
        &["create", "--bundle", b, "--pid-file", p, id],
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let t1 = start.elapsed();
    step(&rt.binary, rt.root.path(), &["start", id]);
    let t2 = start.elapsed();
    waitpid(Pid::from_raw(pid), None).expect("wait for the container");
    let t3 = start.elapsed();
    step(&rt.binary, rt.root.path(), &["delete", id]);
    let t4 = start.elapsed();
    if std::env::var_os("STEPS").is_some() {
        let name = rt.binary.file_name().unwrap_or_default().to_string_lossy();
        eprintln!(
            "{name}: create {t1:?} start {:?} wait {:?} delete {:?}",
            t2 - t1,
            t3 - t2,
            t4 - t3
        );
    }
    t4
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// crun, if installed, for context. crun refuses hybrid cgroup hosts whose cgroup2 tree holds
/// a controller; the documented workaround is a private mount namespace without that tree, so
/// the whole bench (all three runtimes alike) moves into one.
fn crun_if_present() -> Option<common::Runtime> {
    let binary = common::which("crun")?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).ok()?;
    let none: Option<&str> = None;
    nix::mount::mount(
        none,
        "/",
        none,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        none,
    )
    .ok()?;
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.exists() {
        let _ = nix::mount::umount2(unified, nix::mount::MntFlags::MNT_DETACH);
    }
    let root = tempfile::Builder::new()
        .prefix("crun-state-")
        .tempdir()
        .ok()?;
    Some(common::Runtime { binary, root })
}

fn report(name: &str, times: &[Duration]) -> Duration {
    let m = median(times.to_vec());
    println!(
        "{name:<14} median {:.2} ms  p10 {:.2} ms  p90 {:.2} ms",
        ms(m),
        ms(pct(times.to_vec(), 0.1)),
        ms(pct(times.to_vec(), 0.9))
    );
    m
}

fn main() {
    // cargo bench passes --bench; ignore arguments.
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut bundle = common::Bundle::busybox(&["/bin/true"]);
    // The oldest version all three runtimes accept.
    bundle.edit(|c| c["ociVersion"] = "1.0.2-dev".into());
    let crun = crun_if_present();
    let mut runtimes = vec![
        ("skiff-runtime", common::Runtime::skiff()),
        ("runc", common::Runtime::runc()),
    ];
    if let Some(crun) = crun {
        runtimes.push(("crun", crun));
    }
    for i in 0..10 {
        for (name, rt) in &runtimes {
            cycle(rt, bundle.path(), &format!("warm-{name}-{i}"));
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(iterations); runtimes.len()];
    for i in 0..iterations {
        for ((name, rt), t) in runtimes.iter().zip(times.iter_mut()) {
            t.push(cycle(rt, bundle.path(), &format!("bench-{name}-{i}")));
        }
    }
    println!("create+start+wait+delete of /bin/true, {iterations} iterations each, interleaved");
    let medians: Vec<Duration> = runtimes
        .iter()
        .zip(&times)
        .map(|((name, _), t)| report(name, t))
        .collect();
    println!(
        "ratio skiff/runc (median): {:.3}  (target <= 0.300)",
        medians[0].as_secs_f64() / medians[1].as_secs_f64()
    );
    if let Some(crun) = medians.get(2) {
        println!(
            "ratio skiff/crun (median): {:.3}",
            medians[0].as_secs_f64() / crun.as_secs_f64()
        );
    }
}
