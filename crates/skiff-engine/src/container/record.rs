//! What the engine keeps on disk per container, under `<data>/containers/<id>/`:
//! `container.json` (the [`ContainerRecord`], written at create), `shim.json` (the shim's and
//! the process's pids, written by the shim once the process runs) and `exit.json` (how it
//! ended, written by the shim). A container's status is derived from these files and from
//! whether its shim is still alive — nothing is kept in memory, so a restarted engine (or any
//! other `skiff` command) sees the same thing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use skiff_runtime::state::proc_stat;

use super::config::ContainerConfig;
use crate::digest::Digest;
use crate::engine::RuntimeChoice;
use crate::fsutil::{read_limited, write_replace};

/// Largest record file read.
const MAX_RECORD: u64 = 4 << 20;

/// The container as created.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image's id (config digest).
    pub image_id: Digest,
    /// The image as the user named it.
    pub image_name: String,
    /// The image's config (kept here so the container does not depend on the image staying).
    pub image_config: ImageConfiguration,
    /// The image's layers (diff ids), bottom first.
    pub layers: Vec<Digest>,
    /// What the container was created with.
    pub config: ContainerConfig,
    /// The OCI runtime running it.
    pub runtime: RuntimeChoice,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Its place on the node network (bridge mode).
    #[serde(default)]
    pub network: Option<crate::network::Attachment>,
}

/// Written by the shim once the container's process runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShimState {
    /// The shim's pid.
    pub shim_pid: i32,
    /// The shim's start time (field 22 of /proc/PID/stat), to tell it from a reused pid.
    pub shim_start: u64,
    /// The container's init process.
    pub pid: i32,
    /// The process's start time, likewise.
    pub pid_start: u64,
    /// When the process started (RFC 3339).
    pub started_at: String,
    /// The kernel's boot id when it started: after a reboot nothing is running.
    pub boot_id: String,
}

/// Written by the shim when the container's process has ended and been cleaned up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitState {
    /// Exit code (128+N for signal N, as shells report it).
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Whether the kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// When it ended (RFC 3339).
    pub finished_at: String,
    /// Set when the engine, not the process, decided the end (the shim died, the node
    /// rebooted).
    pub error: Option<String>,
}

/// A container's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or its start failed).
    Created,
    /// Its process runs.
    Running,
    /// Its process ended.
    Exited,
    /// Its shim vanished without recording an end; `rm` cleans it up.
    Dead,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Dead => "dead",
        })
    }
}

/// Paths of one container's files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `<data>/containers/<id>`.
    pub dir: PathBuf,
}

impl Paths {
    /// The paths of container `id` under `containers_dir`.
    pub fn new(containers_dir: &Path, id: &str) -> Self {
        Paths {
            dir: containers_dir.join(id),
        }
    }
    /// `container.json`.
    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    /// `shim.json`.
    pub fn shim(&self) -> PathBuf {
        self.dir.join("shim.json")
    }
    /// `exit.json`.
    pub fn exit(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    /// The OCI bundle (config.json and the rootfs mount point).
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
    /// The overlay mount point.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("bundle/rootfs")
    }
    /// The overlay upper directory.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    /// The overlay work directory.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// The tmpfs the container's secret and config files are staged on.
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }
    /// The log directory.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    /// The shim's own diagnostics.
    pub fn shim_log(&self) -> PathBuf {
        self.dir.join("shim.log")
    }
    /// Held (flock) by the container's shim from before it reads the record until it ends,
    /// and by `rm` while it removes the container: one shim per container at a time, and no
    /// removal under a shim that is still starting.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("shim.lock")
    }
    /// Held (shared) by `wait` until it has read `exit.json`; the shim of a `--rm` container
    /// takes it exclusively before removing the container, so a waiter gets the exit code.
    pub fn waiters(&self) -> PathBuf {
        self.dir.join("waiters.lock")
    }
    /// The shim that holds the lock (`PID START`), written once it has taken it. A container
    /// process that a killed shim left before its exec still holds the lock; this file tells
    /// it apart from a live shim.
    pub fn lock_owner(&self) -> PathBuf {
        self.dir.join("shim.owner")
    }
}

/// Whether the lock of the container at `paths` is held by what a dead shim left (a
/// container process before its exec) rather than by a live shim.
pub fn lock_owner_dead(paths: &Paths) -> bool {
    let Ok(text) = fs::read_to_string(paths.lock_owner()) else {
        return false; // a shim that has not written it yet
    };
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(pid)), Some(Ok(start))) => !alive(pid as i32, start),
        _ => false,
    }
}

/// Reads a JSON file of the container; `None` when absent.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match read_limited(path, MAX_RECORD) {
        // The caller names the file.
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a JSON file of the container atomically (not synced: see
/// [`crate::fsutil::write_replace`]).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_replace(path, &bytes)
}

/// Start time of process `pid` (clock ticks since boot), `None` if it does not exist.
pub fn process_start(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|s| s.start_time)
}

/// Whether process `pid` with start time `start` is still alive (not a zombie): a pid the
/// kernel gave to another process since has another start time.
pub fn alive(pid: i32, start: u64) -> bool {
    pid > 0
        && proc_stat(pid).is_some_and(|s| !matches!(s.state, 'Z' | 'X') && s.start_time == start)
}

/// This boot's id.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The status files say: `Created` without shim.json, `Exited` with exit.json, `Running`
/// while the shim lives (this boot), `Dead` otherwise.
pub fn status(shim: Option<&ShimState>, exit: Option<&ExitState>) -> Status {
    match (shim, exit) {
        (_, Some(_)) => Status::Exited,
        (None, None) => Status::Created,
        (Some(s), None) => {
            if s.boot_id == boot_id() && alive(s.shim_pid, s.shim_start) {
                Status::Running
            } else {
                Status::Dead
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_others_are_not() {
        let me = std::process::id() as i32;
        let start = process_start(me).unwrap();
        assert!(alive(me, start));
        assert!(!alive(me, start + 1), "a reused pid has another start time");
        assert!(!alive(-1, 0));
    }

    #[test]
    fn status_from_files() {
        assert_eq!(status(None, None), Status::Created);
        let me = std::process::id() as i32;
        let shim = ShimState {
            shim_pid: me,
            shim_start: process_start(me).unwrap(),
            pid: me,
            pid_start: 0,
            started_at: "t".into(),
            boot_id: boot_id(),
        };
        assert_eq!(status(Some(&shim), None), Status::Running);
        let rebooted = ShimState {
            boot_id: "other".into(),
            ..shim.clone()
        };
        assert_eq!(status(Some(&rebooted), None), Status::Dead);
        let exit = ExitState {
            exit_code: 0,
            signal: None,
            oom_killed: false,
            finished_at: "t".into(),
            error: None,
        };
        assert_eq!(status(Some(&shim), Some(&exit)), Status::Exited);
    }
}
