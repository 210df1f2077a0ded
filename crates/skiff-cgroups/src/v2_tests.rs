//! V2Manager against a fake unified hierarchy in a temporary directory.
//!
//! As in the v1 tests, a cgroup the test writes to is first made with empty control files
//! (`kernel_mkdir`), as the kernel would.

use std::fs as stdfs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::*;
use crate::resources::{Blkio, Cpu, DeviceRule, Memory, Pids};

const MIB: i64 = 1 << 20;
const ALL: &str = "cpuset cpu io memory pids";
/// The files a leaf cgroup with every controller enabled has (those the tests look at).
const LEAF_FILES: &[&str] = &[
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.high",
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "cgroup.freeze",
    "cgroup.procs",
];

struct Fake {
    tmp: TempDir,
}

impl Fake {
    fn new() -> Self {
        let tmp = TempDir::new().unwrap();
        stdfs::write(tmp.path().join("cgroup.controllers"), format!("{ALL}\n")).unwrap();
        stdfs::write(tmp.path().join("cgroup.subtree_control"), "").unwrap();
        Fake { tmp }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn manager(&self, path: &str) -> V2Manager {
        V2Manager::new(self.root().to_path_buf(), Path::new(path)).unwrap()
    }

    /// Makes cgroup `path` with empty `files`.
    fn kernel_mkdir(&self, path: &str, files: &[&str]) -> PathBuf {
        let dir = self.root().join(path.trim_start_matches('/'));
        stdfs::create_dir_all(&dir).unwrap();
        for file in files {
            stdfs::write(dir.join(file), "").unwrap();
        }
        dir
    }

    fn leaf(&self) -> (V2Manager, PathBuf) {
        (self.manager("/c"), self.kernel_mkdir("/c", LEAF_FILES))
    }
}

fn read(path: PathBuf) -> String {
    stdfs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn create_enables_controllers_on_each_ancestor() {
    let fake = Fake::new();
    // `a` already has memory and pids enabled; `a/b` offers no io.
    let a = fake.kernel_mkdir("/a", &[]);
    stdfs::write(a.join("cgroup.controllers"), format!("{ALL}\n")).unwrap();
    stdfs::write(a.join("cgroup.subtree_control"), "memory pids\n").unwrap();
    let b = fake.kernel_mkdir("/a/b", &[]);
    stdfs::write(b.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    stdfs::write(b.join("cgroup.subtree_control"), "").unwrap();
    // `c` is fully enabled already: it must not be written.
    let c = fake.kernel_mkdir("/a/b/c", &[]);
    stdfs::write(c.join("cgroup.controllers"), "cpu memory\n").unwrap();
    stdfs::write(c.join("cgroup.subtree_control"), "cpu memory\n").unwrap();

    let manager = fake.manager("/a/b/c/leaf");
    manager.create().unwrap();
    assert!(c.join("leaf").is_dir());
    assert_eq!(
        read(fake.root().join("cgroup.subtree_control")),
        "+memory +cpu +pids +io +cpuset"
    );
    assert_eq!(read(a.join("cgroup.subtree_control")), "+cpu +io +cpuset");
    assert_eq!(read(b.join("cgroup.subtree_control")), "+memory +cpu +pids");
    assert_eq!(read(c.join("cgroup.subtree_control")), "cpu memory\n");
    assert!(
        !c.join("leaf/cgroup.subtree_control").exists(),
        "the leaf itself is left alone"
    );
}

#[test]
fn apply_converts_v1_style_values() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    let mut resources = Resources {
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
            period: None,
            cpus: Some("0-1".into()),
            mems: Some("0".into()),
        },
        pids: Pids { limit: Some(-1) },
        blkio: Blkio { weight: Some(500) },
        devices: vec![DeviceRule {
            allow: false,
            access: "rwm".into(),
            ..DeviceRule::default()
        }],
        unified: Default::default(),
    };
    resources.unified.insert("memory.high".into(), "1G".into());
    manager.apply(&resources).unwrap();
    assert_eq!(read(dir.join("memory.max")), (64 * MIB).to_string());
    assert_eq!(read(dir.join("memory.low")), (32 * MIB).to_string());
    assert_eq!(read(dir.join("memory.swap.max")), (32 * MIB).to_string());
    assert_eq!(read(dir.join("cpu.weight")), "20");
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(dir.join("cpuset.cpus")), "0-1");
    assert_eq!(read(dir.join("cpuset.mems")), "0");
    assert_eq!(read(dir.join("pids.max")), "max");
    assert_eq!(read(dir.join("io.weight")), "4950");
    assert_eq!(read(dir.join("memory.high")), "1G");
    assert!(!manager.devices_supported());
}

#[test]
fn apply_unlimited_values() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    let resources = Resources {
        memory: Memory {
            limit: Some(-1),
            ..Memory::default()
        },
        cpu: Cpu {
            shares: Some(0),
            quota: Some(-1),
            period: Some(250_000),
            ..Cpu::default()
        },
        pids: Pids { limit: Some(100) },
        ..Resources::default()
    };
    manager.apply(&resources).unwrap();
    assert_eq!(read(dir.join("memory.max")), "max");
    assert_eq!(read(dir.join("memory.swap.max")), "max");
    assert_eq!(read(dir.join("cpu.max")), "max 250000");
    assert_eq!(
        read(dir.join("cpu.weight")),
        "",
        "shares 0 leaves the weight alone"
    );
    assert_eq!(read(dir.join("pids.max")), "100");
}

#[test]
fn swap_equal_to_the_limit_means_no_swap() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    let resources = |swap| Resources {
        memory: Memory {
            limit: Some(64 * MIB),
            swap: Some(swap),
            ..Memory::default()
        },
        ..Resources::default()
    };
    manager.apply(&resources(64 * MIB)).unwrap();
    assert_eq!(read(dir.join("memory.swap.max")), "0");
    let err = manager.apply(&resources(MIB)).unwrap_err();
    assert!(matches!(err, Error::InvalidResource { .. }), "{err:?}");

    stdfs::remove_file(dir.join("memory.swap.max")).unwrap();
    manager.apply(&resources(64 * MIB)).unwrap();
    let err = manager.apply(&resources(96 * MIB)).unwrap_err();
    assert!(matches!(err, Error::NoSwapAccounting), "{err:?}");
}

#[test]
fn bad_unified_keys_are_refused_before_anything_is_written() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    for key in ["../cgroup.procs", "a/b", "..", ""] {
        let mut resources = Resources {
            memory: Memory {
                limit: Some(MIB),
                ..Memory::default()
            },
            ..Resources::default()
        };
        resources.unified.insert(key.into(), "1".into());
        let err = manager.apply(&resources).unwrap_err();
        assert!(
            matches!(err, Error::InvalidUnifiedKey { .. }),
            "{key}: {err:?}"
        );
    }
    assert_eq!(read(dir.join("memory.max")), "");
}

#[test]
fn a_missing_controller_is_named() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    stdfs::remove_file(dir.join("pids.max")).unwrap();
    let resources = Resources {
        pids: Pids { limit: Some(5) },
        ..Resources::default()
    };
    let err = manager.apply(&resources).unwrap_err();
    assert!(
        matches!(&err, Error::MissingController { controller, .. } if controller == "pids"),
        "{err:?}"
    );
    let mut unified = Resources::default();
    unified.unified.insert("hugetlb.2MB.max".into(), "0".into());
    let err = manager.apply(&unified).unwrap_err();
    assert!(
        matches!(&err, Error::MissingController { controller, .. } if controller == "hugetlb"),
        "{err:?}"
    );
}

#[test]
fn io_weight_falls_back_to_bfq_with_the_raw_weight() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    stdfs::remove_file(dir.join("io.weight")).unwrap();
    stdfs::write(dir.join("io.bfq.weight"), "").unwrap();
    let resources = Resources {
        blkio: Blkio { weight: Some(500) },
        ..Resources::default()
    };
    manager.apply(&resources).unwrap();
    assert_eq!(read(dir.join("io.bfq.weight")), "500");
    stdfs::remove_file(dir.join("io.bfq.weight")).unwrap();
    assert!(matches!(
        manager.apply(&resources),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn processes_and_oom_count() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    manager.add_process(77).unwrap();
    assert_eq!(read(dir.join("cgroup.procs")), "77");
    assert_eq!(manager.procs().unwrap(), vec![77]);
    assert_eq!(manager.oom_kill_count().unwrap(), 0, "no memory.events");
    stdfs::write(
        dir.join("memory.events"),
        "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n",
    )
    .unwrap();
    assert_eq!(manager.oom_kill_count().unwrap(), 2);
    stdfs::write(dir.join("cgroup.procs"), "77\nnot-a-pid\n").unwrap();
    assert!(matches!(manager.procs(), Err(Error::Parse { line: 2, .. })));
}

#[test]
fn freeze_and_thaw() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    stdfs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    manager.set_frozen(true).unwrap();
    assert_eq!(read(dir.join("cgroup.freeze")), "1");
    manager.set_frozen(false).unwrap();
    assert_eq!(read(dir.join("cgroup.freeze")), "0");
}

#[test]
fn kill_all_uses_cgroup_kill_for_sigkill() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    stdfs::write(dir.join("cgroup.kill"), "").unwrap();
    manager.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(read(dir.join("cgroup.kill")), "1");
    assert_eq!(read(dir.join("cgroup.freeze")), "", "no freeze needed");
}

#[test]
fn kill_all_without_cgroup_kill_freezes_and_signals() {
    let fake = Fake::new();
    let (manager, dir) = fake.leaf();
    stdfs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    stdfs::write(dir.join("cgroup.procs"), format!("{}\n", child.id())).unwrap();
    manager.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(read(dir.join("cgroup.freeze")), "0");
}

#[test]
fn destroy_removes_the_leaf_and_is_idempotent() {
    let fake = Fake::new();
    let manager = fake.manager("/a/b");
    let dir = fake.kernel_mkdir("/a/b", &[]);
    manager.destroy().unwrap();
    assert!(!dir.exists());
    assert!(fake.root().join("a").is_dir());
    manager.destroy().unwrap();
    assert_eq!(manager.paths(), vec![(Vec::new(), dir)]);
}
