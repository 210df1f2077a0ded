//! Shared set-up of the engine's end-to-end tests: a data directory per test with the test
//! image loaded, the `skiff` binary, and a guard that removes every container, mount and
//! directory the test made even when it fails.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use skiff_testkit::image::layered_busybox;

/// The binary under test.
pub fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// One test's engine: a data directory with the layered busybox image loaded as `test:latest`.
#[derive(Debug)]
pub struct TestEngine {
    pub dir: tempfile::TempDir,
    /// The network namespace (under /run/netns) every command runs in, when not the test
    /// process's own (see `netns.rs`).
    pub netns: Option<String>,
    /// The data directory's name under `dir` (`data` unless made by
    /// [`TestEngine::with_image_at`]).
    pub data_name: &'static str,
}

impl TestEngine {
    /// A fresh data directory with the test image loaded.
    pub fn with_image() -> TestEngine {
        TestEngine::with_image_in(None)
    }

    /// A fresh data directory with the test image loaded, whose commands run in network
    /// namespace `netns` (only the network namespace: mounts stay the test's).
    pub fn with_image_in(netns: Option<&str>) -> TestEngine {
        TestEngine::with_image_at(netns, "data")
    }

    /// Like [`TestEngine::with_image_in`], with the data directory at `dir/NAME` (an agent's
    /// data directory `dir` keeps its engine in `dir/engine`).
    pub fn with_image_at(netns: Option<&str>, data_name: &'static str) -> TestEngine {
        let mut engine = TestEngine::empty();
        engine.data_name = data_name;
        engine.netns = netns.map(str::to_string);
        let layout = engine.dir.path().join("layout");
        layered_busybox().write_oci_layout(&layout, "test:latest");
        engine.ok(&["image", "load", "-i", layout.to_str().unwrap()]);
        engine
    }

    /// A fresh data directory.
    pub fn empty() -> TestEngine {
        let dir = tempfile::Builder::new()
            .prefix("skiff-engine-test-")
            .tempdir()
            .unwrap();
        TestEngine {
            dir,
            netns: None,
            data_name: "data",
        }
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join(self.data_name)
    }

    /// Runs `skiff GROUP --data-dir DATA REST…` for `args` = `[GROUP, REST…]` (before the
    /// rest, which may end with a container's own command line).
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run skiff")
    }

    /// The command `run` runs.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                // nsenter switches only the network namespace (`ip netns exec` would also
                // give the command a mount namespace of its own, where its mounts die).
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg(skiff_bin());
                c
            }
            None => Command::new(skiff_bin()),
        };
        cmd.arg(args[0])
            .arg("--data-dir")
            .arg(self.data())
            .args(&args[1..]);
        cmd
    }

    /// Runs skiff and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs skiff and insists on failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "skiff {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Container ids under the data directory.
    pub fn container_dirs(&self) -> Vec<String> {
        fs::read_dir(self.data().join("containers"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks that nothing of container `id` is left: no directory, mount, cgroup or runtime
    /// state.
    pub fn assert_clean(&self, id: &str) {
        assert!(
            !self.data().join("containers").join(id).exists(),
            "container directory of {id} left"
        );
        let mounts = mounts_under(&self.data());
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        let cgroups = cgroup_dirs(id);
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
        assert!(
            !self.data().join("runtime").join(id).exists(),
            "runtime state of {id} left"
        );
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        // Whatever the test did, remove every container (the shims unmount and delete the
        // cgroups), then anything still mounted under the directory.
        for id in self.container_dirs() {
            let _ = self.run(&["container", "rm", "-f", &id]);
        }
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Mount points at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(&dir))
        .collect()
}

/// The cgroup directories of container `id` that exist (any hierarchy).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            let p = h.path().join("skiff").join(id);
            if p.exists() {
                out.push(p);
            }
        }
    }
    let unified = Path::new("/sys/fs/cgroup/skiff").join(id);
    if unified.exists() {
        out.push(unified);
    }
    out
}

/// The id a `run -d` printed.
pub fn id_of(stdout: &str) -> String {
    let id = stdout.trim().to_string();
    assert_eq!(id.len(), 64, "expected an id, got {stdout:?}");
    id
}
pub mod dev;
pub mod netns;
pub mod web;
