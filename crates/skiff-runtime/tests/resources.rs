//! Root tests of cgroup limits as the container experiences them: an OOM kill that is
//! reported, a pids limit that stops a fork bomb, cpu settings visible in the cgroup.

mod common;

use common::*;
use serde_json::json;

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    let rt = Runtime::skiff();
    let id = unique_id("oom");
    let _guard = rt.guard(&id);
    let mut bundle = Bundle::busybox(&["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    bundle.edit(|c| {
        c["linux"]["resources"]["memory"] =
            json!({"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024})
    });
    let out = rt.exec(&[
        "run",
        "--keep",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("OOM killer"));
    let state = rt.state(&id);
    assert_eq!(state["status"], "stopped");
    assert_eq!(state["oomKilled"], true);
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/skiff/{id}/memory.limit_in_bytes"
    ))
    .unwrap();
    assert_eq!(limit.trim(), (16 * 1024 * 1024).to_string());
    rt.ok(&["delete", &id]);
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists());
    }
}

#[test]
fn a_process_within_its_memory_limit_is_not_reported() {
    let rt = Runtime::skiff();
    let id = unique_id("nooom");
    let _guard = rt.guard(&id);
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024}));
    let out = rt.exec(&[
        "run",
        "--keep",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rt.state(&id)["oomKilled"], false);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let rt = Runtime::skiff();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        // Only shell builtins after the fork loop: with the limit reached, nothing can fork.
        "(i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null; \
         read cur < /sys/fs/cgroup/pids/pids.current; read max < /sys/fs/cgroup/pids/pids.max; \
         read events < /sys/fs/cgroup/pids/pids.events; echo $cur; echo $max; echo $events",
    ]);
    bundle.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 10}));
    let (code, out, err) = rt.run(&bundle, &unique_id("pids"));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let count: usize = lines[0].parse().unwrap();
    assert!(count <= 10, "{count} processes despite pids.max=10");
    assert!(count >= 5, "the fork loop did not run ({count})");
    assert_eq!(lines[1], "10");
    let refused: usize = lines[2].strip_prefix("max ").unwrap().parse().unwrap();
    assert!(refused > 0, "no fork was refused: {out}");
}

#[test]
fn cpu_limits_reach_the_cgroup() {
    let rt = Runtime::skiff();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpuset/cpuset.cpus",
    ]);
    bundle.edit(|c| {
        c["linux"]["resources"]["cpu"] =
            json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"})
    });
    let (code, out, err) = rt.run(&bundle, &unique_id("cpu"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["512", "50000", "100000", "0"]
    );
}

#[test]
fn cgroup_namespace_hides_the_host_hierarchy() {
    let rt = Runtime::skiff();
    let mut bundle = Bundle::busybox(&["cat", "/proc/self/cgroup"]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}))
    });
    let (code, out, err) = rt.run(&bundle, &unique_id("cgns"));
    assert_eq!(code, 0, "{err}");
    let memory = out.lines().find(|l| l.contains(":memory:")).unwrap();
    assert!(
        memory.ends_with(":/"),
        "cgroup namespace root is not the container's cgroup: {out}"
    );
}

#[test]
fn device_rules_deny_and_allow() {
    let rt = Runtime::skiff();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "head -c 4 /dev/zero | wc -c; mknod /tmp/m c 1 1 && head -c 1 /tmp/m; echo rc=$?",
    ]);
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
        }
    });
    let (code, out, err) = rt.run(&bundle, &unique_id("dev"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("4\n"),
        "/dev/zero must stay usable under deny-all: {out}"
    );
    // /dev/mem (1:1) may be created (mknod is allowed) but not opened.
    assert!(out.contains("rc=1"), "{out}");
    assert!(err.contains("Operation not permitted"), "{err}");
}
