//! Small helpers for cgroupfs files: one open and one write per value, errors carrying the path.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Writes `value` with a single `write(2)`; the file must exist (cgroupfs cannot create files,
/// so a missing file means a missing controller or cgroup, which callers need to tell apart).
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    // O_TRUNC is ignored by cgroupfs but keeps a fake tree's files exact.
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(value.as_bytes())
}

/// [`write_raw`] with the path and value in the error.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    write_raw(path, value).map_err(|source| write_error(path, value, source))
}

/// The error for a failed write of `value` to `path`.
pub(crate) fn write_error(path: &Path, value: &str, source: io::Error) -> Error {
    Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    }
}

/// Reads a whole file, with the path in the error.
pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// True if the error says the file does not exist.
pub(crate) fn is_missing(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

/// True if the error is the kernel refusing a value that conflicts with another limit.
pub(crate) fn is_conflict(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::EBUSY))
}

/// Creates `path` and its missing parents.
pub(crate) fn mkdir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::CreateDir {
        path: path.to_path_buf(),
        source,
    })
}

/// How long `rmdir_retry` keeps retrying EBUSY, in total.
const RMDIR_DELAYS_MS: [u64; 4] = [5, 10, 25, 50];

/// Removes one cgroup directory (not its parents). ENOENT counts as success; EBUSY is retried
/// for up to ~90 ms because the processes may still be exiting.
pub(crate) fn rmdir_retry(path: &Path) -> Result<()> {
    let mut delays = RMDIR_DELAYS_MS.iter();
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(err) if is_missing(&err) => return Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => match delays.next() {
                Some(ms) => thread::sleep(Duration::from_millis(*ms)),
                None => {
                    return Err(Error::Remove {
                        path: path.to_path_buf(),
                        source: err,
                    })
                }
            },
            Err(source) => {
                return Err(Error::Remove {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// How long a freeze may take before we give up.
pub(crate) const FREEZE_TIMEOUT: Duration = Duration::from_secs(1);

/// Calls `done` until it returns true or `timeout` passes, sleeping 1 ms, 2 ms, 4 ms, … (at most
/// 50 ms) in between; returns whether it succeeded. The first check does not sleep.
pub(crate) fn poll(timeout: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// The value of `key` in a flat-keyed file (`key value` per line), if present.
pub(crate) fn keyed_value(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// Reads the pids of a `cgroup.procs` file.
pub(crate) fn read_procs(path: &Path) -> Result<Vec<i32>> {
    let content = read(path)?;
    content
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            line.trim().parse().map_err(|_| Error::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("expected a process id, found {line:?}"),
            })
        })
        .collect()
}

/// Sends `signal` to each pid; a process that already exited is not an error.
pub(crate) fn signal_each(pids: &[i32], signal: i32) -> Result<()> {
    let sig = Signal::try_from(signal).map_err(|_| Error::Unsupported {
        what: format!("signal number {signal}"),
    })?;
    for &pid in pids {
        match signal::kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => {
                return Err(Error::Kill {
                    pid,
                    signal,
                    source,
                })
            }
        }
    }
    Ok(())
}
