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

fn main() {
    // cargo bench passes --bench; ignore arguments.
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let bundle = common::Bundle::busybox(&["/bin/true"]);
    let skiff = common::Runtime::skiff();
    let runc = common::Runtime::runc();
    for i in 0..10 {
        cycle(&skiff, bundle.path(), &format!("warm-skiff-{i}"));
        cycle(&runc, bundle.path(), &format!("warm-runc-{i}"));
    }
    let mut s = Vec::with_capacity(iterations);
    let mut r = Vec::with_capacity(iterations);
    for i in 0..iterations {
        s.push(cycle(&skiff, bundle.path(), &format!("bench-skiff-{i}")));
        r.push(cycle(&runc, bundle.path(), &format!("bench-runc-{i}")));
    }
    let (sm, rm) = (median(s.clone()), median(r.clone()));
    println!("create+start+wait+delete of /bin/true, {iterations} iterations each, interleaved");
    println!(
        "skiff-runtime: median {:.2} ms  p10 {:.2} ms  p90 {:.2} ms",
        ms(sm),
        ms(pct(s.clone(), 0.1)),
        ms(pct(s, 0.9))
    );
    println!(
        "runc:          median {:.2} ms  p10 {:.2} ms  p90 {:.2} ms",
        ms(rm),
        ms(pct(r.clone(), 0.1)),
        ms(pct(r, 0.9))
    );
    println!(
        "ratio skiff/runc (median): {:.3}  (target <= 0.300)",
        sm.as_secs_f64() / rm.as_secs_f64()
    );
}
