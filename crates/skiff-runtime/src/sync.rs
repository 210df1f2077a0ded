//! The channel between the runtime and the container process while the container is created:
//! a `SOCK_SEQPACKET` socket pair, one message per step.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

/// A message on the creation channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Runtime → container: the cgroup is joined and the id maps are written; go on. Carries
    /// the container's pid as the runtime sees it (for the hooks' state).
    Go(i32),
    /// Container → runtime: namespaces and mounts exist; run the createRuntime hooks.
    RunHooks,
    /// Runtime → container: the hooks ran.
    HooksDone,
    /// Container → runtime: set up and waiting for `start`.
    Ready,
    /// Container → runtime: setup failed.
    Error(String),
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// Makes a connected pair (close-on-exec).
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends a message.
    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        let mut buf = Vec::with_capacity(64);
        match msg {
            Msg::Go(pid) => {
                buf.push(1);
                buf.extend_from_slice(&pid.to_le_bytes());
            }
            Msg::RunHooks => buf.push(2),
            Msg::HooksDone => buf.push(3),
            Msg::Ready => buf.push(4),
            Msg::Error(text) => {
                buf.push(5);
                let bytes = text.as_bytes();
                buf.extend_from_slice(&bytes[..bytes.len().min(8000)]);
            }
        }
        loop {
            // SAFETY: writing an initialised buffer to an fd we own.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Receives a message; `None` when the other end is closed.
    pub fn recv(&self) -> io::Result<Option<Msg>> {
        let mut buf = [0u8; 8192];
        let n = loop {
            // SAFETY: reading into a buffer we own, within its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                break n as usize;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        };
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(match buf[0] {
            1 if n == 5 => Msg::Go(i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]])),
            2 => Msg::RunHooks,
            3 => Msg::HooksDone,
            4 => Msg::Ready,
            5 => Msg::Error(String::from_utf8_lossy(&buf[1..n]).into_owned()),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown sync message {other}"),
                ))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        for msg in [
            Msg::Go(42),
            Msg::RunHooks,
            Msg::HooksDone,
            Msg::Ready,
            Msg::Error("mount: EPERM".into()),
        ] {
            a.send(&msg).unwrap();
            assert_eq!(b.recv().unwrap(), Some(msg));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
