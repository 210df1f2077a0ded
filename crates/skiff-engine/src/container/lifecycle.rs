//! The container lifecycle on the engine: create, start (through a shim), wait, stop, kill,
//! remove, list, inspect. Every operation reads the state from disk (see [`super::record`]),
//! so any `skiff` process — or a restarted agent — can act on containers another one started.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use oci_spec::image::ImageConfiguration;
use serde::Serialize;

use super::attached::{read_report_line, Attached};
use super::config::{ContainerConfig, NetworkMode};
use super::error::{ContainerError, StartFailure};
use super::logs::{self, LogReader};
use super::record::{
    self, alive, read_json, write_json, ContainerRecord, ExitState, Paths, ShimState, Status,
};
use super::shim::pidfd_open;
use crate::engine::{now, Engine, RuntimeChoice};
use crate::error::Error;
use crate::fsutil::{random_hex, FileLock};
use crate::image::commit::read_config;

/// How long `stop` waits after its signal when the container sets no timeout (Docker's 10 s).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `rm --force` waits for a container's shim to let go of it.
const REMOVE_WAIT: Duration = Duration::from_secs(20);

/// A container as `ls` and `inspect` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    /// What it was created from.
    #[serde(flatten)]
    pub record: ContainerRecord,
    /// Its status now.
    pub status: Status,
    /// Its shim and process, once started.
    pub shim: Option<ShimState>,
    /// How it ended, once it has.
    pub exit: Option<ExitState>,
}

impl Engine {
    fn containers_dir(&self) -> PathBuf {
        self.opts.data_dir.join("containers")
    }

    fn paths(&self, id: &str) -> Paths {
        Paths::new(&self.containers_dir(), id)
    }

    /// Creates a container from an image and a config; nothing runs yet. On failure nothing
    /// is left behind.
    pub fn create_container(&self, mut config: ContainerConfig) -> Result<ContainerInfo, Error> {
        let _gc = self.gc_guard(false)?;
        let image = self.image(&config.image)?;
        for layer in &image.layers {
            if !self.layers.contains(&layer.diff_id) {
                return Err(crate::image::layers::LayerError::Missing {
                    diff_id: layer.diff_id.clone(),
                }
                .into());
            }
        }
        crate::container::spec::check_mounts(&config).map_err(ContainerError::from)?;
        // Taken out of the config: the record written to disk must never hold the payloads.
        let files = std::mem::take(&mut config.files);
        let placements = super::files::plan(&files).map_err(ContainerError::from)?;
        let image_config = read_config(&self.content, &image.id)?;
        check_config(&config, &image_config)?;
        let id = random_hex(32);
        let lock_path = self.containers_dir().join(".names.lock");
        let _names = FileLock::exclusive(&lock_path).map_err(|source| Error::Io {
            path: lock_path.clone(),
            source,
        })?;
        let name = match &config.name {
            Some(name) => {
                check_name(name)?;
                if self.find_by_name(name)?.is_some() {
                    return Err(ContainerError::NameInUse { name: name.clone() }.into());
                }
                name.clone()
            }
            None => format!("skiff-{}", &id[..12]),
        };
        let runtime = match &config.runtime {
            Some(r) => crate::engine::parse_runtime(r),
            None => self.opts.runtime.clone(),
        };
        let mut record = ContainerRecord {
            id: id.clone(),
            name,
            image_id: image.id.clone(),
            image_name: config.image.clone(),
            image_config,
            layers: image.layers.iter().map(|l| l.diff_id.clone()).collect(),
            config,
            runtime,
            created_at: now(),
            network: None,
        };
        let paths = self.paths(&id);
        let made = (|| -> Result<(), Error> {
            for dir in [paths.rootfs(), paths.upper(), paths.work(), paths.logs()] {
                fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir, source })?;
            }
            // After the directory exists: an allocation whose container directory is gone
            // may be reclaimed by a create that finds the subnet full.
            if record.config.network == NetworkMode::Bridge {
                record.network = Some(crate::network::attach(
                    &self.opts.data_dir,
                    &self.opts.network,
                    &id,
                    &record.name,
                    &record.config.ports,
                )?);
            }
            if !files.is_empty() {
                let binds = super::files::stage(&paths.files(), &files, &placements)
                    .map_err(ContainerError::from)?;
                record.config.mounts.extend(binds);
                crate::container::spec::check_mounts(&record.config)
                    .map_err(ContainerError::from)?;
            }
            for volume in record.config.mounts.iter().filter_map(|m| match m {
                super::config::MountConfig::Volume { name, .. } => Some(name),
                _ => None,
            }) {
                self.volumes.ensure(volume).map_err(ContainerError::from)?;
            }
            write_json(&paths.record(), &record).map_err(|source| Error::Io {
                path: paths.record(),
                source,
            })
        })();
        if let Err(e) = made {
            super::files::unstage(&paths.files());
            let _ = crate::network::release(&self.opts.data_dir, &id);
            let _ = fs::remove_dir_all(&paths.dir);
            return Err(e);
        }
        Ok(ContainerInfo {
            record,
            status: Status::Created,
            shim: None,
            exit: None,
        })
    }

    /// Starts a created or exited container through a new shim. The returned [`Attached`]
    /// can wait for the end and follow the logs; dropping it detaches.
    pub fn start_container(&self, what: &str) -> Result<Attached, Error> {
        let info = self.container(what)?;
        match info.status {
            Status::Created | Status::Exited => {}
            Status::Running => {
                return Err(ContainerError::WrongStatus {
                    id: info.record.id.clone(),
                    status: info.status,
                    hint: "it is already running",
                }
                .into())
            }
            Status::Dead => {
                return Err(ContainerError::WrongStatus {
                    id: info.record.id.clone(),
                    status: info.status,
                    hint: "its shim died; remove it with skiff container rm",
                }
                .into())
            }
        }
        let id = info.record.id.clone();
        let paths = self.paths(&id);
        let (report_r, report_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Io {
                path: paths.dir.clone(),
                source: e.into(),
            })?;
        let shim_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.shim_log())
            .map_err(|source| Error::Io {
                path: paths.shim_log(),
                source,
            })?;
        let mut child = Command::new(&self.opts.shim_program)
            .arg("shim")
            .arg("--data-dir")
            .arg(&self.opts.data_dir)
            .arg("--id")
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::from(report_w))
            .stderr(Stdio::from(shim_log))
            .spawn()
            .map_err(|e| ContainerError::Shim {
                id: id.clone(),
                message: format!("cannot run {}: {e}", self.opts.shim_program.display()),
            })?;
        let _ = child.wait();
        let mut report = BufReader::new(File::from(report_r));
        let mut line = String::new();
        let _ = report.read_line(&mut line);
        let shim = line
            .trim_end()
            .strip_prefix("shim ")
            .and_then(|pid| pid.parse().ok())
            .and_then(pidfd_open);
        let line = read_report_line(&mut report, shim.as_ref()).unwrap_or_default();
        let line = line.trim_end();
        if let Some(pid) = line.strip_prefix("started ") {
            let pid = pid.parse().unwrap_or(0);
            return Ok(Attached {
                id,
                pid,
                paths,
                report,
                shim,
            });
        }
        let message = match line.strip_prefix("error ") {
            Some(m) => m.to_string(),
            None => format!(
                "the shim ended without starting the container (see {})",
                paths.shim_log().display()
            ),
        };
        let cause = StartFailure::classify(&message);
        Err(ContainerError::StartFailed { id, message, cause }.into())
    }

    /// The container `what` names: an id, a unique id prefix, or a name.
    pub fn container(&self, what: &str) -> Result<ContainerInfo, Error> {
        let id = self.resolve_container(what)?;
        self.info(&id)
    }

    /// Every container.
    pub fn containers(&self) -> Result<Vec<ContainerInfo>, Error> {
        let mut out = Vec::new();
        for id in self.container_ids()? {
            if let Ok(info) = self.info(&id) {
                out.push(info);
            }
        }
        out.sort_by(|a, b| b.record.created_at.cmp(&a.record.created_at));
        Ok(out)
    }

    /// Waits until the container's process has ended and its shim has cleaned up.
    pub fn wait_container(
        &self,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<ExitState, Error> {
        let info = self.container(what)?;
        let paths = self.paths(&info.record.id);
        // Keeps the shim of a --rm container from removing it before exit.json is read.
        let _waiting = match FileLock::shared(&paths.waiters()) {
            Ok(lock) => Some(lock),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContainerError::NoSuchContainer { what: what.into() }.into())
            }
            Err(_) => None,
        };
        let info = self.info(&info.record.id)?;
        if info.status == Status::Running {
            if let Some(shim) = &info.shim {
                let deadline = timeout.map(|t| Instant::now() + t);
                // Until exit.json is there: the shim of a --rm container waits for us then.
                while !paths.exit().exists() {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    let step = Duration::from_millis(100);
                    if wait_shim(shim, Some(left.map_or(step, |l| l.min(step))))
                        || left.is_some_and(|l| l.is_zero())
                    {
                        break;
                    }
                }
            }
        }
        let info = self.info(&info.record.id)?;
        match (info.exit, info.status) {
            (Some(exit), _) => Ok(exit),
            (None, Status::Running) => Err(ContainerError::WaitTimeout {
                id: info.record.id.clone(),
                waited: timeout.unwrap_or_default(),
            }
            .into()),
            (None, status) => Err(ContainerError::WrongStatus {
                id: info.record.id.clone(),
                status,
                hint: "it has not ended",
            }
            .into()),
        }
    }

    /// Sends `signal` to the container's process.
    pub fn kill_container(&self, what: &str, signal: Signal) -> Result<(), Error> {
        let info = self.container(what)?;
        let shim = running(&info)?;
        signal_process(&info.record.id, shim, signal)
    }

    /// Stops a running container: its stop signal, then SIGKILL after `timeout` (the
    /// container's own, else 10 s). A container that is not running is left as it is.
    pub fn stop_container(
        &self,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<ContainerInfo, Error> {
        let info = self.container(what)?;
        if info.status != Status::Running {
            return Ok(info);
        }
        let shim = info.shim.clone().expect("running containers have a shim");
        let timeout = timeout
            .or(info.record.config.stop_timeout.map(Duration::from_secs))
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let signal = stop_signal(&info.record)?;
        signal_process(&info.record.id, &shim, signal)?;
        if !wait_shim(&shim, Some(timeout)) {
            let _ = signal_process(&info.record.id, &shim, Signal::SIGKILL);
            if !wait_shim(&shim, Some(Duration::from_secs(10))) {
                return Err(ContainerError::Shim {
                    id: info.record.id.clone(),
                    message: "the container did not end 10 s after SIGKILL".into(),
                }
                .into());
            }
        }
        self.info(&info.record.id)
    }

    /// Removes a container: its files, upper directory and logs. A running one is refused
    /// unless `force` (then killed), and so is one whose shim is still starting it. Whatever
    /// a shim that died left (runtime state, cgroup, mount, process) is cleaned up.
    pub fn remove_container(&self, what: &str, force: bool) -> Result<(), Error> {
        let info = match self.container(what) {
            Ok(info) => info,
            Err(e) => return self.remove_orphan(what).unwrap_or(Err(e)),
        };
        let id = info.record.id.clone();
        let paths = self.paths(&id);
        let deadline = Instant::now() + REMOVE_WAIT;
        // The shim holds the lock while it starts and runs the container.
        let _lock = loop {
            let info = self.info(&id)?;
            if info.status == Status::Running && !force {
                return Err(ContainerError::WrongStatus {
                    id,
                    status: info.status,
                    hint: "stop it first, or remove it with --force",
                }
                .into());
            }
            if let (Status::Running, Some(shim)) = (info.status, &info.shim) {
                let _ = signal_process(&id, shim, Signal::SIGKILL);
                wait_shim(
                    shim,
                    Some(deadline.saturating_duration_since(Instant::now())),
                );
            }
            match FileLock::try_exclusive(&paths.lock()) {
                Ok(Some(lock)) => break lock,
                // Held by the container process a killed shim left before its exec.
                Ok(None) if record::lock_owner_dead(&paths) => {
                    self.clean_runtime(&info.record);
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) if force && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    return Err(ContainerError::WrongStatus {
                        id,
                        status: info.status,
                        hint: "a shim is still starting or ending it; try again, or use --force",
                    }
                    .into())
                }
                // Removed meanwhile (by another rm, or by its shim for --rm): done.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(source) => {
                    return Err(Error::Io {
                        path: paths.lock(),
                        source,
                    })
                }
            }
        };
        let record = match self.info(&id) {
            Ok(info) => info.record,
            Err(Error::Container(e)) if matches!(*e, ContainerError::NoSuchContainer { .. }) => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        // Runtime state, cgroup and process of a shim that died, at any point of its run.
        self.clean_runtime(&record);
        // Whatever happened before, make sure nothing stays mounted.
        crate::storage::unmount(&paths.rootfs()).map_err(ContainerError::from)?;
        // The secrets and configs go with their tmpfs.
        super::files::unstage(&paths.files());
        match fs::remove_dir_all(&paths.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io {
                    path: paths.dir.clone(),
                    source: e,
                })
            }
            _ => {}
        }
        // Only once the container is gone: its address must not go to another container
        // while it may still run. Should this fail, the allocation is reclaimed when the
        // subnet fills up (its owner's directory is gone).
        crate::network::release(&self.opts.data_dir, &id)?;
        Ok(())
    }

    /// A container directory whose record is missing or unreadable (a power failure right
    /// after create): removed by its full id, with whatever of it the kernel still has.
    fn remove_orphan(&self, id: &str) -> Option<Result<(), Error>> {
        let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let paths = self.paths(id);
        let has_record = read_json::<ContainerRecord>(&paths.record()).is_ok_and(|r| r.is_some());
        if !is_id || !paths.dir.is_dir() || has_record {
            return None;
        }
        super::cleanup::clean_runtime(&self.opts.data_dir, id, &RuntimeChoice::Builtin, &|_| {});
        Some((|| {
            crate::storage::unmount(&paths.rootfs()).map_err(ContainerError::from)?;
            super::files::unstage(&paths.files());
            fs::remove_dir_all(&paths.dir).map_err(|source| Error::Io {
                path: paths.dir.clone(),
                source,
            })?;
            crate::network::release(&self.opts.data_dir, id)?;
            Ok(())
        })())
    }

    /// Cleans up after a shim that died: runtime state and cgroup.
    fn clean_runtime(&self, record: &ContainerRecord) {
        super::cleanup::clean_runtime(&self.opts.data_dir, &record.id, &record.runtime, &|_| {});
    }

    /// Log records of a container (oldest first; the last `tail` only if given).
    pub fn container_logs(
        &self,
        what: &str,
        tail: Option<usize>,
    ) -> Result<(Vec<logs::Record>, LogReader), Error> {
        let info = self.container(what)?;
        let dir = self.paths(&info.record.id).logs();
        let follower = LogReader::at_end(&dir);
        let records = logs::read_all(&dir, tail).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok((records, follower))
    }

    fn info(&self, id: &str) -> Result<ContainerInfo, Error> {
        let paths = self.paths(id);
        let io = |path: PathBuf| move |source| Error::Io { path, source };
        let record: ContainerRecord = read_json(&paths.record())
            .map_err(io(paths.record()))?
            .ok_or_else(|| ContainerError::NoSuchContainer { what: id.into() })?;
        let shim: Option<ShimState> = read_json(&paths.shim()).map_err(io(paths.shim()))?;
        let exit: Option<ExitState> = read_json(&paths.exit()).map_err(io(paths.exit()))?;
        let status = record::status(shim.as_ref(), exit.as_ref());
        Ok(ContainerInfo {
            record,
            status,
            shim,
            exit,
        })
    }

    fn container_ids(&self) -> Result<Vec<String>, Error> {
        let dir = self.containers_dir();
        let entries = fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect())
    }

    fn find_by_name(&self, name: &str) -> Result<Option<String>, Error> {
        for id in self.container_ids()? {
            let record: Option<ContainerRecord> =
                read_json(&self.paths(&id).record()).unwrap_or(None);
            if record.is_some_and(|r| r.name == name) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    fn resolve_container(&self, what: &str) -> Result<String, Error> {
        // A full id wins over a name that happens to look like one (as in Docker).
        if what.len() == 64 && self.paths(what).record().is_file() {
            return Ok(what.to_string());
        }
        if let Some(id) = self.find_by_name(what)? {
            return Ok(id);
        }
        if !what.is_empty() && what.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<String> = self
                .container_ids()?
                .into_iter()
                .filter(|id| id.starts_with(what))
                .collect();
            match hits.len() {
                1 => return Ok(hits.into_iter().next().expect("one hit")),
                0 => {}
                _ => {
                    return Err(ContainerError::Ambiguous {
                        what: what.into(),
                        count: hits.len(),
                    }
                    .into())
                }
            }
        }
        Err(ContainerError::NoSuchContainer { what: what.into() }.into())
    }
}

fn running(info: &ContainerInfo) -> Result<&ShimState, Error> {
    match (&info.shim, info.status) {
        (Some(shim), Status::Running) => Ok(shim),
        _ => Err(ContainerError::WrongStatus {
            id: info.record.id.clone(),
            status: info.status,
            hint: "it is not running",
        }
        .into()),
    }
}

/// Signals the container's init process, through a pidfd opened after checking that the pid
/// still is that process (so a reused pid is never signalled).
pub(super) fn signal_process(id: &str, shim: &ShimState, signal: Signal) -> Result<(), Error> {
    let pidfd: Option<OwnedFd> = pidfd_open(shim.pid);
    if !alive(shim.pid, shim.pid_start) {
        return Ok(());
    }
    let Some(pidfd) = pidfd else {
        return Err(ContainerError::Shim {
            id: id.into(),
            message: "pidfd_open failed (kernel without pidfd?)".into(),
        }
        .into());
    };
    // SAFETY: pidfd_send_signal(pidfd, sig, NULL, 0).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(ContainerError::Shim {
                id: id.into(),
                message: format!("cannot send {signal}: {e}"),
            }
            .into());
        }
    }
    Ok(())
}

/// Waits for the shim to exit; false on timeout.
fn wait_shim(shim: &ShimState, timeout: Option<Duration>) -> bool {
    let pidfd = pidfd_open(shim.shim_pid);
    if !alive(shim.shim_pid, shim.shim_start) {
        return true;
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    match pidfd {
        Some(fd) => loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let ms = left.map_or(PollTimeout::NONE, |l| {
                PollTimeout::try_from(l.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            });
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, ms).unwrap_or(0) > 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
        },
        None => loop {
            if !alive(shim.shim_pid, shim.shim_start) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        },
    }
}

/// The signal `stop` sends: the container's, else the image's `StopSignal`, else SIGTERM.
fn stop_signal(record: &ContainerRecord) -> Result<Signal, Error> {
    let text = record
        .config
        .stop_signal
        .clone()
        .or_else(|| {
            record
                .image_config
                .config()
                .as_ref()
                .and_then(|c| c.stop_signal().clone())
        })
        .unwrap_or_else(|| "SIGTERM".into());
    skiff_runtime::parse_signal(&text).map_err(|_| {
        ContainerError::BadStopSignal {
            id: record.id.clone(),
            signal: text,
        }
        .into()
    })
}

/// What can be checked of a new container before anything is made for it; the rest (a user
/// or group name the image's files must have) is found when it starts.
fn check_config(config: &ContainerConfig, image: &ImageConfiguration) -> Result<(), Error> {
    super::spec::check(config, image).map_err(ContainerError::from)?;
    if !config.ports.is_empty() && config.network != NetworkMode::Bridge {
        return Err(ContainerError::PortsNeedBridge.into());
    }
    let wanted = super::spec::effective_user(config, image);
    match super::user::resolve(wanted, None, None) {
        Ok(_) | Err(super::user::UserError::NotFound { .. }) => {}
        Err(e) => return Err(ContainerError::from(e).into()),
    }
    if let Some(signal) = &config.stop_signal {
        if skiff_runtime::parse_signal(signal).is_err() {
            return Err(ContainerError::InvalidStopSignal {
                signal: signal.clone(),
            }
            .into());
        }
    }
    Ok(())
}

/// Container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters (Docker's rule).
pub fn check_name(name: &str) -> Result<(), ContainerError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::BadName { name: name.into() })
    }
}
