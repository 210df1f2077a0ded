//! Shared harness of the root tests: busybox bundles, a runtime runner with its own state
//! root, and guards that delete containers even when a test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

pub const BUSYBOX: &str = "/bin/busybox";

/// Fails loudly when not root: these tests prove kernel features and must not pass vacuously.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (real namespaces, mounts and cgroups); run the suite as root"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: apt-get install busybox-static"
    );
}

/// A unique container id for this test process.
pub fn unique_id(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An OCI bundle with a busybox root filesystem.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// A bundle running `args`, based on the runtime's default spec with terminal off.
    pub fn busybox(args: &[&str]) -> Bundle {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("skiff-bundle-")
            .tempdir()
            .unwrap();
        make_rootfs(&dir.path().join("rootfs"));
        let mut config: Value = serde_json::from_str(skiff_runtime::spec::EXAMPLE).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        let bundle = Bundle { dir, config };
        bundle.write();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Changes config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        self.write();
    }

    fn write(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

/// A busybox rootfs: the static binary, a link per applet, /etc/passwd and /tmp.
pub fn make_rootfs(root: &Path) {
    for dir in ["bin", "etc", "tmp", "proc", "dev", "sys", "root"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
}

/// An OCI runtime binary with its own state root.
pub struct Runtime {
    pub binary: PathBuf,
    pub root: tempfile::TempDir,
}

impl Runtime {
    pub fn skiff() -> Runtime {
        require_root();
        Runtime {
            binary: env!("CARGO_BIN_EXE_skiff-runtime").into(),
            root: tempfile::Builder::new()
                .prefix("skiff-state-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn runc() -> Runtime {
        require_root();
        let binary = which("runc").expect("runc is missing: apt-get install runc");
        Runtime {
            binary,
            root: tempfile::Builder::new()
                .prefix("runc-state-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(self.root.path());
        cmd
    }

    /// Runs a runtime command to completion, capturing its output (stdin closed).
    pub fn exec(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a runtime command and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}\nstdout: {}",
            self.binary.display(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `run` in the foreground; returns (exit code, stdout, stderr).
    pub fn run(&self, bundle: &Bundle, id: &str) -> (i32, String, String) {
        let _guard = self.guard(id);
        let out = self.exec(&["run", "--bundle", bundle.path().to_str().unwrap(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `create` with the container's stdio sent to files in the bundle (so that this call does
    /// not wait for the container to close them).
    pub fn create(&self, bundle: &Bundle, id: &str) -> Output {
        let out = std::fs::File::create(bundle.path().join("stdout")).unwrap();
        let err = std::fs::File::create(bundle.path().join("stderr")).unwrap();
        let status = self
            .command()
            .args(["create", "--bundle", bundle.path().to_str().unwrap(), id])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(bundle.path().join("stdout")).unwrap_or_default(),
            stderr: std::fs::read(bundle.path().join("stderr")).unwrap_or_default(),
        }
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// Deletes the container (forcefully) when dropped, also on panic.
    pub fn guard(&self, id: &str) -> Guard {
        Guard {
            binary: self.binary.clone(),
            root: self.root.path().to_path_buf(),
            id: id.to_string(),
        }
    }
}

pub struct Guard {
    binary: PathBuf,
    root: PathBuf,
    id: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Command::new(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Waits until `f` holds, up to `ms` milliseconds.
pub fn wait_until(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    f()
}

/// The cgroup v1 directories of a container at the default path, for leak checks.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    [
        "memory", "pids", "cpu", "cpuset", "freezer", "devices", "blkio",
    ]
    .iter()
    .map(|c| PathBuf::from(format!("/sys/fs/cgroup/{c}/skiff/{id}")))
    .collect()
}

/// Lines of /proc/self/mountinfo that mention `needle` (for leak checks).
pub fn host_mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}
