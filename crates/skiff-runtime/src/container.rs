//! The lifecycle of the OCI runtime spec: create, start, state, kill, delete, plus run.
//!
//! The runtime is called from a single-threaded process (the `skiff-runtime` binary or a shim):
//! the container process is cloned straight from it, without the re-exec dance that Go
//! runtimes need, which is where most of the speed comes from.

use std::cell::OnceCell;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};
use skiff_cgroups::{CgroupManager, Layout};

use crate::error::{Error, Result};
use crate::init::{self, InitArgs};
use crate::namespaces;
use crate::process::Prepared;
use crate::rootfs;
use crate::spec::{self, Namespaces};
use crate::state::{self, now_rfc3339, Record, State, Status, Store};
use crate::sync::{self, Msg};

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The bundle directory (holds config.json).
    pub bundle: PathBuf,
    /// Where to write the container's pid.
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the pty master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// chroot instead of pivot_root (for rootfs on ramfs).
    pub no_pivot: bool,
    /// Pass descriptors 3..3+N on to the process.
    pub preserve_fds: i32,
}

/// Entry point of the runtime library: one state directory, many containers.
pub struct Runtime {
    store: Store,
    layout: OnceCell<Layout>,
    warn: Box<dyn Fn(&str)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime keeping its state under `root` (e.g. `/run/skiff-runtime`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime {
            store: Store::new(root),
            layout: OnceCell::new(),
            warn: Box::new(|msg| eprintln!("skiff-runtime: warning: {msg}")),
        }
    }

    /// Sends warnings (failed poststart/poststop hooks, OOM kills) somewhere else than stderr.
    pub fn with_warnings(mut self, warn: impl Fn(&str) + 'static) -> Self {
        self.warn = Box::new(warn);
        self
    }

    /// The state directory.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn layout(&self) -> Result<&Layout> {
        if let Some(layout) = self.layout.get() {
            return Ok(layout);
        }
        let layout = skiff_cgroups::detect()?;
        Ok(self.layout.get_or_init(|| layout))
    }

    pub(crate) fn cgroup(&self, path: &Path) -> Result<Box<dyn CgroupManager>> {
        Ok(skiff_cgroups::manager(self.layout()?, path)?)
    }

    /// Creates a container: namespaces, cgroup, root filesystem and process are set up, and
    /// the process waits for [`start`](Self::start). Returns its pid. On failure nothing is
    /// left behind: no process, cgroup, mount or state directory.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        self.build_claimed(id, opts, true)
    }

    /// Creates and starts a container and, unless `detach`, waits for it, forwarding signals,
    /// and deletes it afterwards (unless `keep`). Returns the exit code (128+N for signal N).
    pub fn run(&self, id: &str, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
        let pid = self.build_claimed(id, opts, false)?;
        let record = self.store.load(id)?;
        self.post_start(&record);
        if detach {
            return Ok(0);
        }
        let code = wait_forwarding(pid)?;
        if let Ok(cg) = self.cgroup(&record.cgroup_path) {
            if cg.oom_kill_count().unwrap_or(0) > 0 {
                (self.warn)(&format!("container {id} was killed by the OOM killer"));
            }
        }
        if !keep {
            self.delete(id, true)?;
        }
        Ok(code)
    }

    /// Claims the id and builds the container; on failure, undoes everything.
    fn build_claimed(&self, id: &str, opts: &CreateOptions, hold: bool) -> Result<i32> {
        check_single_threaded()?;
        self.store.claim(id)?;
        let mut cleanup = Cleanup {
            runtime: self,
            id,
            cgroup: None,
            pid: None,
            armed: true,
        };
        let pid = self.build(id, opts, hold, &mut cleanup)?;
        cleanup.armed = false;
        Ok(pid)
    }

    fn build(
        &self,
        id: &str,
        opts: &CreateOptions,
        hold: bool,
        cleanup: &mut Cleanup<'_>,
    ) -> Result<i32> {
        let config = spec::load(&opts.bundle)?;
        let spec = &config.spec;
        let ns = Namespaces::of(spec);
        let process = spec.process().as_ref().expect("validated");
        let prepared = Prepared::new(process, "process")?;
        let linux = spec.linux().as_ref().expect("validated");
        let seccomp = linux
            .seccomp()
            .as_ref()
            .map(|s| crate::seccomp::compile_cached(s, &self.store.root().join(".seccomp-cache")))
            .transpose()?;
        if prepared.terminal && opts.console_socket.is_none() {
            return Err(Error::Spec(spec::SpecError::Invalid {
                field: "process.terminal".into(),
                message: "a terminal needs --console-socket (or set terminal to false)".into(),
            }));
        }

        let cgroup_path = crate::cgroup::path(spec, id);
        // Handed to the cleanup guard before creating it: a create that fails in the third of
        // nine v1 hierarchies must not leave the first two behind.
        let cg = cleanup.cgroup.insert(self.cgroup(&cgroup_path)?);
        cg.create()?;
        cg.apply(&crate::cgroup::resources(spec))?;

        let cgroup_paths = cg.paths();
        let plan = rootfs::plan(&rootfs::PlanInput {
            spec,
            bundle: &config.bundle,
            user_ns: ns.private(LinuxNamespaceType::User),
            cgroup_ns: ns.private(LinuxNamespaceType::Cgroup),
            cgroup_version: cg.version(),
            cgroup_paths: &cgroup_paths,
            no_pivot: opts.no_pivot,
        })?;
        let join = namespaces::open_joined(&ns)?;
        let cgroup_join = cg.prepare_join()?;
        let fifo = if hold {
            Some(self.make_fifo(id)?)
        } else {
            None
        };
        let console = opts
            .console_socket
            .as_deref()
            .map(crate::console::connect)
            .transpose()?;
        let (parent_end, child_end) = sync::pair().map_err(|e| Error::Sys {
            what: "socketpair".into(),
            errno: io_errno(&e),
        })?;

        let hooks = spec.hooks().clone().unwrap_or_default();
        #[allow(deprecated)]
        let runtime_hooks: Vec<Hook> = hooks
            .prestart()
            .iter()
            .flatten()
            .chain(hooks.create_runtime().iter().flatten())
            .cloned()
            .collect();
        let mut record = Record {
            id: id.to_string(),
            pid: 0,
            pid_start_time: 0,
            bundle: config.bundle.clone(),
            rootfs: config.rootfs.clone(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            created: now_rfc3339(),
            cgroup_path: cgroup_path.clone(),
            own_pid_ns: ns.private(LinuxNamespaceType::Pid),
            poststart: hooks.poststart().clone().unwrap_or_default(),
            poststop: hooks.poststop().clone().unwrap_or_default(),
        };
        let creating = record.state(Status::Creating);
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let args = InitArgs {
            sync: child_end,
            plan: &plan,
            rootfs: config.rootfs.clone(),
            process: prepared,
            join,
            new_user_ns: ns.creates(LinuxNamespaceType::User),
            new_cgroup_ns: ns.creates(LinuxNamespaceType::Cgroup),
            hostname: nonempty(spec.hostname()),
            domainname: nonempty(spec.domainname()),
            runtime_hooks: !runtime_hooks.is_empty(),
            create_container_hooks: hooks.create_container().as_deref().unwrap_or(&[]),
            start_container_hooks: hooks.start_container().as_deref().unwrap_or(&[]),
            hook_state: creating.clone(),
            fifo,
            console,
            seccomp: seccomp.as_ref(),
            preserve_fds: opts.preserve_fds,
            cgroup_join: None,
        };

        let (pid, placed) = spawn_init(&ns, args, &cgroup_join)?;
        cleanup.pid = Some(pid);
        record.pid = pid;
        record.pid_start_time = state::proc_stat(pid).map(|s| s.start_time).unwrap_or(0);
        if !placed {
            cg.add_process(pid)?;
        }
        if ns.creates(LinuxNamespaceType::User) {
            write_id_maps(pid, spec)?;
        }
        let send = |msg: &Msg| {
            parent_end.send(msg).map_err(|e| Error::Sys {
                what: "talking to the container process".into(),
                errno: io_errno(&e),
            })
        };
        send(&Msg::Go(pid))?;
        // Written while the container process builds its root filesystem (the Cleanup guard
        // removes them if that fails).
        self.store.save_config(id, &config.text)?;
        self.store.save(&record)?;
        loop {
            match parent_end.recv() {
                Ok(Some(Msg::RunHooks)) => {
                    let state = State {
                        pid,
                        ..creating.clone()
                    };
                    crate::hooks::run("createRuntime", &runtime_hooks, &state)?;
                    send(&Msg::HooksDone)?;
                }
                Ok(Some(Msg::Ready)) if hold => break,
                // Without the fifo the process goes on to exec at once: wait for that (the
                // channel is close-on-exec, so EOF means the program runs), so that an exec
                // failure is reported here and poststart hooks run after the exec.
                Ok(Some(Msg::Ready)) => match parent_end.recv() {
                    Ok(None) => break,
                    Ok(Some(Msg::Error(message))) => return Err(Error::Init { message }),
                    other => {
                        return Err(Error::Init {
                            message: format!("unexpected message {other:?}"),
                        })
                    }
                },
                Ok(Some(Msg::Error(message))) => return Err(Error::Init { message }),
                Ok(Some(other)) => {
                    return Err(Error::Init {
                        message: format!("unexpected message {other:?}"),
                    })
                }
                Ok(None) => {
                    return Err(Error::Init {
                        message: "the container process exited during setup".into(),
                    })
                }
                Err(e) => {
                    return Err(Error::Sys {
                        what: "waiting for the container process".into(),
                        errno: io_errno(&e),
                    })
                }
            }
        }
        if let Some(path) = &opts.pid_file {
            write_pid_file(path, pid)?;
        }
        Ok(pid)
    }

    fn make_fifo(&self, id: &str) -> Result<OwnedFd> {
        let path = self.store.fifo(id)?;
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
            .map_err(Error::sys(format!("creating {}", path.display())))?;
        // Read-write: the open does not block, and the container's read blocks until `start`
        // writes, since a writer (itself) always exists.
        open(&path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(Error::sys(format!("opening {}", path.display())))
    }

    /// Starts a created container: its process execs the user program.
    pub fn start(&self, id: &str) -> Result<()> {
        let record = self.store.load(id)?;
        let status = self.status(&record);
        if status != Status::Created {
            return Err(Error::WrongStatus {
                id: id.into(),
                status,
                hint: "only a created container can be started",
            });
        }
        let fifo = self.store.fifo(id)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                return Err(Error::WrongStatus {
                    id: id.into(),
                    status: Status::Stopped,
                    hint: "its process died before start",
                })
            }
            Err(source) => {
                return Err(Error::Io {
                    what: "opening",
                    path: fifo,
                    source,
                })
            }
        };
        file.write_all(b"0").map_err(|source| Error::Io {
            what: "writing",
            path: fifo.clone(),
            source,
        })?;
        let _ = fs::remove_file(&fifo);
        wait_for_exec(&file);
        self.post_start(&record);
        Ok(())
    }

    fn post_start(&self, record: &Record) {
        if let Err(e) = crate::hooks::run(
            "poststart",
            &record.poststart,
            &record.state(Status::Running),
        ) {
            (self.warn)(&e.to_string());
        }
    }

    /// The status of a recorded container, derived from the kernel.
    pub fn status(&self, record: &Record) -> Status {
        if !record.process_alive() {
            Status::Stopped
        } else if self.store.fifo(&record.id).is_ok_and(|f| f.exists()) {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The OCI state of a container.
    pub fn state(&self, id: &str) -> Result<State> {
        let record = self.store.load(id)?;
        let status = self.status(&record);
        let mut state = record.state(status);
        if status == Status::Stopped {
            state.oom_killed = self
                .cgroup(&record.cgroup_path)
                .ok()
                .and_then(|cg| cg.oom_kill_count().ok())
                .map(|n| n > 0);
        }
        Ok(state)
    }

    /// The states of every container in the store.
    pub fn list(&self) -> Result<Vec<State>> {
        Ok(self
            .store
            .list()?
            .iter()
            .filter_map(|id| self.state(id).ok())
            .collect())
    }

    /// Sends a signal to the container's process, or with `all` to every process in its cgroup.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let record = self.store.load(id)?;
        let status = self.status(&record);
        if status == Status::Stopped {
            return Err(Error::WrongStatus {
                id: id.into(),
                status,
                hint: "there is no process to signal",
            });
        }
        if all {
            self.cgroup(&record.cgroup_path)?.kill_all(signal as i32)?;
        } else {
            kill(Pid::from_raw(record.pid), signal)
                .map_err(Error::sys(format!("sending {signal} to {}", record.pid)))?;
        }
        Ok(())
    }

    /// Deletes a stopped container (with `force`, kills it first): its cgroup and state go,
    /// then the poststop hooks run.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let record = self.store.load(id)?;
        let status = self.status(&record);
        if status != Status::Stopped && !force {
            return Err(Error::WrongStatus {
                id: id.into(),
                status,
                hint: "stop it first (kill) or use delete --force",
            });
        }
        let cg = self.cgroup(&record.cgroup_path)?;
        if status != Status::Stopped {
            let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
            wait_for_exit(&record)?;
        }
        if !record.own_pid_ns || status != Status::Stopped {
            // Without its own pid namespace, children of the process outlive it.
            cg.kill_all(libc::SIGKILL)?;
        }
        cg.destroy()?;
        if let Err(e) =
            crate::hooks::run("poststop", &record.poststop, &record.state(Status::Stopped))
        {
            (self.warn)(&e.to_string());
        }
        self.store.remove(id)?;
        Ok(())
    }
}

/// Undoes a half-made container: kills its process, removes its cgroup and state directory.
struct Cleanup<'a> {
    runtime: &'a Runtime,
    id: &'a str,
    cgroup: Option<Box<dyn CgroupManager>>,
    pid: Option<i32>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        let _ = self.runtime.store.remove(self.id);
    }
}

/// Clones the container process (joining the spec's pid namespace first, if any) and runs the
/// container setup in it. The process is placed into its cgroup without the kernel's global
/// migration lock: born there with clone3 on v2, or moving itself first thing on v1. Returns
/// the pid and whether it is placed (false only if clone3 is unavailable on a v2 host: then the
/// caller moves it).
fn spawn_init<'a>(
    ns: &Namespaces,
    mut args: InitArgs<'a>,
    join: &'a skiff_cgroups::Join,
) -> Result<(i32, bool)> {
    let restore_pid_ns = match ns.join_path(LinuxNamespaceType::Pid) {
        Some(path) => {
            let own = open(
                "/proc/self/ns/pid",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(Error::sys("opening /proc/self/ns/pid"))?;
            let target = namespaces::open_ns(LinuxNamespaceType::Pid, path)?;
            namespaces::join(&target)?;
            Some(own)
        }
        None => None,
    };
    let _ = std::io::stdout().flush();
    let result = init::clone_into(namespaces::clone_flags(ns), join);
    if let Ok((0, placement)) = result {
        if placement == init::Placement::JoinSelf {
            args.cgroup_join = Some(join);
        }
        init::run(args);
    }
    if let Some(own) = restore_pid_ns {
        setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(Error::sys("returning to the runtime's pid namespace"))?;
    }
    result
        .map(|(pid, placement)| (pid, placement != init::Placement::ByParent))
        .map_err(Error::sys("clone"))
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref().expect("validated");
    for (file, maps) in [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ] {
        let text: String = maps
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        fs::write(&path, text).map_err(|source| Error::Io {
            what: "writing",
            path,
            source,
        })?;
    }
    Ok(())
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    state::write_atomic(path, pid.to_string().as_bytes())?;
    Ok(())
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Fails unless the calling process has exactly one thread: forking a multi-threaded process
/// can leave the child with a lock held by a thread that does not exist there.
fn check_single_threaded() -> Result<()> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1);
    if threads > 1 {
        return Err(Error::MultiThreaded { threads });
    }
    Ok(())
}

/// Waits for a process that is not our child to exit (pidfd), up to 10 s.
fn wait_for_exit(record: &Record) -> Result<()> {
    const SECONDS: u64 = 10;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, record.pid, 0) };
    if fd < 0 {
        return Ok(()); // gone already
    }
    // SAFETY: the kernel just gave us this descriptor.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    if !record.process_alive() {
        return Ok(());
    }
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(SECONDS);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
        if rc > 0 {
            return Ok(());
        }
        if rc == 0 || left.is_zero() {
            return Err(Error::KillTimeout {
                id: record.id.clone(),
                pid: record.pid,
                seconds: SECONDS,
            });
        }
    }
}

/// Waits until the container process has exec'd its program (or died): it holds the fifo
/// open for reading until then, so our write end reports POLLERR once it is gone. Bounded, in
/// case a startContainer hook hangs without a timeout.
fn wait_for_exec(fifo: &fs::File) {
    let mut pfd = libc::pollfd {
        fd: fifo.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
        let interrupted = rc < 0 && Errno::last() == Errno::EINTR;
        if !interrupted || left.is_zero() {
            return;
        }
    }
}

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Waits for our child `pid`, passing the signals a user sends to `run` on to it.
pub(crate) fn wait_forwarding(pid: i32) -> Result<i32> {
    FORWARD_TO.store(pid, Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        // SAFETY: the handler only calls kill.
        let _ = unsafe { sigaction(signal, &action) };
    }
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("waiting for {pid}"))(e)),
        }
    }
}

/// Parses a signal as `kill` takes it: `TERM`, `SIGTERM`, `15`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let err = || Error::Signal(text.to_string());
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| err());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_kill() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGHUP").unwrap(), Signal::SIGHUP);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn test_harness_is_multithreaded_and_refused() {
        // The test harness runs tests on threads; make sure there are at least two.
        let t = std::thread::spawn(|| std::thread::sleep(Duration::from_millis(200)));
        assert!(matches!(
            check_single_threaded(),
            Err(Error::MultiThreaded { .. })
        ));
        t.join().unwrap();
    }
}
