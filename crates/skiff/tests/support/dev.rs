//! `skiff dev` (a control plane and an agent with the real engine, in one process) in a
//! network namespace of its own, for the tests that drive a whole node through the CLI.
//! Dropping a [`DevCluster`] stops the process (by its pid), removes the containers it left
//! and their mounts, then the namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use skiff_testkit::image::layered_busybox;

use super::{mounts_under, skiff_bin};

/// A running `skiff dev`.
pub struct DevCluster {
    /// Its files: the data directory (`dev/`), the log (`dev.log`), the test's own files.
    pub dir: tempfile::TempDir,
    netns: String,
    child: Option<Child>,
}

impl DevCluster {
    /// Starts `skiff dev` in a new namespace named `name` + this process's id, its engine
    /// loaded with the test image (`test:latest`) first, applying `manifest` (a compose file's
    /// text) if given.
    pub fn start(name: &str, manifest: Option<&str>) -> DevCluster {
        let netns = format!("{name}{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        ip(&["netns", "add", &netns]);
        let mut dev = DevCluster {
            dir: tempfile::Builder::new()
                .prefix("skiff-dev-test-")
                .tempdir()
                .unwrap(),
            netns,
            child: None,
        };
        ip(&["-n", &dev.netns, "link", "set", "lo", "up"]);
        let layout = dev.dir.path().join("layout");
        layered_busybox().write_oci_layout(&layout, "test:latest");
        let engine = dev.engine_dir();
        let load = dev.skiff(&[
            "image",
            "--data-dir",
            engine.to_str().unwrap(),
            "load",
            "-i",
            layout.to_str().unwrap(),
        ]);
        assert!(load.status.success(), "{load:?}");
        let mut command = dev.command(&["dev", "--data-dir"]);
        command.arg(dev.data_dir());
        if let Some(yaml) = manifest {
            let file = dev.dir.path().join("compose.yaml");
            std::fs::write(&file, yaml).unwrap();
            command.arg("-f").arg(file);
        }
        let log = std::fs::File::create(dev.dir.path().join("dev.log")).unwrap();
        let child = command.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        dev.child = Some(child);
        dev
    }

    /// `skiff dev`'s data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("dev")
    }

    /// The agent's engine's data directory.
    pub fn engine_dir(&self) -> PathBuf {
        self.data_dir().join("agent").join("engine")
    }

    /// `skiff ARGS…` in the namespace, pointed at this dev cluster.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(skiff_bin())
            .args(args)
            .env("SKIFF_DEV_DIR", self.data_dir())
            .env_remove("SKIFF_SERVER")
            .env_remove("SKIFF_TOKEN")
            .env_remove("SKIFF_ENV");
        c
    }

    /// `skiff ARGS…`'s output.
    pub fn skiff(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `skiff ARGS…`'s standard output; it must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        assert!(
            out.status.success(),
            "skiff {args:?}: {out:?}\n{}",
            self.log()
        );
        text(&out.stdout)
    }

    /// What `skiff dev` wrote on its standard error.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dev.log")).unwrap_or_default()
    }

    /// Waits (up to a minute) until `skiff ARGS…` succeeds with `check` true of its output.
    pub fn eventually(&self, args: &[&str], check: impl Fn(&Output) -> bool) -> Output {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.skiff(args);
            if out.status.success() && check(&out) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "skiff {args:?}: {out:?}\n--- skiff dev:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let engine = self.engine_dir();
        for id in container_ids(&engine) {
            let data = engine.to_str().unwrap();
            let _ = self.skiff(&["container", "--data-dir", data, "rm", "-f", &id]);
        }
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

/// The ids of the containers the engine in `engine` holds.
pub fn container_ids(engine: &Path) -> Vec<String> {
    std::fs::read_dir(engine.join("containers"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
