//! The runtime's error type: one variant per module error, plus lifecycle errors.

use std::path::PathBuf;

use crate::state::Status;

/// Everything a runtime operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json is unreadable, malformed or refused.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// The process section cannot be used.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// The rootfs plan refused a mount or device.
    #[error(transparent)]
    Plan(#[from] crate::rootfs::PlanError),
    /// The seccomp section cannot be compiled.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The state directory.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// cgroups.
    #[error("cgroup: {0}")]
    Cgroup(#[from] skiff_cgroups::Error),
    /// A namespace could not be joined.
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NamespaceError),
    /// A hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// The console socket.
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// The container process reported a failure while setting itself up.
    #[error("container setup failed: {message}")]
    Init {
        /// What the container process said.
        message: String,
    },
    /// A system call of the runtime itself failed.
    #[error("{what}: {errno}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// A file of the runtime's own (pid file, fifo) could not be written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The operation is not allowed in the container's current status.
    #[error("container {id} is {status}: {hint}")]
    WrongStatus {
        /// Container id.
        id: String,
        /// Its status.
        status: Status,
        /// What to do instead.
        hint: &'static str,
    },
    /// The calling process has more than one thread, so it cannot fork safely.
    #[error("the runtime must be called from a single-threaded process ({threads} threads); use the skiff-runtime binary or a shim")]
    MultiThreaded {
        /// Thread count.
        threads: usize,
    },
    /// A signal name or number is not known.
    #[error("unknown signal {0:?}: use a name such as TERM or SIGKILL, or a number")]
    Signal(String),
    /// The process did not exit in time after SIGKILL.
    #[error("container {id}: process {pid} did not exit within {seconds}s of SIGKILL")]
    KillTimeout {
        /// Container id.
        id: String,
        /// Its pid.
        pid: i32,
        /// How long we waited.
        seconds: u64,
    },
}

impl Error {
    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Error {
        let what = what.into();
        move |errno| Error::Sys { what, errno }
    }
}

/// Result with the runtime's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
