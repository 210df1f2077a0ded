//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while detecting or driving cgroups; each message names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a control file failed (the kernel refused the value, or the file is missing).
    #[error("writing {value:?} to {}: {source}", path.display())]
    Write {
        /// The control file.
        path: PathBuf,
        /// The value that was written.
        value: String,
        /// The kernel's answer.
        source: io::Error,
    },

    /// Reading a control file (or the mount table) failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },

    /// Creating a cgroup directory failed.
    #[error("creating cgroup directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },

    /// Removing a cgroup directory failed (EBUSY: processes or child cgroups are still in it).
    #[error("removing cgroup directory {}: {source}", path.display())]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },

    /// The resources ask for a controller the host does not provide (or has not enabled here).
    #[error(
        "cgroup controller {controller:?} is not available on this host but is needed for \
         {what}; enable the controller or remove the setting"
    )]
    MissingController {
        /// The controller, e.g. `memory`.
        controller: String,
        /// The setting that needs it, e.g. `memory limit`.
        what: String,
    },

    /// A swap limit was asked for on a v1 host without `memory.memsw.*` files.
    #[error(
        "a swap limit was requested but the host has no swap accounting \
         (memory.memsw.limit_in_bytes is missing); boot with swapaccount=1 or leave swap unset \
         (or equal to the memory limit)"
    )]
    NoSwapAccounting,

    /// A feature this crate or the host cannot provide.
    #[error("{what} is not supported")]
    Unsupported {
        /// The feature and why it is unavailable.
        what: String,
    },

    /// A resource value that cannot be applied as given.
    #[error("invalid {field}: {reason}")]
    InvalidResource {
        /// The field, e.g. `memory.swap`.
        field: String,
        /// Why it is invalid and what would be valid.
        reason: String,
    },

    /// A cgroup path that would leave the hierarchy (`..`) or is empty.
    #[error(
        "invalid cgroup path {}: it must name a cgroup below the hierarchy root, without `..`",
        path.display()
    )]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
    },

    /// A `unified` key that is not a plain file name of the cgroup directory.
    #[error("invalid unified key {key:?}: it must be a file name such as `memory.high`, without `/` or `..`")]
    InvalidUnifiedKey {
        /// The key as given.
        key: String,
    },

    /// No cgroup filesystem is mounted at all.
    #[error(
        "no cgroup filesystem is mounted (none found in /proc/self/mountinfo); mount cgroup2 at \
         /sys/fs/cgroup"
    )]
    NoCgroupMounts,

    /// A kernel file had a line this crate could not understand.
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What was wrong with the line.
        reason: String,
    },

    /// The cgroup did not reach the frozen state in time (a process may be stuck in the kernel).
    #[error("cgroup {} did not freeze within {timeout_ms} ms; it was thawed again", path.display())]
    FreezeTimeout {
        /// The cgroup directory.
        path: PathBuf,
        /// How long we waited.
        timeout_ms: u64,
    },

    /// Sending a signal to a process of the cgroup failed.
    #[error("sending signal {signal} to process {pid}: {source}")]
    Kill {
        /// The process.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// The kernel's answer.
        source: nix::errno::Errno,
    },
}
