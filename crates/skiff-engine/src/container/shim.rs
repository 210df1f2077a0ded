//! The per-container shim: a small synchronous process (`skiff shim`) that owns one
//! container's run — it mounts the root filesystem, writes the OCI bundle, has the runtime
//! create and start the process with its stdout and stderr on pipes, copies them into the log
//! files, reaps the process, records how it ended, and cleans up (runtime state, cgroup,
//! mount). It outlives the engine that started it, which is what lets containers and their
//! logs survive an engine restart (containerd's shims, podman's conmon).
//!
//! Protocol with the engine: the engine starts `skiff shim --data-dir D --id ID` with its
//! stdout on a pipe. The shim forks into the background (its first process exits at once, so
//! the engine reaps it) and, on that pipe, writes `shim PID` (its own, which the engine watches:
//! a container process it forked holds the pipe until its exec), `started PID` or
//! `error MESSAGE`, then the
//! container's output as frames (`out N` or `err N`, a newline and N raw bytes — also written
//! to the logs), and `exited` at the end. An engine that waits for the end keeps reading (and
//! so sees the output byte for byte, at the container's pace); one that does not closes the
//! pipe. Writing `exited` into a closed pipe tells the shim that nobody waits: for a `--rm`
//! container it then removes the container itself; otherwise the waiter does.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{dup, fork, pipe2, setsid, ForkResult, Pid};

use super::logs::{LogWriter, Stream};
use super::record::{
    boot_id, lock_owner_dead, process_start, read_json, write_json, ContainerRecord, ExitState,
    Paths, ShimState,
};
use crate::engine::{now, RuntimeChoice};
use crate::fsutil::FileLock;

/// Where the shim finds everything: the data directory's layout.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// The engine's data directory.
    pub data_dir: PathBuf,
    /// The container.
    pub id: String,
}

/// State root of the built-in runtime under the data directory.
pub fn builtin_root(data_dir: &Path) -> PathBuf {
    data_dir.join("runtime")
}

/// State root given to an external runtime (`--root`).
pub fn external_root(data_dir: &Path) -> PathBuf {
    data_dir.join("runc")
}

/// The cgroup of a container (relative to each hierarchy's root).
pub fn cgroup_path(id: &str) -> PathBuf {
    PathBuf::from(format!("/skiff/{id}"))
}

/// Runs the shim; returns the process's exit code. Called by `skiff shim` with stdout on the
/// engine's pipe and stderr on the container's `shim.log`.
pub fn main(args: &ShimArgs) -> i32 {
    // Keep the engine's pipe away from fd 1, which the container's stdout will use.
    let report = match dup(io::stdout()) {
        Ok(fd) => File::from(fd),
        Err(e) => {
            eprintln!("shim: dup of the report pipe: {e}");
            return 1;
        }
    };
    let _ = fcntl(&report, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    // A closed report pipe must give EPIPE, not kill the shim.
    // SAFETY: setting a signal to SIG_IGN has no handler to be unsafe about.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    let _ = setsid();
    // SAFETY: the shim is single-threaded (no async runtime, no threads started yet).
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            let mut report = report;
            let _ = writeln!(report, "error cannot fork the shim: {e}");
            return 1;
        }
    }
    let mut report = report;
    // Lets the engine notice when this shim dies before it reports: its container process
    // may still hold the pipe open until its exec.
    let _ = writeln!(report, "shim {}", std::process::id());
    let _ = std::env::set_current_dir("/");
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut shim = Shim {
        paths: Paths::new(&args.data_dir.join("containers"), &args.id),
        data_dir: args.data_dir.clone(),
        id: args.id.clone(),
        report,
        attached: true,
    };
    shim.run()
}

struct Shim {
    data_dir: PathBuf,
    id: String,
    paths: Paths,
    report: File,
    /// Whether the engine still reads the report pipe: output is then also sent there.
    attached: bool,
}

/// A started container process and the read ends of its output pipes.
struct Running {
    pid: i32,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl Shim {
    fn run(&mut self) -> i32 {
        // Held until the shim ends (and by the container's process until its exec: the
        // descriptor is close-on-exec).
        let _lock = match self.lock() {
            Ok(lock) => lock,
            Err(message) => return self.fail(&message),
        };
        let record: ContainerRecord = match read_json(&self.paths.record()) {
            Ok(Some(r)) => r,
            Ok(None) => return self.fail(&format!("container {} does not exist", self.id)),
            Err(e) => return self.fail(&format!("{}: {e}", self.paths.record().display())),
        };
        // What a previous run recorded; removed only now that this shim owns the container.
        for stale in [self.paths.exit(), self.paths.shim()] {
            let _ = fs::remove_file(stale);
        }
        // And whatever a shim killed half-way left: runtime state, cgroup, process, mount.
        self.cleanup(&record);
        let running = match self.start(&record) {
            Ok(r) => r,
            Err(message) => {
                self.cleanup(&record);
                return self.fail(&message);
            }
        };
        let pid_start = process_start(running.pid).unwrap_or(0);
        let state = ShimState {
            shim_pid: std::process::id() as i32,
            shim_start: process_start(std::process::id() as i32).unwrap_or(0),
            pid: running.pid,
            pid_start,
            started_at: now(),
            boot_id: boot_id(),
        };
        if let Err(e) = write_json(&self.paths.shim(), &state) {
            eprintln!("shim: writing shim.json: {e}");
        }
        let _ = writeln!(self.report, "started {}", running.pid);
        let (code, signal) = self.supervise(&record, running);
        let oom_killed = oom_killed(&self.id);
        self.cleanup(&record);
        let exit = ExitState {
            exit_code: code,
            signal,
            oom_killed,
            finished_at: now(),
            error: None,
        };
        if let Err(e) = write_json(&self.paths.exit(), &exit) {
            eprintln!("shim: writing exit.json: {e}");
        }
        let waiter_present = writeln!(self.report, "exited").is_ok();
        if record.config.auto_remove && !waiter_present {
            // After any `wait` has read exit.json.
            let _waiters = FileLock::exclusive(&self.paths.waiters());
            // A waiter arriving meanwhile may create waiters.lock again: try once more.
            for _ in 0..3 {
                if fs::remove_dir_all(&self.paths.dir).is_ok() {
                    break;
                }
            }
            // Released only once the container is gone (see `remove_container`).
            if !self.paths.dir.exists() {
                if let Err(e) = crate::network::release(&self.data_dir, &self.id) {
                    eprintln!("shim: releasing the network: {e}");
                }
            }
        }
        0
    }

    /// Takes the container's lock. One held by what a killed shim left (its container
    /// process, before the exec) is taken over: that process and its runtime state go.
    fn lock(&self) -> Result<FileLock, String> {
        for _ in 0..2 {
            match FileLock::try_exclusive(&self.paths.lock()) {
                Ok(Some(lock)) => {
                    let me = std::process::id() as i32;
                    let owner = format!("{me} {}\n", process_start(me).unwrap_or(0));
                    if let Err(e) =
                        crate::fsutil::write_replace(&self.paths.lock_owner(), owner.as_bytes())
                    {
                        eprintln!("shim: writing {}: {e}", self.paths.lock_owner().display());
                    }
                    return Ok(lock);
                }
                Ok(None) if lock_owner_dead(&self.paths) => {
                    if let Ok(Some(record)) = read_json::<ContainerRecord>(&self.paths.record()) {
                        self.cleanup(&record);
                    }
                }
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(format!("container {} does not exist", self.id))
                }
                Err(e) => return Err(format!("{}: {e}", self.paths.lock().display())),
            }
        }
        Err(format!(
            "container {} is already being started or run by another shim",
            self.id
        ))
    }

    fn fail(&mut self, message: &str) -> i32 {
        let one_line = message.replace('\n', "; ");
        let _ = writeln!(self.report, "error {one_line}");
        eprintln!("shim: {one_line}");
        1
    }

    /// Mounts the root filesystem, writes the bundle and has the runtime start the process.
    fn start(&mut self, record: &ContainerRecord) -> Result<Running, String> {
        super::bundle::prepare(&self.data_dir, &self.paths, record).map_err(|e| e.to_string())?;
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let pid = match &record.runtime {
            RuntimeChoice::Builtin => self.start_builtin(record, out_w, err_w)?,
            RuntimeChoice::External(program) => {
                self.start_external(record, program, out_w, err_w)?
            }
        };
        Ok(Running {
            pid,
            stdout: out_r,
            stderr: err_r,
        })
    }

    /// Plugs the created (not yet started) container into the node network, if it is on it,
    /// and makes sure the node's published ports are in the kernel (after a reboot they are
    /// only in the state file): a failure there fails the start of a container that
    /// publishes ports, and is only reported for the others.
    fn plug(&self, record: &ContainerRecord, pid: i32) -> Result<(), String> {
        let Some(attachment) = &record.network else {
            return Ok(());
        };
        let publishes = !record.config.ports.is_empty();
        // Hairpin on every bridge container: any of them may become a backend of a service
        // port (node-local ingress) without a restart, and must then reach itself through it.
        crate::network::join(attachment, &self.id, pid, true)
            .map_err(|e| format!("network: {e}"))?;
        match crate::network::restore(&self.data_dir) {
            Err(e) if publishes => Err(format!("network: {e}")),
            Err(e) => {
                eprintln!("shim: restoring the published ports: {e}");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    fn start_builtin(
        &mut self,
        record: &ContainerRecord,
        out_w: OwnedFd,
        err_w: OwnedFd,
    ) -> Result<i32, String> {
        let runtime = skiff_runtime::Runtime::new(builtin_root(&self.data_dir))
            .with_warnings(|msg| eprintln!("shim: runtime: {msg}"));
        let opts = skiff_runtime::CreateOptions {
            bundle: self.paths.bundle(),
            ..Default::default()
        };
        // The container inherits fds 0-2 from the runtime's caller: point them at /dev/null
        // and the pipes around create, then put the shim's own back.
        let saved_err = dup(io::stderr()).map_err(|e| format!("dup: {e}"))?;
        let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        let redirect = |stdin: RawFd, stdout: RawFd, stderr: RawFd| {
            // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
            unsafe {
                libc::dup2(stdin, 0);
                libc::dup2(stdout, 1);
                libc::dup2(stderr, 2);
            }
        };
        redirect(null.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd());
        let created = runtime.create(&self.id, &opts);
        redirect(null.as_raw_fd(), null.as_raw_fd(), saved_err.as_raw_fd());
        drop((out_w, err_w));
        let pid = created.map_err(|e| e.to_string())?;
        self.plug(record, pid)?;
        runtime.start(&self.id).map_err(|e| e.to_string())?;
        Ok(pid)
    }

    fn start_external(
        &mut self,
        record: &ContainerRecord,
        program: &Path,
        out_w: OwnedFd,
        err_w: OwnedFd,
    ) -> Result<i32, String> {
        let root = external_root(&self.data_dir);
        let pid_file = self.paths.dir.join("init.pid");
        let log = self.paths.dir.join("runtime.log");
        let status = Command::new(program)
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log)
            .args(["create", "--bundle"])
            .arg(self.paths.bundle())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out_w))
            .stderr(Stdio::from(err_w))
            .status()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !status.success() {
            let detail = fs::read_to_string(&log).unwrap_or_default();
            let last = detail.lines().last().unwrap_or("").to_string();
            return Err(format!(
                "{} create failed ({status}): {last}",
                program.display()
            ));
        }
        let pid: i32 = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("{} create wrote no pid file", program.display()))?;
        self.plug(record, pid)?;
        let status = Command::new(program)
            .arg("--root")
            .arg(&root)
            .args(["start", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !status.success() {
            return Err(format!("{} start failed ({status})", program.display()));
        }
        Ok(pid)
    }

    /// Copies output into the logs until the process ends; returns its exit code and signal.
    fn supervise(&mut self, record: &ContainerRecord, running: Running) -> (i32, Option<i32>) {
        let mut logs = match LogWriter::open(&self.paths.logs(), record.config.log) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("shim: cannot open the log: {e}");
                None
            }
        };
        let pidfd = pidfd_open(running.pid);
        let mut open = [
            Some(File::from(running.stdout)),
            Some(File::from(running.stderr)),
        ];
        for file in open.iter().flatten() {
            let _ = fcntl(file, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        }
        let mut result = None;
        let mut deadline: Option<Instant> = None;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if result.is_none() {
                result = reap(running.pid);
                if result.is_some() {
                    // Processes left in the container die with its pid namespace; give
                    // them a moment to close the pipes, but do not wait for ever.
                    deadline = Some(Instant::now() + Duration::from_secs(2));
                }
            }
            if open.iter().all(Option::is_none) && result.is_some() {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                break;
            }
            let mut fds = Vec::new();
            for fd in open.iter().flatten() {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            if result.is_none() {
                if let Some(p) = &pidfd {
                    fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                }
            }
            let timeout = if result.is_some() || pidfd.is_none() {
                PollTimeout::from(100u16)
            } else {
                PollTimeout::NONE
            };
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            for (slot, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
                let Some(file) = open[slot].as_mut() else {
                    continue;
                };
                match read_ready(file, &mut buf) {
                    ReadOutcome::Data(n) => {
                        if let Some(w) = logs.as_mut() {
                            if let Err(e) = w.write(stream, &buf[..n], &now()) {
                                eprintln!("shim: log write: {e}");
                            }
                        }
                        self.send_output(stream, &buf[..n]);
                    }
                    ReadOutcome::Closed => open[slot] = None,
                    ReadOutcome::Nothing => {}
                }
            }
        }
        if let Some(w) = logs.as_mut() {
            let _ = w.flush_partial(&now());
        }
        // Reap anything else that was reparented to us.
        while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
            waitpid(None, Some(WaitPidFlag::WNOHANG))
        {}
        result.unwrap_or((255, None))
    }

    /// Sends output to an attached engine as a frame (`out N` or `err N`, a newline, N bytes),
    /// byte for byte; once the engine has closed the pipe (detached, or gone), not any more.
    fn send_output(&mut self, stream: Stream, data: &[u8]) {
        if !self.attached {
            return;
        }
        let tag = match stream {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        };
        let sent =
            writeln!(self.report, "{tag} {}", data.len()).and_then(|_| self.report.write_all(data));
        if sent.is_err() {
            self.attached = false;
        }
    }

    /// Deletes the runtime's state (and the cgroup) and unmounts the root filesystem.
    fn cleanup(&self, record: &ContainerRecord) {
        super::cleanup::clean_runtime(&self.data_dir, &self.id, &record.runtime, &|msg| {
            eprintln!("shim: {msg}")
        });
        if let Err(e) = crate::storage::unmount(&self.paths.rootfs()) {
            eprintln!("shim: unmount: {e}");
        }
    }
}

enum ReadOutcome {
    Data(usize),
    Closed,
    Nothing,
}

fn read_ready(file: &mut File, buf: &mut [u8]) -> ReadOutcome {
    match file.read(buf) {
        Ok(0) => ReadOutcome::Closed,
        Ok(n) => ReadOutcome::Data(n),
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted =>
        {
            ReadOutcome::Nothing
        }
        Err(_) => ReadOutcome::Closed,
    }
}

/// Reaps `pid` if it ended: its exit code (128+N for signal N) and signal.
fn reap(pid: i32) -> Option<(i32, Option<i32>)> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some((code, None)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some((128 + sig as i32, Some(sig as i32))),
        Ok(_) => None,
        // Not our child (should not happen: we are its parent or its subreaper): treat as gone.
        Err(_) => Some((255, None)),
    }
}

/// A pidfd for `pid` (readable when it exits), if the kernel has pidfd_open.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the OOM killer hit the container's cgroup.
fn oom_killed(id: &str) -> bool {
    let Ok(layout) = skiff_cgroups::detect() else {
        return false;
    };
    skiff_cgroups::manager(&layout, &cgroup_path(id))
        .and_then(|m| m.oom_kill_count())
        .map(|n| n > 0)
        .unwrap_or(false)
}
