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
    fn add_process(&self, pid: i32) -> Result<()>;

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
