//! A task → the engine's [`ContainerConfig`]: what the reconciler creates for a desired task.
//!
//! Pure: the same task and options give the same config. What the engine cannot do is never
//! dropped silently: a field the container can run without (`init`, `ulimits`, …) becomes a
//! [`Note`] the reconciler reports with the task's status; one it cannot honestly run
//! without (a missing secret, a volume sub-path, an IPv6 or SCTP port) is a
//! [`TranslateError`] naming the field, and the task fails with it.
//!
//! Only host-mode ports are published by the container. Ingress-mode ports are checked here
//! the same way (a task with one the engine cannot publish fails), but published once per
//! node as a service port balanced over the service's tasks (see [`crate::ingress`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use skiff_api::app::{
    HealthTest, MountSpec, PortMode, PortSpec, Protocol as ApiProtocol, ServiceSpec,
};
use skiff_engine::container::{
    ContainerConfig, MountConfig, NetworkMode, PortMapping, Protocol, Resources,
};

use crate::desired::{DesiredTask, TaskSlot};

/// The label holding the task id: how the reconciler finds its containers.
pub const LABEL_TASK: &str = "skiff.task";
/// The label holding the task's environment.
pub const LABEL_ENV: &str = "skiff.env";
/// The label holding the task's app.
pub const LABEL_APP: &str = "skiff.app";
/// The label holding the task's service.
pub const LABEL_SERVICE: &str = "skiff.service";
/// The label holding the task's slot (wire form: `3`, `node:<id>`).
pub const LABEL_SLOT: &str = "skiff.slot";
/// The label holding the revision of the service spec the container was made from.
pub const LABEL_SPEC_REVISION: &str = "skiff.spec_revision";

/// How tasks are translated on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateOptions {
    /// The network mode of every task's container: `Bridge` on a real node; `None` where the
    /// node has no bridge (published ports are then refused).
    pub network: NetworkMode,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            network: NetworkMode::Bridge,
        }
    }
}

/// A field of the spec the engine does not honour; the container runs without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The spec field (`init`, `ulimits.nofile`, …).
    pub field: String,
    /// What happens instead.
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A task the engine cannot run as specified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A spec field has no equivalent on this node.
    #[error("task {task}: {field} is not supported on this node: {reason}")]
    Unsupported {
        /// The task.
        task: String,
        /// The spec field.
        field: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// Its secrets and configs could not be given (the control plane says why).
    #[error("task {task}: {message}")]
    Files {
        /// The task.
        task: String,
        /// What is missing, and what to do.
        message: String,
    },
}

/// What a task becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The container to create.
    pub config: ContainerConfig,
    /// Host directories to create before the container (bind mounts with
    /// `create_host_path`).
    pub host_dirs: Vec<PathBuf>,
    /// Fields the container runs without.
    pub notes: Vec<Note>,
}

/// The container name of a task: `skiff-<env>-<app>-<service>-<slot>-<first 8 of the id>`.
pub fn container_name(task: &DesiredTask) -> String {
    let slot = match &task.slot {
        TaskSlot::Replica(n) => n.to_string(),
        TaskSlot::Node(node) => node.clone(),
    };
    let id: String = task
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    format!(
        "skiff-{}-{}-{}-{}-{}",
        task.env, task.app, task.service, slot, id
    )
}

/// The default hostname of a task's container: `<service>-<slot>` (`web-2`, `agent-node1`).
/// No dot: a host name with one gives the resolver a search domain (the part after the dot),
/// and a container would then ask for `web.node1` before `web`.
pub fn default_hostname(task: &DesiredTask) -> String {
    match &task.slot {
        TaskSlot::Replica(n) => format!("{}-{n}", task.service),
        TaskSlot::Node(node) => format!("{}-{node}", task.service),
    }
}

/// The labels that tie a container to its task.
pub fn task_labels(task: &DesiredTask) -> BTreeMap<String, String> {
    [
        (LABEL_TASK, task.id.clone()),
        (LABEL_ENV, task.env.clone()),
        (LABEL_APP, task.app.clone()),
        (LABEL_SERVICE, task.service.clone()),
        (LABEL_SLOT, task.slot.to_wire()),
        (LABEL_SPEC_REVISION, task.spec_revision.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Translates a task into the container to create.
pub fn translate(
    task: &DesiredTask,
    opts: &TranslateOptions,
) -> Result<Translation, TranslateError> {
    let spec = &task.spec;
    let unsupported = |field: &str, reason: &str| TranslateError::Unsupported {
        task: task.id.clone(),
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(message) = &task.files_error {
        return Err(TranslateError::Files {
            task: task.id.clone(),
            message: message.clone(),
        });
    }
    let declared = spec.secrets.len() + spec.configs.len();
    if task.files.len() != declared {
        return Err(unsupported(
            "secrets",
            &format!(
                "the service declares {declared} secret and config files but the control plane \
                 sent {}; run the same Skiff version on the servers and the agents",
                task.files.len()
            ),
        ));
    }
    let mut notes = Vec::new();
    let mut labels = spec.labels.clone();
    if let Some(key) = labels.keys().find(|k| k.starts_with("skiff.")) {
        return Err(unsupported(
            &format!("labels.{key}"),
            "labels starting with `skiff.` are reserved for the agent; rename it",
        ));
    }
    labels.extend(task_labels(task));
    let (mounts, host_dirs) = mounts(task, &mut notes)?;
    let ports = ports(task, opts, &mut notes)?;
    let config = ContainerConfig {
        name: Some(container_name(task)),
        image: spec.image.clone(),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.command.clone(),
        env: spec
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        workdir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: Some(
            spec.hostname
                .clone()
                .unwrap_or_else(|| default_hostname(task)),
        ),
        mounts,
        read_only: spec.read_only,
        resources: resources(spec),
        cap_add: spec.cap_add.clone(),
        cap_drop: spec.cap_drop.clone(),
        stop_signal: Some(spec.stop_signal.clone()),
        stop_timeout: Some(spec.stop_grace_period.to_std().as_secs_f64().ceil() as u64),
        labels,
        network: opts.network,
        ports,
        files: task.files.clone(),
        ..ContainerConfig::default()
    };
    ignored_fields(spec, &mut notes);
    Ok(Translation {
        config,
        host_dirs,
        notes,
    })
}

fn resources(spec: &ServiceSpec) -> Resources {
    let r = &spec.deploy.resources;
    Resources {
        memory: r.limits.memory.map(|m| m.bytes()),
        memory_reservation: r.reservations.memory.map(|m| m.bytes()),
        millicpus: r.limits.cpus.map(|c| c.millis()),
        pids: r.limits.pids.map(|p| i64::try_from(p).unwrap_or(i64::MAX)),
    }
}

/// Named volumes are the app's: `<env>_<app>_<name>` on the node, so that two apps (or two
/// environments) with a volume `data` do not share it. An anonymous volume gets a name of its
/// own task: `<env>_<app>_<service>-<task id 8>-<n>`.
fn mounts(
    task: &DesiredTask,
    notes: &mut Vec<Note>,
) -> Result<(Vec<MountConfig>, Vec<PathBuf>), TranslateError> {
    let mut out = Vec::new();
    let mut host_dirs = Vec::new();
    let short: String = task.id.chars().take(8).collect();
    for (i, m) in task.spec.mounts.iter().enumerate() {
        let field = |f: &str| format!("mounts[{i}].{f}");
        match m {
            MountSpec::Volume {
                source,
                target,
                read_only,
                nocopy,
                subpath,
            } => {
                if subpath.is_some() {
                    return Err(TranslateError::Unsupported {
                        task: task.id.clone(),
                        field: field("subpath"),
                        reason: "volume sub-paths are not supported; mount the whole volume".into(),
                    });
                }
                if *nocopy {
                    notes.push(Note {
                        field: field("nocopy"),
                        message: "ignored: a new volume is filled from the image".into(),
                    });
                }
                let name = match source {
                    Some(s) => format!("{}_{}_{s}", task.env, task.app),
                    None => format!("{}_{}_{}-{short}-{i}", task.env, task.app, task.service),
                };
                out.push(MountConfig::Volume {
                    name,
                    target: target.clone(),
                    read_only: *read_only,
                });
            }
            MountSpec::Bind {
                source,
                target,
                read_only,
                propagation,
                create_host_path,
            } => {
                if propagation.is_some() {
                    notes.push(Note {
                        field: field("propagation"),
                        message: "ignored: bind mounts are rprivate".into(),
                    });
                }
                if *create_host_path {
                    host_dirs.push(PathBuf::from(source));
                }
                out.push(MountConfig::Bind {
                    source: PathBuf::from(source),
                    target: target.clone(),
                    read_only: *read_only,
                });
            }
            MountSpec::Tmpfs { target, size, mode } => out.push(MountConfig::Tmpfs {
                target: target.clone(),
                size: size.map(|s| s.bytes()),
                mode: *mode,
            }),
        }
    }
    Ok((out, host_dirs))
}

fn ports(
    task: &DesiredTask,
    opts: &TranslateOptions,
    notes: &mut Vec<Note>,
) -> Result<Vec<PortMapping>, TranslateError> {
    let spec = &task.spec;
    if spec.ports.is_empty() {
        return Ok(Vec::new());
    }
    if opts.network != NetworkMode::Bridge {
        notes.push(Note {
            field: "ports".into(),
            message: "not published: this node runs containers without a network".into(),
        });
        return Ok(Vec::new());
    }
    let mut host = Vec::new();
    for (i, p) in spec.ports.iter().enumerate() {
        let mapping = port(task, i, p)?;
        if p.mode == PortMode::Host {
            host.push(mapping);
        }
    }
    Ok(host)
}

/// Port `i` of the task's spec as the engine publishes it; refused when it cannot be.
pub(crate) fn port(
    task: &DesiredTask,
    i: usize,
    p: &PortSpec,
) -> Result<PortMapping, TranslateError> {
    let refuse = |f: &str, reason: &str| TranslateError::Unsupported {
        task: task.id.clone(),
        field: format!("ports[{i}].{f}"),
        reason: reason.to_owned(),
    };
    let protocol = match p.protocol {
        ApiProtocol::Tcp => Protocol::Tcp,
        ApiProtocol::Udp => Protocol::Udp,
        ApiProtocol::Sctp => return Err(refuse("protocol", "only tcp and udp are published")),
    };
    let host_ip = match p.host_ip {
        None => None,
        Some(IpAddr::V4(a)) => Some(a),
        Some(IpAddr::V6(_)) => {
            return Err(refuse("host_ip", "only IPv4 node addresses are supported"))
        }
    };
    let host_port = p.published.ok_or_else(|| {
        refuse(
            "published",
            "no node port was chosen for it; give `published` a port number",
        )
    })?;
    Ok(PortMapping {
        host_ip,
        host_port,
        container_port: p.target,
        protocol,
    })
}

/// Fields the container runs without, each reported once per translation.
fn ignored_fields(spec: &ServiceSpec, notes: &mut Vec<Note>) {
    let mut note = |field: &str, message: &str| {
        notes.push(Note {
            field: field.to_owned(),
            message: message.to_owned(),
        })
    };
    if spec.init {
        note("init", "ignored: the engine runs the command as PID 1");
    }
    if spec.tty {
        note("tty", "ignored: containers get no terminal");
    }
    if spec.stdin_open {
        note("stdin_open", "ignored: standard input is closed");
    }
    for name in spec.ulimits.keys() {
        note(
            &format!("ulimits.{name}"),
            "ignored: the engine's limits apply",
        );
    }
    for name in spec.sysctls.keys() {
        note(&format!("sysctls.{name}"), "ignored: not set");
    }
    if !spec.extra_hosts.is_empty() {
        note("extra_hosts", "ignored: not written to /etc/hosts");
    }
    if !spec.dns.is_empty() || !spec.dns_search.is_empty() {
        note("dns", "ignored: the node's resolvers are used");
    }
    if let Some(platform) = &spec.platform {
        note("platform", &format!("ignored: {platform} is not checked"));
    }
    for (name, net) in &spec.networks {
        if !net.aliases.is_empty() || net.ipv4_address.is_some() {
            note(
                &format!("networks.{name}"),
                "aliases and fixed addresses are ignored: the container gets an address of \
                 the node's subnet",
            );
        }
    }
    if let Some(hc) = &spec.healthcheck {
        if hc.test == HealthTest::Inherit {
            note(
                "healthcheck.test",
                "the image's own healthcheck is not run: give a test",
            );
        }
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
