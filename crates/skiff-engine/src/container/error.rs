//! Errors of the container lifecycle.

use super::record::Status;

/// What can go wrong with a container.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No container has that id, id prefix or name.
    #[error("no container {what:?} (skiff container ls lists them)")]
    NoSuchContainer {
        /// What was asked for.
        what: String,
    },
    /// An id prefix matches several containers.
    #[error("{what:?} matches {count} containers: give more of the id, or the name")]
    Ambiguous {
        /// The prefix.
        what: String,
        /// How many match.
        count: usize,
    },
    /// The name is taken.
    #[error(
        "the name {name:?} is already used by a container (remove it, or choose another name)"
    )]
    NameInUse {
        /// The name.
        name: String,
    },
    /// Ports published without the bridge network.
    #[error("ports: publishing a port needs the bridge network (--network bridge)")]
    PortsNeedBridge,
    /// The name is not valid.
    #[error("invalid container name {name:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 128")]
    BadName {
        /// The name.
        name: String,
    },
    /// The operation does not fit the container's status.
    #[error("container {id} is {status}: {hint}")]
    WrongStatus {
        /// The container.
        id: String,
        /// Its status.
        status: Status,
        /// What to do.
        hint: &'static str,
    },
    /// The container did not end within the time given to wait for it.
    #[error("container {id} is still running after {waited:?}")]
    WaitTimeout {
        /// The container.
        id: String,
        /// How long was waited.
        waited: std::time::Duration,
    },
    /// Starting failed; the container stays created.
    #[error("container {id} failed to start: {message}")]
    StartFailed {
        /// The container.
        id: String,
        /// The shim's or runtime's message.
        message: String,
        /// What kind of failure it was, for callers that act on it.
        cause: StartFailure,
    },
    /// The shim misbehaved or could not be reached.
    #[error("container {id}: {message}")]
    Shim {
        /// The container.
        id: String,
        /// What happened.
        message: String,
    },
    /// An exec was asked to run nothing.
    #[error("container {id}: exec needs a command to run")]
    EmptyExec {
        /// The container.
        id: String,
    },
    /// The stop signal is not a signal.
    #[error("container {id}: stop signal {signal:?} is not a signal name or number")]
    BadStopSignal {
        /// The container.
        id: String,
        /// The text.
        signal: String,
    },
    /// A new container's stop signal is not a signal.
    #[error(
        "stop_signal: {signal:?} is not a signal name or number (such as SIGTERM, TERM or 15)"
    )]
    InvalidStopSignal {
        /// The text.
        signal: String,
    },
    /// The config cannot be turned into an OCI spec.
    #[error(transparent)]
    Spec(#[from] super::spec::SpecError),
    /// Mounting the root filesystem failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A volume could not be made or filled.
    #[error(transparent)]
    Volume(#[from] crate::storage::VolumeError),
    /// The user cannot be resolved.
    #[error(transparent)]
    User(#[from] super::user::UserError),
    /// The secret and config files cannot be given to it.
    #[error(transparent)]
    Files(#[from] super::files::FilesError),
}

/// Why a container's program could not be started, as far as callers act on it (`docker run`
/// exits 127 and 126 for the first two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// The program is not in the image (or not in its `PATH`).
    ProgramNotFound,
    /// The program is there but cannot be executed (permissions, a directory).
    ProgramNotExecutable,
    /// Anything else (mounts, limits, the runtime).
    Other,
}

impl StartFailure {
    /// Classifies a start error from its message: the runtimes (skiff-runtime, runc) report
    /// the program's failure as `exec: "PROGRAM": …` in runc's words.
    pub fn classify(message: &str) -> StartFailure {
        let Some(at) = message.find("exec: ") else {
            return StartFailure::Other;
        };
        let exec = &message[at..];
        if exec.contains("executable file not found") || exec.contains("no such file or directory")
        {
            StartFailure::ProgramNotFound
        } else if exec.contains("permission denied") || exec.contains("is a directory") {
            StartFailure::ProgramNotExecutable
        } else {
            StartFailure::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StartFailure;

    #[test]
    fn start_failures_are_classified_from_runc_style_messages() {
        assert_eq!(
            StartFailure::classify(r#"create: exec: "nope": executable file not found in $PATH"#),
            StartFailure::ProgramNotFound
        );
        assert_eq!(
            StartFailure::classify(r#"exec: "/etc/passwd": permission denied"#),
            StartFailure::ProgramNotExecutable
        );
        assert_eq!(
            StartFailure::classify("mount: no such file or directory"),
            StartFailure::Other
        );
    }
}
