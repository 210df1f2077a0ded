//! Terminals: the container's pty is made inside its own devpts, and the master end is sent to
//! the caller's `--console-socket` with SCM_RIGHTS, as runc does.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

/// Errors with terminals.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The console socket could not be reached.
    #[error("connecting to console socket {path}: {source}")]
    Connect {
        /// The socket.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A pty call failed.
    #[error("{what}: {errno}")]
    Pty {
        /// What was being done.
        what: &'static str,
        /// The error.
        errno: Errno,
    },
}

/// Connects to the caller's console socket (close-on-exec).
pub fn connect(path: &Path) -> Result<OwnedFd, ConsoleError> {
    let stream = UnixStream::connect(path).map_err(|source| ConsoleError::Connect {
        path: path.display().to_string(),
        source,
    })?;
    Ok(OwnedFd::from(stream))
}

/// Inside the container: opens a pty, sends its master over `socket`, and makes the slave the
/// process's controlling terminal and stdio.
pub fn setup_pty(socket: &OwnedFd) -> Result<(), ConsoleError> {
    let err = |what| move |errno| ConsoleError::Pty { what, errno };
    let pty = nix::pty::openpty(None, None).map_err(err("opening a pty in the container"))?;
    let name = nix::unistd::ttyname(&pty.slave)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let fds = [pty.master.as_raw_fd()];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(err("sending the pty master to the console socket"))?;
    drop(pty.master);
    make_controlling(pty.slave)
}

/// Makes `slave` the controlling terminal and stdin/stdout/stderr of this process.
pub fn make_controlling(slave: OwnedFd) -> Result<(), ConsoleError> {
    let err = |what| move |errno| ConsoleError::Pty { what, errno };
    nix::unistd::setsid().map_err(err("setsid"))?;
    // SAFETY: TIOCSCTTY on a tty fd we own.
    Errno::result(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .map_err(err("making the pty the controlling terminal"))?;
    for target in 0..3 as RawFd {
        // SAFETY: dup2 onto the standard descriptors.
        Errno::result(unsafe { libc::dup2(slave.as_raw_fd(), target) })
            .map_err(err("attaching the pty to stdio"))?;
    }
    Ok(())
}
