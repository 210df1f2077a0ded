//! The container process between clone(2) and execve(2).
//!
//! Runs in the freshly cloned child of a single-threaded runtime process: it waits until the
//! runtime has put it into its cgroup (and written its id maps), builds the root filesystem,
//! sets up the process, reports `Ready`, then blocks on the exec fifo until `start`.

use std::convert::Infallible;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::stat::Mode;
use oci_spec::runtime::Hook;

use crate::namespaces::{self, NsFile};
use crate::process::{self, Prepared};
use crate::rootfs;
use crate::seccomp::Filter;
use crate::state::State;
use crate::sync::{Channel, Msg};

/// Everything the container process needs, prepared by the runtime before the clone.
#[derive(Debug)]
pub struct InitArgs<'a> {
    /// Channel to the runtime.
    pub sync: Channel,
    /// The rootfs plan.
    pub plan: &'a rootfs::Plan,
    /// The rootfs.
    pub rootfs: PathBuf,
    /// The process.
    pub process: Prepared,
    /// Namespaces to join by path (user first).
    pub join: Vec<NsFile>,
    /// Switch to uid/gid 0 of a new user namespace once the maps are written.
    pub new_user_ns: bool,
    /// Unshare a cgroup namespace once inside the cgroup.
    pub new_cgroup_ns: bool,
    /// Hostname and domainname.
    pub hostname: Option<String>,
    /// Domain name.
    pub domainname: Option<String>,
    /// Whether the runtime wants to run createRuntime hooks mid-setup.
    pub runtime_hooks: bool,
    /// createContainer hooks (run here, before the switch of root).
    pub create_container_hooks: &'a [Hook],
    /// startContainer hooks (run here, after `start`).
    pub start_container_hooks: &'a [Hook],
    /// State for the hooks.
    pub hook_state: State,
    /// The exec fifo, opened read-write; `None` to start at once.
    pub fifo: Option<OwnedFd>,
    /// The console socket, if the process has a terminal.
    pub console: Option<OwnedFd>,
    /// The seccomp filter.
    pub seccomp: Option<&'a Filter>,
    /// Descriptors 3..3+N that are passed on to the process.
    pub preserve_fds: i32,
    /// The cgroup to move into first thing (v1); `None` when the clone already placed us.
    pub cgroup_join: Option<&'a skiff_cgroups::Join>,
}

/// Runs the container setup and execs the process; never returns.
pub fn run(mut args: InitArgs<'_>) -> ! {
    let err = match setup(&mut args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // The runtime may be gone already (after `start`): then stderr is all we have.
    if args.sync.send(&Msg::Error(err.clone())).is_err() {
        eprintln!("skiff-runtime: container process: {err}");
    }
    // SAFETY: leaving the child without running the parent's destructors.
    unsafe { libc::_exit(127) }
}

fn setup(args: &mut InitArgs<'_>) -> Result<Infallible, String> {
    if let Some(join) = args.cgroup_join {
        // Before anything else, so that all of the setup is accounted to the container.
        join.join_current()
            .map_err(|e| format!("joining the container's cgroup: {e}"))?;
    }
    reset_signals();
    match args.sync.recv() {
        Ok(Some(Msg::Go(pid))) => args.hook_state.pid = pid,
        Ok(other) => return Err(format!("unexpected message from the runtime: {other:?}")),
        Err(e) => return Err(format!("waiting for the runtime: {e}")),
    }
    if args.new_user_ns {
        let root = nix::unistd::Uid::from_raw(0);
        let root_gid = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root_gid, root_gid, root_gid)
            .map_err(|e| format!("becoming gid 0 in the user namespace: {e}"))?;
        nix::unistd::setresuid(root, root, root)
            .map_err(|e| format!("becoming uid 0 in the user namespace: {e}"))?;
    }
    for ns in &args.join {
        namespaces::join(ns).map_err(|e| e.to_string())?;
    }
    if args.new_cgroup_ns {
        unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| format!("creating the cgroup namespace: {e}"))?;
    }
    if let Some(name) = &args.hostname {
        nix::unistd::sethostname(name).map_err(|e| format!("setting hostname {name:?}: {e}"))?;
    }
    if let Some(name) = &args.domainname {
        // SAFETY: the pointer and length describe `name`'s bytes.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        Errno::result(rc).map_err(|e| format!("setting domainname {name:?}: {e}"))?;
    }
    // Devices and mount points get exactly the modes asked for.
    nix::sys::stat::umask(Mode::empty());
    rootfs::exec::before_pivot(args.plan, &args.rootfs).map_err(|e| e.to_string())?;
    if args.runtime_hooks {
        args.sync
            .send(&Msg::RunHooks)
            .map_err(|e| format!("asking for hooks: {e}"))?;
        match args.sync.recv() {
            Ok(Some(Msg::HooksDone)) => {}
            _ => return Err("the runtime did not run the createRuntime hooks".into()),
        }
    }
    crate::hooks::run(
        "createContainer",
        args.create_container_hooks,
        &args.hook_state,
    )
    .map_err(|e| e.to_string())?;
    // Resolved inside the rootfs (a plain stat of rootfs/cwd would follow an image's symlinks
    // out of it); a no-op when the directory exists.
    rootfs::exec::ensure_dir(&args.rootfs, &args.process.cwd).map_err(|e| e.to_string())?;
    rootfs::exec::switch_root(args.plan, &args.rootfs).map_err(|e| e.to_string())?;
    rootfs::exec::after_pivot(args.plan).map_err(|e| e.to_string())?;
    if let Some(socket) = args.console.take() {
        crate::console::setup_pty(&socket).map_err(|e| e.to_string())?;
    }
    let process = &mut args.process;
    process.default_home();
    let program = process::find_executable(process).map_err(|e| e.to_string())?;
    process::apply_limits(process).map_err(|e| e.to_string())?;
    if let (Some(filter), false) = (args.seccomp, process.no_new_privs) {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the drop.
        filter.load().map_err(|e| e.to_string())?;
    }
    process::apply_credentials(process).map_err(|e| e.to_string())?;
    process::chdir(&process.cwd).map_err(|e| e.to_string())?;
    nix::sys::stat::umask(Mode::from_bits_truncate(process.umask));
    args.sync
        .send(&Msg::Ready)
        .map_err(|e| format!("reporting ready: {e}"))?;
    // Kept open until the exec closes it (close-on-exec): `start` waits for that.
    let _fifo = match args.fifo.take() {
        Some(fifo) => Some(wait_for_start(fifo)?),
        None => None,
    };
    crate::hooks::run(
        "startContainer",
        args.start_container_hooks,
        &args.hook_state,
    )
    .map_err(|e| e.to_string())?;
    if let (Some(filter), true) = (args.seccomp, process.no_new_privs) {
        // As late as possible, so that the filter only has to allow the program's syscalls.
        filter.load().map_err(|e| e.to_string())?;
    }
    mark_fds_cloexec(3 + args.preserve_fds);
    Err(process::execve(&program, process).to_string())
}

/// Blocks until `start` writes a byte into the fifo; returns the fifo, still open.
fn wait_for_start(fifo: OwnedFd) -> Result<std::fs::File, String> {
    let mut file = std::fs::File::from(fifo);
    let mut byte = [0u8; 1];
    loop {
        match file.read(&mut byte) {
            Ok(1) => return Ok(file),
            Ok(_) => return Err("the exec fifo was closed before start".into()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("waiting for start: {e}")),
        }
    }
}

/// Every signal back to its default disposition and unblocked: the process must not inherit
/// the runtime's handling.
fn reset_signals() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL is always sound.
        let _ = unsafe { sigaction(signal, &default) };
    }
    let _ = SigSet::empty().thread_set_mask();
}

/// Marks every descriptor from `first` up close-on-exec, so that only stdio and the preserved
/// ones reach the program.
pub fn mark_fds_cloexec(first: i32) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes flags of descriptors of this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    // Kernels before 5.11: walk /proc/self/fd.
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<i32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|fd| *fd >= first)
            .collect();
        for fd in fds {
            // SAFETY: setting FD_CLOEXEC on a descriptor number; invalid ones just fail.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// How a freshly cloned process gets into its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// clone3 created it there (cgroup v2).
    Born,
    /// It must move itself first thing, with [`skiff_cgroups::Join::join_current`] (v1).
    JoinSelf,
    /// clone3 is unavailable: someone must move it with `add_process` (the slow path).
    ByParent,
}

/// Clones a process (fork semantics, with `flags`' namespaces) that lands in the cgroup of
/// `join` without the kernel's global migration lock where the host allows it.
pub fn clone_into(
    flags: CloneFlags,
    join: &skiff_cgroups::Join,
) -> Result<(libc::pid_t, Placement), Errno> {
    match join.clone_into() {
        Some(dir) => match clone_into_cgroup(flags, dir) {
            Err(Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL) => {
                clone_process(flags).map(|pid| (pid, Placement::ByParent))
            }
            other => other.map(|pid| (pid, Placement::Born)),
        },
        None => clone_process(flags).map(|pid| (pid, Placement::JoinSelf)),
    }
}

/// clone3(2) with `CLONE_INTO_CGROUP`: the child is born in the cgroup whose directory is
/// `cgroup`, without any migration. Fork semantics (no new stack); the caller must be
/// single-threaded. Fails with ENOSYS or E2BIG on kernels before 5.7.
pub fn clone_into_cgroup(
    flags: CloneFlags,
    cgroup: std::os::fd::BorrowedFd<'_>,
) -> Result<libc::pid_t, Errno> {
    use std::os::fd::AsRawFd;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let mut args = CloneArgs {
        flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: a valid clone_args of the size we pass; with a zero stack the child continues on
    // a copy of our stack, as after fork.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    Errno::result(rc).map(|pid| pid as libc::pid_t)
}

/// Raw clone(2) without a new stack: fork semantics plus namespace flags. The caller must be
/// single-threaded.
pub fn clone_process(flags: CloneFlags) -> Result<libc::pid_t, Errno> {
    // SAFETY: with a null stack, clone behaves as fork; the caller guarantees that no other
    // thread holds locks the child might need.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags.bits() | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    Errno::result(rc).map(|pid| pid as libc::pid_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup2 mount of this host (the unified tree of a hybrid host, or the only tree).
    fn cgroup2_mount() -> PathBuf {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .find(|l| l.contains(" - cgroup2 "))
            .and_then(|l| l.split(' ').nth(4))
            .map(PathBuf::from)
            .expect("this test needs a cgroup2 mount (hybrid or unified host)")
    }

    #[test]
    fn clone3_places_the_child_in_the_cgroup_at_birth() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root");
        let name = format!("skiff-clone3-test-{}", std::process::id());
        let dir = cgroup2_mount().join(&name);
        std::fs::create_dir(&dir).unwrap();
        let fd = std::fs::File::open(&dir).unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let pid = clone_into_cgroup(CloneFlags::empty(), std::os::fd::AsFd::as_fd(&fd)).unwrap();
        if pid == 0 {
            // Child: only async-signal-safe calls until _exit.
            let mut byte = [0u8; 1];
            // SAFETY: closing our copy of the write end (so that the parent's close is seen),
            // reading into a local buffer, then leaving.
            unsafe {
                libc::close(std::os::fd::AsRawFd::as_raw_fd(&write_end));
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&read_end),
                    byte.as_mut_ptr().cast(),
                    1,
                );
                libc::_exit(0);
            }
        }
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        drop(write_end);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        std::fs::remove_dir(&dir).unwrap();
        assert!(
            cgroup.lines().any(|l| l == format!("0::/{name}")),
            "{cgroup}"
        );
    }
}
