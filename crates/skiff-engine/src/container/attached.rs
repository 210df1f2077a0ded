//! [`Attached`]: a started container seen from the command that started it — its output as
//! the shim sends it over the report pipe, signals passed on, and how it ended.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::error::ContainerError;
use super::lifecycle::signal_process;
use super::logs::Stream;
use super::record::{read_json, ExitState, Paths, ShimState};
use crate::error::Error;

/// A started container whose end can be awaited.
///
/// While it is held, the shim writes the container's output into its pipe, blocking when the
/// pipe is full: call [`wait`](Self::wait) (or [`wait_forwarding`](Self::wait_forwarding)) at once,
/// or drop it to detach — an `Attached` kept without reading stalls the container once the
/// pipe (64 KiB) is full. A detached container is waited for with
/// [`Engine::wait_container`](crate::Engine::wait_container).
#[derive(Debug)]
pub struct Attached {
    /// The container.
    pub id: String,
    /// Its init process.
    pub pid: i32,
    pub(super) paths: Paths,
    pub(super) report: BufReader<File>,
    /// The shim (readable once it has ended): its container process may hold the report
    /// pipe open after the shim died, so the end of the pipe alone does not tell.
    pub(super) shim: Option<OwnedFd>,
}

impl Attached {
    /// Waits for the end, handing the container's output to `on_output` byte for byte as it
    /// comes. Returns how the process ended.
    pub fn wait(self, on_output: &mut dyn FnMut(Stream, &[u8])) -> Result<ExitState, Error> {
        self.wait_forwarding(on_output, &[])
    }

    /// As [`wait`](Self::wait), and passes `signals` received meanwhile on to the container's
    /// process (as `docker run` does): they are blocked in the calling thread and read from a
    /// signalfd. For single-threaded callers such as the CLI.
    pub fn wait_forwarding(
        mut self,
        on_output: &mut dyn FnMut(Stream, &[u8]),
        signals: &[Signal],
    ) -> Result<ExitState, Error> {
        let mut mask = SigSet::empty();
        for s in signals {
            mask.add(*s);
        }
        let mut signal_fd = None;
        if !signals.is_empty() && mask.thread_block().is_ok() {
            signal_fd =
                SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok();
        }
        let result = self.wait_loop(on_output, signal_fd.as_mut());
        if !signals.is_empty() {
            let _ = mask.thread_unblock();
        }
        result
    }

    fn wait_loop(
        &mut self,
        on_output: &mut dyn FnMut(Stream, &[u8]),
        mut signal_fd: Option<&mut SignalFd>,
    ) -> Result<ExitState, Error> {
        let mut data = Vec::new();
        loop {
            if self.report.buffer().is_empty() {
                let (ready, signalled) = {
                    let mut fds = vec![PollFd::new(
                        self.report.get_ref().as_fd(),
                        PollFlags::POLLIN,
                    )];
                    let shim_at = fds.len();
                    if let Some(shim) = &self.shim {
                        fds.push(PollFd::new(shim.as_fd(), PollFlags::POLLIN));
                    }
                    let signal_at = fds.len();
                    if let Some(sfd) = signal_fd.as_deref() {
                        fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
                    }
                    let n = poll(&mut fds, PollTimeout::NONE).unwrap_or(0);
                    let readable = |i: usize| {
                        n > 0
                            && fds
                                .get(i)
                                .is_some_and(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                    };
                    if self.shim.is_some()
                        && readable(shim_at)
                        && !readable(0)
                        && !pipe_ready(self.report.get_ref())
                    {
                        break; // the shim is gone and said nothing more
                    }
                    (readable(0), signal_fd.is_some() && readable(signal_at))
                };
                if signalled {
                    if let Some(sfd) = signal_fd.as_deref_mut() {
                        while let Ok(Some(info)) = sfd.read_signal() {
                            self.forward(info.ssi_signo as i32);
                        }
                    }
                }
                if !ready {
                    continue;
                }
            }
            let mut line = String::new();
            if self.report.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim_end();
            if line == "exited" {
                break;
            }
            let frame = match line.split_once(' ') {
                Some(("out", n)) => Some((Stream::Stdout, n)),
                Some(("err", n)) => Some((Stream::Stderr, n)),
                _ => None,
            };
            let Some((stream, len)) = frame.and_then(|(s, n)| Some((s, n.parse::<usize>().ok()?)))
            else {
                continue;
            };
            data.resize(len, 0);
            if self.report.read_exact(&mut data).is_err() {
                break;
            }
            on_output(stream, &data);
        }
        let exit: Option<ExitState> =
            read_json(&self.paths.exit()).map_err(|source| Error::Io {
                path: self.paths.exit(),
                source,
            })?;
        exit.ok_or_else(|| {
            ContainerError::Shim {
                id: self.id.clone(),
                message: format!(
                    "the shim ended without recording an exit (see {})",
                    self.paths.shim_log().display()
                ),
            }
            .into()
        })
    }

    fn forward(&self, signo: i32) {
        let Ok(signal) = Signal::try_from(signo) else {
            return;
        };
        if let Ok(Some(shim)) = read_json::<ShimState>(&self.paths.shim()) {
            let _ = signal_process(&self.id, &shim, signal);
        }
    }
}

/// The shim's next report line; `None` when the shim ended without one (even if its
/// container process still holds the pipe open).
pub(super) fn read_report_line(
    report: &mut BufReader<File>,
    shim: Option<&OwnedFd>,
) -> Option<String> {
    if let (Some(shim), true) = (shim, report.buffer().is_empty()) {
        let mut fds = [
            PollFd::new(report.get_ref().as_fd(), PollFlags::POLLIN),
            PollFd::new(shim.as_fd(), PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, PollTimeout::NONE);
        let gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if gone && !pipe_ready(report.get_ref()) {
            return None;
        }
    }
    let mut line = String::new();
    match report.read_line(&mut line) {
        Ok(n) if n > 0 => Some(line),
        _ => None,
    }
}

/// Whether the pipe has data (or its end) to read now.
fn pipe_ready(pipe: &File) -> bool {
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0
}
