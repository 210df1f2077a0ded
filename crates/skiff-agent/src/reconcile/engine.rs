//! [`NodeEngine`]: the few engine operations the reconciler needs, as a small synchronous
//! trait (called from `spawn_blocking`), with the real implementation over
//! [`skiff_engine::Engine`]. Unit tests of the runner use an explicit fake instead.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_engine::container::exec::ExecConfig;
use skiff_engine::container::{ContainerConfig, ContainerInfo, Status};
use skiff_engine::image::Reference;
use skiff_engine::network::service::ServicePort;
use skiff_engine::Engine;

/// What the reconciler sees of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its labels (the `skiff.*` ones tie it to a task).
    pub labels: BTreeMap<String, String>,
    /// What it is doing.
    pub state: ContainerState,
    /// Its address on the node network, when it has one.
    pub ip: Option<String>,
    /// Its process's pid, while it runs.
    pub pid: Option<i32>,
    /// When its process last started (RFC 3339), once started.
    pub started_at: Option<String>,
    /// How its process ended, once it has.
    pub exit_code: Option<i32>,
}

/// A container's state, as the reconciler tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Its process runs.
    Running,
    /// Its process ended (see `exit_code`).
    Exited,
    /// Its shim died without recording an end; it can only be removed.
    Dead,
}

/// How an image was made available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    /// It was in the store already.
    Local,
    /// It was pulled from its registry.
    Pulled,
}

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// The exit code; `None` when it was killed at its timeout.
    pub exit_code: Option<i32>,
    /// The start of what it wrote (standard output, then standard error), at most 4 KiB.
    pub output: String,
}

/// An engine operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {subject}: {message}")]
pub struct NodeError {
    /// The operation (`create`, `start`, `pull`, …).
    pub op: &'static str,
    /// What it was applied to (a container id or name, an image).
    pub subject: String,
    /// The engine's message.
    pub message: String,
}

/// The engine operations the reconciler uses. Synchronous: call them from `spawn_blocking`.
pub trait NodeEngine: Send + Sync + std::fmt::Debug {
    /// Every container on the node.
    fn list(&self) -> Result<Vec<ContainerView>, NodeError>;
    /// Makes `image` available: the local one when present, else pulled from its registry.
    fn ensure_image(&self, image: &str) -> Result<ImageSource, NodeError>;
    /// Creates a container (not started).
    fn create(&self, config: ContainerConfig) -> Result<ContainerView, NodeError>;
    /// Starts a created or exited container; returns it running.
    fn start(&self, id: &str) -> Result<ContainerView, NodeError>;
    /// Stops a running container: its stop signal, SIGKILL after its stop timeout.
    fn stop(&self, id: &str) -> Result<(), NodeError>;
    /// Removes a container, stopping it first as `stop` does.
    fn remove(&self, id: &str) -> Result<(), NodeError>;
    /// Runs `argv` in the running container; kills it after `timeout`.
    fn exec(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecResult, NodeError>;
    /// Makes the node's service ports (node-local ingress) exactly `ports`.
    fn set_service_ports(&self, ports: &[ServicePort]) -> Result<(), NodeError>;
}

/// The real [`NodeEngine`]: Skiff's engine on this node.
#[derive(Debug, Clone)]
pub struct LocalEngine {
    engine: Arc<Engine>,
}

impl LocalEngine {
    /// Wraps an open engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        LocalEngine { engine }
    }
}

fn failed<'a>(
    op: &'static str,
    subject: &'a str,
) -> impl FnOnce(skiff_engine::Error) -> NodeError + 'a {
    move |e| NodeError {
        op,
        subject: subject.to_owned(),
        message: e.to_string(),
    }
}

/// What the reconciler sees of an engine container.
pub fn view(info: &ContainerInfo) -> ContainerView {
    let running = info.status == Status::Running;
    ContainerView {
        id: info.record.id.clone(),
        name: info.record.name.clone(),
        labels: info.record.config.labels.clone(),
        state: match info.status {
            Status::Created => ContainerState::Created,
            Status::Running => ContainerState::Running,
            Status::Exited => ContainerState::Exited,
            Status::Dead => ContainerState::Dead,
        },
        ip: info.record.network.as_ref().map(|n| n.ip.to_string()),
        pid: info.shim.as_ref().filter(|_| running).map(|s| s.pid),
        started_at: info.shim.as_ref().map(|s| s.started_at.clone()),
        exit_code: info.exit.as_ref().map(|e| e.exit_code),
    }
}

impl NodeEngine for LocalEngine {
    fn list(&self) -> Result<Vec<ContainerView>, NodeError> {
        let all = self
            .engine
            .containers()
            .map_err(failed("list", "containers"))?;
        Ok(all.iter().map(view).collect())
    }

    fn ensure_image(&self, image: &str) -> Result<ImageSource, NodeError> {
        match self.engine.image(image) {
            Ok(_) => return Ok(ImageSource::Local),
            Err(skiff_engine::Error::NoSuchImage { .. }) => {}
            Err(e) => return Err(failed("find image", image)(e)),
        }
        let reference: Reference = image.parse().map_err(|e| NodeError {
            op: "pull",
            subject: image.to_owned(),
            message: format!("{e}"),
        })?;
        self.engine
            .pull(&reference, &skiff_engine::image::pull::NoProgress)
            .map_err(failed("pull", image))?;
        Ok(ImageSource::Pulled)
    }

    fn create(&self, config: ContainerConfig) -> Result<ContainerView, NodeError> {
        let name = config.name.clone().unwrap_or_default();
        let info = self
            .engine
            .create_container(config)
            .map_err(failed("create", &name))?;
        Ok(view(&info))
    }

    fn start(&self, id: &str) -> Result<ContainerView, NodeError> {
        // Dropping the attachment detaches: the shim keeps the container.
        drop(
            self.engine
                .start_container(id)
                .map_err(failed("start", id))?,
        );
        let info = self.engine.container(id).map_err(failed("inspect", id))?;
        Ok(view(&info))
    }

    fn stop(&self, id: &str) -> Result<(), NodeError> {
        self.engine
            .stop_container(id, None)
            .map(drop)
            .map_err(failed("stop", id))
    }

    fn remove(&self, id: &str) -> Result<(), NodeError> {
        self.stop(id)?;
        self.engine
            .remove_container(id, true)
            .map_err(failed("remove", id))
    }

    fn exec(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecResult, NodeError> {
        let exec = ExecConfig {
            args: argv.to_vec(),
            ..ExecConfig::default()
        };
        let mut cmd = self
            .engine
            .exec_command(id, &exec)
            .map_err(failed("exec in", id))?;
        // Its own process group, so that a timeout kills what it started too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NodeError {
                op: "exec in",
                subject: id.to_owned(),
                message: e.to_string(),
            })?;
        Ok(wait_exec(child, timeout))
    }

    fn set_service_ports(&self, ports: &[ServicePort]) -> Result<(), NodeError> {
        self.engine
            .set_service_ports(ports)
            .map_err(failed("set", "the service ports"))
    }
}

/// Most output kept of one exec.
const OUTPUT_MAX: usize = 4096;

/// Waits for an exec until `timeout`, killing its process group then.
fn wait_exec(mut child: Child, timeout: Duration) -> ExecResult {
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            // Read to the end (so the process never blocks on a full pipe), keep the start.
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = OUTPUT_MAX.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            kept
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let exit_code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // SAFETY: kill(2) on the exec's own process group (its pid, see above).
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut output = Vec::new();
    for reader in readers {
        output.extend(reader.join().unwrap_or_default());
    }
    output.truncate(OUTPUT_MAX);
    ExecResult {
        exit_code,
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}
