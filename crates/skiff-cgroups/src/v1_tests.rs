//! V1Manager against a fake cgroupfs tree in a temporary directory.
//!
//! cgroupfs creates a new cgroup's control files itself; the fake cannot, so tests that write to
//! a cgroup first make its directory with empty control files (`kernel_mkdir`), as the kernel
//! would, and `create` then finds it existing.

use std::fs as stdfs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::*;
use crate::resources::{Blkio, Cpu, DeviceRule, Memory, Pids};

const MIB: i64 = 1 << 20;

/// Mount directory name, controllers, and the control files the kernel puts in each cgroup.
const HIERARCHIES: &[(&str, &[&str], &[&str])] = &[
    (
        "memory",
        &["memory"],
        &[
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
        ],
    ),
    (
        "cpu,cpuacct",
        &["cpu", "cpuacct"],
        &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
    ),
    ("cpuset", &["cpuset"], &["cpuset.cpus", "cpuset.mems"]),
    ("pids", &["pids"], &["pids.max"]),
    ("blkio", &["blkio"], &["blkio.weight"]),
    ("devices", &["devices"], &["devices.allow", "devices.deny"]),
    ("freezer", &["freezer"], &["freezer.state"]),
    ("name=systemd", &["name=systemd"], &[]),
];

struct Fake {
    tmp: TempDir,
    hierarchies: Vec<Hierarchy>,
}

impl Fake {
    /// A fake host with every hierarchy except those named in `without`.
    fn new(without: &[&str]) -> Self {
        let tmp = TempDir::new().unwrap();
        let mut hierarchies = Vec::new();
        for (name, controllers, _) in HIERARCHIES {
            if without.contains(name) {
                continue;
            }
            let mount = tmp.path().join(name);
            stdfs::create_dir(&mount).unwrap();
            stdfs::write(mount.join(PROCS), "").unwrap();
            hierarchies.push(Hierarchy {
                controllers: controllers.iter().map(|c| c.to_string()).collect(),
                mount,
            });
        }
        let cpuset = tmp.path().join("cpuset");
        if cpuset.is_dir() {
            stdfs::write(cpuset.join("cpuset.cpus"), "0-1\n").unwrap();
            stdfs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        }
        Fake { tmp, hierarchies }
    }

    fn mount(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn manager(&self, path: &str) -> V1Manager {
        V1Manager::new(self.hierarchies.clone(), Path::new(path)).unwrap()
    }

    /// Makes the cgroup `path` in every hierarchy, with its empty control files.
    fn kernel_mkdir(&self, path: &str) {
        for (name, _, files) in HIERARCHIES {
            let mount = self.mount(name);
            if mount.is_dir() {
                kernel_mkdir(&mount.join(path.trim_start_matches('/')), files);
            }
        }
    }
}

fn kernel_mkdir(dir: &Path, files: &[&str]) {
    stdfs::create_dir_all(dir).unwrap();
    for file in files.iter().chain(&[PROCS]) {
        stdfs::write(dir.join(file), "").unwrap();
    }
}

fn read(path: PathBuf) -> String {
    stdfs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn full_resources() -> Resources {
    Resources {
        memory: Memory {
            limit: Some(64 * MIB),
            reservation: Some(32 * MIB),
            swap: Some(96 * MIB),
            swappiness: Some(10),
            disable_oom_killer: Some(true),
        },
        cpu: Cpu {
            shares: Some(512),
            quota: Some(50_000),
            period: Some(100_000),
            cpus: Some("1".into()),
            mems: Some("0".into()),
        },
        pids: Pids { limit: Some(0) },
        blkio: Blkio { weight: Some(500) },
        devices: vec![
            DeviceRule {
                allow: false,
                access: "rwm".into(),
                ..DeviceRule::default()
            },
            DeviceRule {
                allow: true,
                kind: Some('c'),
                major: Some(1),
                minor: Some(3),
                access: "rwm".into(),
            },
        ],
        unified: Default::default(),
    }
}

#[test]
fn create_makes_every_hierarchy_and_fills_cpuset_from_the_nearest_ancestor() {
    let fake = Fake::new(&[]);
    let cpuset = fake.mount("cpuset");
    // `a` exists with its own cpus but empty mems; `a/b` is new (made empty, as the kernel does).
    kernel_mkdir(&cpuset.join("a"), &["cpuset.cpus", "cpuset.mems"]);
    stdfs::write(cpuset.join("a/cpuset.cpus"), "1\n").unwrap();
    kernel_mkdir(&cpuset.join("a/b"), &["cpuset.cpus", "cpuset.mems"]);
    let manager = fake.manager("/a/b");
    manager.create().unwrap();
    for (name, _, _) in HIERARCHIES {
        assert!(fake.mount(name).join("a/b").is_dir(), "{name}");
    }
    assert_eq!(read(cpuset.join("a/cpuset.cpus")), "1\n");
    assert_eq!(read(cpuset.join("a/cpuset.mems")), "0");
    assert_eq!(read(cpuset.join("a/b/cpuset.cpus")), "1");
    assert_eq!(read(cpuset.join("a/b/cpuset.mems")), "0");
    manager.create().unwrap();
}

#[test]
fn apply_writes_each_file_in_its_own_hierarchy() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let manager = fake.manager("/c");
    manager.apply(&full_resources()).unwrap();
    let file = |hierarchy: &str, name: &str| read(fake.mount(hierarchy).join("c").join(name));
    assert_eq!(
        file("memory", "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(
        file("memory", "memory.soft_limit_in_bytes"),
        (32 * MIB).to_string()
    );
    assert_eq!(
        file("memory", "memory.memsw.limit_in_bytes"),
        (96 * MIB).to_string()
    );
    assert_eq!(file("memory", "memory.swappiness"), "10");
    assert_eq!(file("memory", "memory.oom_control"), "1");
    assert_eq!(file("cpu,cpuacct", "cpu.shares"), "512");
    assert_eq!(file("cpu,cpuacct", "cpu.cfs_quota_us"), "50000");
    assert_eq!(file("cpu,cpuacct", "cpu.cfs_period_us"), "100000");
    assert_eq!(file("cpuset", "cpuset.cpus"), "1");
    assert_eq!(file("cpuset", "cpuset.mems"), "0");
    assert_eq!(file("pids", "pids.max"), "max");
    assert_eq!(file("blkio", "blkio.weight"), "500");
    assert_eq!(file("devices", "devices.deny"), "a *:* rwm");
    assert_eq!(file("devices", "devices.allow"), "c 1:3 rwm");
    let systemd: Vec<_> = stdfs::read_dir(fake.mount("name=systemd").join("c"))
        .unwrap()
        .collect();
    assert_eq!(systemd.len(), 1, "only cgroup.procs in the named hierarchy");
}

#[test]
fn small_values() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let manager = fake.manager("/c");
    let resources = Resources {
        memory: Memory {
            limit: Some(-1),
            ..Memory::default()
        },
        cpu: Cpu {
            quota: Some(0),
            ..Cpu::default()
        },
        pids: Pids { limit: Some(10) },
        ..Resources::default()
    };
    manager.apply(&resources).unwrap();
    let file = |hierarchy: &str, name: &str| read(fake.mount(hierarchy).join("c").join(name));
    // Unlimited memory takes unlimited swap along, or the kernel would refuse the limit.
    assert_eq!(file("memory", "memory.limit_in_bytes"), "-1");
    assert_eq!(file("memory", "memory.memsw.limit_in_bytes"), "-1");
    assert_eq!(file("cpu,cpuacct", "cpu.cfs_quota_us"), "-1");
    assert_eq!(file("cpu,cpuacct", "cpu.cfs_period_us"), "");
    assert_eq!(file("pids", "pids.max"), "10");
}

#[test]
fn device_rules_keep_their_order() {
    let writes = device_writes(&full_resources().devices).unwrap();
    assert_eq!(
        writes,
        vec![
            ("devices.deny", "a *:* rwm".to_string()),
            ("devices.allow", "c 1:3 rwm".to_string())
        ]
    );
}

#[test]
fn a_missing_controller_is_named() {
    let fake = Fake::new(&["pids"]);
    fake.kernel_mkdir("/c");
    let resources = Resources {
        pids: Pids { limit: Some(5) },
        ..Resources::default()
    };
    let err = fake.manager("/c").apply(&resources).unwrap_err();
    assert!(
        matches!(&err, Error::MissingController { controller, .. } if controller == "pids"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"pids\""), "{err}");
}

#[test]
fn swap_without_swap_accounting() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let dir = fake.mount("memory").join("c");
    stdfs::remove_file(dir.join("memory.memsw.limit_in_bytes")).unwrap();
    let manager = fake.manager("/c");
    let with_swap = |swap| Resources {
        memory: Memory {
            limit: Some(64 * MIB),
            swap: Some(swap),
            ..Memory::default()
        },
        ..Resources::default()
    };
    let err = manager.apply(&with_swap(96 * MIB)).unwrap_err();
    assert!(matches!(err, Error::NoSwapAccounting), "{err:?}");
    assert!(err.to_string().contains("swapaccount=1"));
    // Asking for no swap beyond the limit, or unlimited swap, needs no accounting.
    manager.apply(&with_swap(64 * MIB)).unwrap();
    manager.apply(&with_swap(-1)).unwrap();
    assert_eq!(
        read(dir.join("memory.limit_in_bytes")),
        (64 * MIB).to_string()
    );
    assert!(!dir.join("memory.memsw.limit_in_bytes").exists());
}

#[test]
fn swap_below_the_limit_is_refused() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let resources = Resources {
        memory: Memory {
            limit: Some(64 * MIB),
            swap: Some(MIB),
            ..Memory::default()
        },
        ..Resources::default()
    };
    let err = fake.manager("/c").apply(&resources).unwrap_err();
    assert!(matches!(err, Error::InvalidResource { .. }), "{err:?}");
    assert_eq!(
        read(fake.mount("memory").join("c/memory.limit_in_bytes")),
        ""
    );
}

#[test]
fn blkio_weight_falls_back_to_bfq() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let dir = fake.mount("blkio").join("c");
    stdfs::remove_file(dir.join("blkio.weight")).unwrap();
    stdfs::write(dir.join("blkio.bfq.weight"), "").unwrap();
    let resources = Resources {
        blkio: Blkio { weight: Some(300) },
        ..Resources::default()
    };
    let manager = fake.manager("/c");
    manager.apply(&resources).unwrap();
    assert_eq!(read(dir.join("blkio.bfq.weight")), "300");
    stdfs::remove_file(dir.join("blkio.bfq.weight")).unwrap();
    let err = manager.apply(&resources).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
}

#[test]
fn unified_is_refused_before_anything_is_written() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let mut resources = full_resources();
    resources.unified.insert("memory.high".into(), "1G".into());
    let err = fake.manager("/c").apply(&resources).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("memory.high"), "{err}");
    assert_eq!(
        read(fake.mount("memory").join("c/memory.limit_in_bytes")),
        ""
    );
}

#[test]
fn processes_and_oom_count() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let manager = fake.manager("/c");
    manager.add_process(4242).unwrap();
    for (name, _, _) in HIERARCHIES {
        assert_eq!(
            read(fake.mount(name).join("c").join(PROCS)),
            "4242",
            "{name}"
        );
    }
    assert_eq!(manager.procs().unwrap(), vec![4242]);
    let oom = fake.mount("memory").join("c/memory.oom_control");
    stdfs::write(&oom, "oom_kill_disable 0\nunder_oom 0\n").unwrap();
    assert_eq!(manager.oom_kill_count().unwrap(), 0);
    stdfs::write(&oom, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
    assert_eq!(manager.oom_kill_count().unwrap(), 3);
    assert_eq!(
        Fake::new(&["memory"])
            .manager("/c")
            .oom_kill_count()
            .unwrap(),
        0
    );
}

#[test]
fn freeze_thaw_and_kill_all() {
    let fake = Fake::new(&[]);
    fake.kernel_mkdir("/c");
    let manager = fake.manager("/c");
    let state = fake.mount("freezer").join("c/freezer.state");
    manager.set_frozen(true).unwrap();
    assert_eq!(read(state.clone()), "FROZEN");
    manager.set_frozen(false).unwrap();
    assert_eq!(read(state.clone()), "THAWED");

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    stdfs::write(
        fake.mount("memory").join("c").join(PROCS),
        format!("{}\n", child.id()),
    )
    .unwrap();
    manager.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(read(state), "THAWED");
}

#[test]
fn destroy_removes_only_the_leaf_and_is_idempotent() {
    let fake = Fake::new(&[]);
    let manager = fake.manager("/a/b");
    fake.kernel_mkdir("/a");
    fake.kernel_mkdir("/a/b");
    manager.create().unwrap();
    for (_, dir) in manager.paths() {
        for entry in stdfs::read_dir(&dir).unwrap() {
            stdfs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
    manager.destroy().unwrap();
    for (name, _, _) in HIERARCHIES {
        assert!(!fake.mount(name).join("a/b").exists(), "{name}");
        assert!(fake.mount(name).join("a").is_dir(), "{name}");
    }
    manager.destroy().unwrap();
}

#[test]
fn paths_name_the_controllers() {
    let fake = Fake::new(&[]);
    let paths = fake.manager("/x/y").paths();
    assert_eq!(paths.len(), HIERARCHIES.len());
    assert_eq!(
        paths[1],
        (
            vec!["cpu".to_string(), "cpuacct".to_string()],
            fake.mount("cpu,cpuacct").join("x/y")
        )
    );
}

#[test]
fn paths_may_not_leave_the_hierarchy() {
    let fake = Fake::new(&[]);
    for path in ["/a/../../etc", "/", ""] {
        let err = V1Manager::new(fake.hierarchies.clone(), Path::new(path)).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{path}: {err:?}");
    }
}
