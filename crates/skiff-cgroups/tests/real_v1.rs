//! Root only: drives the real cgroup v1 hierarchies of the development host (a hybrid host, v1
//! controllers plus a cgroup2 tree at /sys/fs/cgroup/unified). Fails, rather than passing
//! silently, when not root or when the host is not v1.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use skiff_cgroups::{
    detect, manager, CgroupManager, Cpu, Layout, Memory, Pids, Resources, Version,
};

const MIB: i64 = 1 << 20;
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Kills the test's child and removes the test cgroup even when an assertion fails.
struct Guard {
    manager: Box<dyn CgroupManager>,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.manager.set_frozen(false);
        for (_, dir) in self.manager.paths() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Guard {
    /// A fresh cgroup `/skiff-cgroups-test-<pid>-<n>`, created.
    fn new() -> Self {
        assert!(
            nix::unistd::geteuid().is_root(),
            "tests/real_v1.rs needs root"
        );
        let layout = detect().expect("detecting the host's cgroups");
        assert!(
            matches!(layout, Layout::V1 { .. }),
            "tests/real_v1.rs expects this host's cgroup v1 (hybrid) layout, found {layout:?}"
        );
        let path = format!(
            "/skiff-cgroups-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let guard = Guard {
            manager: manager(&layout, Path::new(&path)).unwrap(),
            child: None,
        };
        assert_eq!(guard.manager.version(), Version::V1);
        guard.manager.create().unwrap();
        guard
    }

    /// The cgroup's directory in the hierarchy holding `controller`.
    fn dir(&self, controller: &str) -> PathBuf {
        self.manager
            .paths()
            .into_iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .unwrap_or_else(|| panic!("no {controller} hierarchy"))
            .1
    }

    fn read(&self, controller: &str, file: &str) -> String {
        let path = self.dir(controller).join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }
}

fn memory(limit: i64, swap: i64) -> Resources {
    Resources {
        memory: Memory {
            limit: Some(limit),
            swap: Some(swap),
            ..Memory::default()
        },
        ..Resources::default()
    }
}

#[test]
fn limits_processes_kill_and_destroy() {
    let mut guard = Guard::new();
    let resources = Resources {
        memory: Memory {
            limit: Some(64 * MIB),
            ..Memory::default()
        },
        cpu: Cpu {
            shares: Some(512),
            quota: Some(50_000),
            period: Some(100_000),
            ..Cpu::default()
        },
        pids: Pids { limit: Some(10) },
        ..Resources::default()
    };
    guard.manager.apply(&resources).unwrap();
    assert_eq!(
        guard.read("memory", "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(guard.read("pids", "pids.max"), "10");
    assert_eq!(guard.read("cpu", "cpu.shares"), "512");
    assert_eq!(guard.read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(guard.read("cpu", "cpu.cfs_period_us"), "100000");
    let root_cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    assert_eq!(guard.read("cpuset", "cpuset.cpus"), root_cpus.trim());

    // Raising memory and memory+swap above the current memory+swap needs swap written first;
    // lowering both needs the limit first. Both orders must work.
    guard.manager.apply(&memory(64 * MIB, 64 * MIB)).unwrap();
    guard.manager.apply(&memory(128 * MIB, 128 * MIB)).unwrap();
    assert_eq!(
        guard.read("memory", "memory.limit_in_bytes"),
        (128 * MIB).to_string()
    );
    assert_eq!(
        guard.read("memory", "memory.memsw.limit_in_bytes"),
        (128 * MIB).to_string()
    );
    guard.manager.apply(&memory(32 * MIB, 32 * MIB)).unwrap();
    assert_eq!(
        guard.read("memory", "memory.memsw.limit_in_bytes"),
        (32 * MIB).to_string()
    );
    guard.manager.apply(&memory(-1, 0)).unwrap();
    // Unlimited reads back as the largest page-aligned value.
    for file in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] {
        let value: u64 = guard.read("memory", file).parse().unwrap();
        assert!(value > 1 << 62, "{file} = {value}");
    }

    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    guard.child = Some(child);
    guard.manager.add_process(pid).unwrap();
    assert_eq!(guard.manager.procs().unwrap(), vec![pid]);
    for (_, dir) in guard.manager.paths() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), pid.to_string(), "{}", dir.display());
    }

    guard.manager.set_frozen(true).unwrap();
    assert_eq!(guard.read("freezer", "freezer.state"), "FROZEN");
    guard.manager.set_frozen(false).unwrap();
    assert_eq!(guard.read("freezer", "freezer.state"), "THAWED");

    guard.manager.kill_all(libc::SIGKILL).unwrap();
    let status = guard.child.take().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(guard.manager.procs().unwrap(), Vec::<i32>::new());

    guard.manager.destroy().unwrap();
    for (_, dir) in guard.manager.paths() {
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(
            dir.parent().unwrap().is_dir(),
            "the parent of {} must stay",
            dir.display()
        );
    }
    guard.manager.destroy().unwrap();
}

#[test]
fn oom_kill_is_counted() {
    let mut guard = Guard::new();
    guard.manager.apply(&memory(16 * MIB, 16 * MIB)).unwrap();
    assert_eq!(guard.manager.oom_kill_count().unwrap(), 0);
    // The shell joins the cgroup in every hierarchy, then becomes dd with a 64 MiB buffer.
    let procs: Vec<PathBuf> = guard
        .manager
        .paths()
        .into_iter()
        .map(|(_, dir)| dir.join("cgroup.procs"))
        .collect();
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"for f in "$@"; do echo $$ > "$f"; done; exec /bin/busybox dd if=/dev/zero of=/dev/null bs=64M count=1"#)
        .arg("sh")
        .args(&procs)
        .spawn()
        .unwrap();
    guard.child = Some(child);
    let status = guard.child.take().unwrap().wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "dd should be OOM-killed: {status:?}"
    );
    assert!(guard.manager.oom_kill_count().unwrap() >= 1);
    guard.manager.destroy().unwrap();
}

#[test]
fn a_forked_child_joins_itself_in_every_hierarchy() {
    let mut guard = Guard::new();
    let join = guard.manager.prepare_join().unwrap();
    // A child that moves itself (pre_exec runs in the forked child), then sleeps.
    let child = unsafe {
        use std::os::unix::process::CommandExt;
        Command::new("/bin/sleep")
            .arg("30")
            .pre_exec(move || join.join_current().map_err(std::io::Error::other))
            .spawn()
            .unwrap()
    };
    let pid = child.id() as i32;
    guard.child = Some(child);
    for (_, dir) in guard.manager.paths() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "{pid} not in {}",
            dir.display()
        );
    }
}
