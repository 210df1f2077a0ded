//! cgroup v1 and v2 behind one trait.
//!
//! A [`Layout`] says where the host's cgroup hierarchies are mounted (v1: one mount per controller
//! or group of co-mounted controllers; v2: one unified mount). [`detect`] reads it off the host;
//! tests build one over a temporary directory (a fake cgroupfs tree) instead. [`manager`] then
//! gives a [`CgroupManager`] for one cgroup path in that layout.
//!
//! Hybrid hosts (v1 controllers on a tmpfs at `/sys/fs/cgroup`, plus a cgroup2 mount at
//! `/sys/fs/cgroup/unified` that may hold a controller such as hugetlb) are treated as v1: the
//! cgroup2 mount is not used for resource control.
#![warn(missing_docs)]

mod detect;
mod error;
mod fs;
mod resources;
pub mod v1;
pub mod v2;

use std::path::{Path, PathBuf};

pub use detect::{detect, detect_from, Hierarchy, Layout};
pub use error::{Error, Result};
pub use resources::{Blkio, Cpu, DeviceRule, Memory, Pids, Resources};

/// The cgroup version a manager drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

/// One cgroup, in whatever version the host uses.
///
/// Every method is cheap enough for the container start path: no sleeping, no re-reading of the
/// host's mount table.
pub trait CgroupManager: std::fmt::Debug {
    /// The version this manager drives.
    fn version(&self) -> Version;

    /// Creates the cgroup and any missing parents (enabling the needed controllers on v2).
    /// Succeeds if it already exists.
    fn create(&self) -> Result<()>;

    /// Writes the given limits. Fields that are `None` are left as they are.
    fn apply(&self, resources: &Resources) -> Result<()>;

    /// Moves a process into the cgroup (in every hierarchy on v1).
    ///
    /// This takes the kernel's global threadgroup lock, whose write side waits for an RCU
    /// grace period (10–25 ms); on the container start path use [`prepare_join`](Self::prepare_join).
    fn add_process(&self, pid: i32) -> Result<()>;

    /// Opens what a new process needs to be placed into the cgroup without the global lock:
    /// on v1 the `tasks` files, to which the forked single-threaded child writes "0" itself
    /// ([`Join::join_current`]); on v2 the cgroup directory, for `clone3(CLONE_INTO_CGROUP)`
    /// ([`Join::clone_into`]).
    fn prepare_join(&self) -> Result<Join>;

    /// The processes in the cgroup (from `cgroup.procs`; on v1 the first hierarchy that has one).
    fn procs(&self) -> Result<Vec<i32>>;

    /// How many times the kernel's OOM killer killed a process in this cgroup
    /// (v1 `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill`); 0 if unknown.
    fn oom_kill_count(&self) -> Result<u64>;

    /// Freezes (`true`) or thaws (`false`) every process in the cgroup.
    fn set_frozen(&self, frozen: bool) -> Result<()>;

    /// Sends `signal` to every process in the cgroup without racing against forks: on v2 with
    /// SIGKILL, `cgroup.kill`; otherwise freeze, signal each process, thaw.
    fn kill_all(&self, signal: i32) -> Result<()>;

    /// Removes the cgroup (every hierarchy on v1). Succeeds if it does not exist.
    fn destroy(&self) -> Result<()>;

    /// The cgroup's directory in each hierarchy, with the controllers mounted there
    /// (v1: e.g. `["cpu","cpuacct"]`; v2: one entry with an empty list). Used to make the
    /// container's `/sys/fs/cgroup`.
    fn paths(&self) -> Vec<(Vec<String>, PathBuf)>;
}

/// Descriptors opened by [`CgroupManager::prepare_join`] before a fork.
#[derive(Debug)]
pub struct Join {
    tasks: Vec<(PathBuf, std::fs::File)>,
    dir: Option<std::os::fd::OwnedFd>,
}

impl Join {
    /// v1: moves the calling thread — the whole process, if it is single-threaded — into the
    /// cgroup in every hierarchy. Moving oneself skips the kernel's threadgroup lock.
    pub fn join_current(&self) -> Result<()> {
        use std::io::Write;
        for (path, file) in &self.tasks {
            (&*file).write_all(b"0").map_err(|source| Error::Write {
                path: path.clone(),
                value: "0".into(),
                source,
            })?;
        }
        Ok(())
    }

    /// v2: the cgroup directory, for `clone3` with `CLONE_INTO_CGROUP`.
    pub fn clone_into(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.dir.as_ref().map(|fd| fd.as_fd())
    }
}

/// A manager for the cgroup at `path` (absolute, relative to each hierarchy's root, e.g.
/// `/skiff/ctr1`) in `layout`.
pub fn manager(layout: &Layout, path: &Path) -> Result<Box<dyn CgroupManager>> {
    Ok(match layout {
        Layout::V1 { hierarchies } => Box::new(v1::V1Manager::new(hierarchies.clone(), path)?),
        Layout::V2 { root } => Box::new(v2::V2Manager::new(root.clone(), path)?),
    })
}

/// Checks that a cgroup path stays inside the hierarchy and returns it without its leading `/`.
fn relative_path(path: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::InvalidPath {
                    path: path.to_path_buf(),
                })
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::InvalidPath {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}
