//! Namespace flags and joining namespaces by path.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use crate::spec::Namespaces;

/// Errors while joining a namespace.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// The namespace file could not be opened.
    #[error("opening {kind} namespace {path}: {errno}")]
    Open {
        /// Namespace type.
        kind: String,
        /// Path.
        path: String,
        /// Error.
        errno: nix::errno::Errno,
    },
    /// setns(2) failed.
    #[error("joining {kind} namespace {path}: {errno}")]
    Join {
        /// Namespace type.
        kind: String,
        /// Path.
        path: String,
        /// Error.
        errno: nix::errno::Errno,
    },
}

/// The clone flag of a namespace type.
pub fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

/// The name of a namespace under `/proc/PID/ns/`.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The flags for clone(2): every namespace the spec creates, except the cgroup namespace,
/// which the container process unshares once it is inside its cgroup.
pub fn clone_flags(ns: &Namespaces) -> CloneFlags {
    ns.entries
        .iter()
        .filter(|(t, p)| p.is_none() && *t != LinuxNamespaceType::Cgroup)
        .fold(CloneFlags::empty(), |acc, (t, _)| acc | flag(*t))
}

/// An opened namespace file, ready for setns.
#[derive(Debug)]
pub struct NsFile {
    /// Type.
    pub typ: LinuxNamespaceType,
    /// Where it came from (for errors).
    pub path: String,
    /// The open file.
    pub fd: OwnedFd,
}

/// Opens a namespace file.
pub fn open_ns(typ: LinuxNamespaceType, path: &Path) -> Result<NsFile, NamespaceError> {
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|errno| {
        NamespaceError::Open {
            kind: proc_name(typ).into(),
            path: path.display().to_string(),
            errno,
        }
    })?;
    Ok(NsFile {
        typ,
        path: path.display().to_string(),
        fd,
    })
}

/// Opens every namespace the spec joins by path, except pid (joined by the runtime before the
/// fork). The user namespace, if any, comes first: the others are joined with its privileges.
pub fn open_joined(ns: &Namespaces) -> Result<Vec<NsFile>, NamespaceError> {
    let mut files = Vec::new();
    for (typ, path) in &ns.entries {
        if let (Some(path), false) = (path, *typ == LinuxNamespaceType::Pid) {
            files.push(open_ns(*typ, path)?);
        }
    }
    files.sort_by_key(|f| f.typ != LinuxNamespaceType::User);
    Ok(files)
}

/// Joins an opened namespace.
pub fn join(file: &NsFile) -> Result<(), NamespaceError> {
    setns(&file.fd, flag(file.typ)).map_err(|errno| NamespaceError::Join {
        kind: proc_name(file.typ).into(),
        path: file.path.clone(),
        errno,
    })
}
