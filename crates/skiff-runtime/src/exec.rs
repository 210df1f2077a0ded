//! `exec`: run another process inside a running container, joining its namespaces and cgroup.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::container::Runtime;
use crate::error::{Error, Result};
use crate::init::Placement;
use crate::namespaces;
use crate::process::{self, Prepared};
use crate::spec::Namespaces;
use crate::state::Status;

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
    /// Where to write the process's pid.
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the pty master when the process has a terminal.
    pub console_socket: Option<PathBuf>,
    /// Pass descriptors 3..3+N on to the process.
    pub preserve_fds: i32,
}

impl Runtime {
    /// Builds the process for `exec ID ARGS…`: the container's own process with other args.
    pub fn exec_process(&self, id: &str, args: Vec<String>) -> Result<Process> {
        let spec = self.store().load_config(id)?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(args));
        process.set_terminal(Some(false));
        Ok(process)
    }

    /// Runs `process` in the container. Returns the exit code, or 0 when detached.
    pub fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        crate::spec::validate_exec_process(process)?;
        let record = self.store().load(id)?;
        let status = self.status(&record);
        if status == Status::Stopped {
            return Err(Error::WrongStatus {
                id: id.into(),
                status,
                hint: "cannot exec in a stopped container",
            });
        }
        let spec = self.store().load_config(id)?;
        let prepared = Prepared::new(process, "process")?;
        if prepared.terminal && opts.console_socket.is_none() {
            return Err(Error::Spec(crate::spec::SpecError::Invalid {
                field: "process.terminal".into(),
                message: "a terminal needs --console-socket".into(),
            }));
        }
        let linux = spec.linux().as_ref();
        let seccomp = linux
            .and_then(|l| l.seccomp().as_ref())
            .map(crate::seccomp::compile)
            .transpose()?;
        let cg = self.cgroup(&record.cgroup_path)?;
        // Open all of the container's namespaces before joining any (the paths live in /proc).
        let ns = Namespaces::of(&spec);
        let mut files = Vec::new();
        for typ in [
            LinuxNamespaceType::User,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Mount,
        ] {
            if ns.private(typ) {
                let path = PathBuf::from(format!(
                    "/proc/{}/ns/{}",
                    record.pid,
                    namespaces::proc_name(typ)
                ));
                files.push(namespaces::open_ns(typ, &path)?);
            }
        }
        let pid_ns = if ns.private(LinuxNamespaceType::Pid) {
            let own = open(
                "/proc/self/ns/pid",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(Error::sys("opening /proc/self/ns/pid"))?;
            let path = PathBuf::from(format!("/proc/{}/ns/pid", record.pid));
            Some((own, namespaces::open_ns(LinuxNamespaceType::Pid, &path)?))
        } else {
            None
        };
        let console = opts
            .console_socket
            .as_deref()
            .map(crate::console::connect)
            .transpose()?;
        let (err_read, err_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe"))?;

        let join = cg.prepare_join()?;
        if let Some((_, target)) = &pid_ns {
            namespaces::join(target)?;
        }
        // The runtime runs single-threaded (the CLI or a shim), so the child may allocate.
        let cloned = crate::init::clone_into(CloneFlags::empty(), &join);
        if let Ok((0, placement)) = cloned {
            drop(err_read);
            let joined = match placement {
                Placement::Born => Ok(()),
                Placement::JoinSelf => join.join_current(),
                Placement::ByParent => cg.add_process(std::process::id() as i32),
            };
            let result = joined
                .map_err(|e| format!("joining the cgroup: {e}"))
                .and_then(|()| {
                    exec_child(
                        &prepared,
                        &files,
                        console,
                        seccomp.as_ref(),
                        opts.preserve_fds,
                    )
                });
            let message = match result {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let mut w = std::fs::File::from(err_write);
            let _ = std::io::Write::write_all(&mut w, message.as_bytes());
            // SAFETY: leaving the child.
            unsafe { libc::_exit(127) };
        }
        if let Some((own, _)) = &pid_ns {
            setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
                .map_err(Error::sys("returning to the runtime's pid namespace"))?;
        }
        let child = nix::unistd::Pid::from_raw(cloned.map_err(Error::sys("clone"))?.0);
        drop(err_write);
        let mut message = String::new();
        let _ = std::fs::File::from(err_read).read_to_string(&mut message);
        if !message.is_empty() {
            let _ = nix::sys::wait::waitpid(child, None);
            return Err(Error::Init { message });
        }
        if let Some(path) = &opts.pid_file {
            crate::state::write_atomic(path, child.as_raw().to_string().as_bytes())?;
        }
        if opts.detach {
            return Ok(0);
        }
        crate::container::wait_forwarding(child.as_raw())
    }
}

fn exec_child(
    prepared: &Prepared,
    files: &[namespaces::NsFile],
    console: Option<OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
    preserve_fds: i32,
) -> std::result::Result<std::convert::Infallible, String> {
    for file in files {
        namespaces::join(file).map_err(|e| e.to_string())?;
        if file.typ == LinuxNamespaceType::User {
            let root = nix::unistd::Uid::from_raw(0);
            let gid = nix::unistd::Gid::from_raw(0);
            nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setresgid 0: {e}"))?;
            nix::unistd::setresuid(root, root, root).map_err(|e| format!("setresuid 0: {e}"))?;
        }
    }
    // Joining the mount namespace moved our root and cwd to the container's root.
    if let Some(socket) = console {
        crate::console::setup_pty(&socket).map_err(|e| e.to_string())?;
    }
    let mut prepared = prepared.clone();
    prepared.default_home();
    let program = process::find_executable(&prepared).map_err(|e| e.to_string())?;
    process::apply_limits(&prepared).map_err(|e| e.to_string())?;
    if let (Some(filter), false) = (seccomp, prepared.no_new_privs) {
        filter.load().map_err(|e| e.to_string())?;
    }
    process::apply_credentials(&prepared).map_err(|e| e.to_string())?;
    process::chdir(&prepared.cwd).map_err(|e| e.to_string())?;
    nix::sys::stat::umask(Mode::from_bits_truncate(prepared.umask));
    if let (Some(filter), true) = (seccomp, prepared.no_new_privs) {
        filter.load().map_err(|e| e.to_string())?;
    }
    crate::init::mark_fds_cloexec(3 + preserve_fds);
    // The error pipe is close-on-exec: a successful exec closes it and the runtime reads EOF.
    Err(process::execve(&program, &prepared).to_string())
}
