//! The normalized application: what `skiff-manifest` makes of compose files and what the control
//! plane stores. Every short form of the Compose format has been expanded, every default filled
//! in and every reference checked, so consumers never see the many spellings of the YAML.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, Cpus, Duration};

/// One application (a compose project) in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The application's name (the compose project name): a DNS label.
    pub name: String,
    /// The environment it is applied to (`dev`, `qa`, `prod`, …): a DNS label.
    pub environment: String,
    /// Its services, by name.
    pub services: BTreeMap<String, ServiceSpec>,
    /// The networks its services attach to, by the name used in the file.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkSpec>,
    /// Its named volumes, by the name used in the file.
    #[serde(default)]
    pub volumes: BTreeMap<String, VolumeSpec>,
    /// Its secrets, by the name used in the file.
    #[serde(default)]
    pub secrets: BTreeMap<String, PayloadSpec>,
    /// Its configs, by the name used in the file.
    #[serde(default)]
    pub configs: BTreeMap<String, PayloadSpec>,
}

/// The desired state of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Image reference, as written (normalized by the engine when it pulls).
    pub image: String,
    /// Replaces the image's entrypoint when set (an empty list clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables added to the image's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Published ports, one entry per port (ranges are expanded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    /// Ports reachable from other containers, not published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<ExposedPort>,
    /// Volumes, bind mounts and tmpfs mounts, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountSpec>,
    /// The networks the service attaches to (at least one), by the app's network names.
    pub networks: BTreeMap<String, ServiceNetwork>,
    /// The container's hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `user[:group]`, names or ids, as in the image config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The process's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Container labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Health check; `None` keeps the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// A fixed container name (only allowed with one replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `os/arch[/variant]` the image must be for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Services that must be up before this one starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    /// Capabilities added to the default set (upper case, without `CAP_`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities dropped from the default set (`ALL` drops all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Resource limits (`nofile`, `nproc`, …), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// Namespaced kernel parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// The signal that asks the container to stop (`SIGTERM` unless set).
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    /// How long to wait after the stop signal before SIGKILL.
    #[serde(default = "default_stop_grace_period")]
    pub stop_grace_period: Duration,
    /// Secrets delivered as files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileGrant>,
    /// Configs delivered as files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileGrant>,
    /// Run an init process as PID 1 that forwards signals and reaps zombies.
    #[serde(default, skip_serializing_if = "is_false")]
    pub init: bool,
    /// Allocate a terminal.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    /// Keep stdin open.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    /// Extra `/etc/hosts` entries: host name → address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_hosts: BTreeMap<String, IpAddr>,
    /// Resolvers for the container's `/etc/resolv.conf` instead of the node's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
    /// Search domains for the container's `/etc/resolv.conf`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// How the cluster runs it: replicas, resources, restart, placement, updates.
    pub deploy: Deploy,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The stop signal of a service that names none.
pub const DEFAULT_STOP_SIGNAL: &str = "SIGTERM";

/// The stop grace period of a service that names none.
pub const DEFAULT_STOP_GRACE_PERIOD: Duration = Duration::from_secs(10);

fn default_stop_signal() -> String {
    DEFAULT_STOP_SIGNAL.to_owned()
}

fn default_stop_grace_period() -> Duration {
    DEFAULT_STOP_GRACE_PERIOD
}

/// How the cluster runs a service (Compose's `deploy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// Replicated (N tasks) or global (one per eligible node).
    pub mode: ServiceMode,
    /// Limits and reservations.
    #[serde(default)]
    pub resources: Resources,
    /// When a task's container is restarted in place.
    pub restart_policy: RestartPolicy,
    /// Where tasks may go.
    #[serde(default)]
    pub placement: Placement,
    /// How a changed spec rolls out.
    pub update_config: UpdateConfig,
    /// How a failed rollout rolls back.
    pub rollback_config: UpdateConfig,
    /// Virtual IP load balancing or DNS round-robin.
    #[serde(default)]
    pub endpoint_mode: EndpointMode,
    /// Labels on the service (not its containers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Default for Deploy {
    /// One replica with Swarm's defaults for restarts, updates and rollbacks.
    fn default() -> Self {
        Self {
            mode: ServiceMode::Replicated { replicas: 1 },
            resources: Resources::default(),
            restart_policy: RestartPolicy::default(),
            placement: Placement::default(),
            update_config: UpdateConfig::default_update(),
            rollback_config: UpdateConfig::default_rollback(),
            endpoint_mode: EndpointMode::default(),
            labels: BTreeMap::new(),
        }
    }
}

/// Replicated or global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceMode {
    /// A fixed number of tasks.
    Replicated {
        /// How many.
        replicas: u32,
    },
    /// One task on every eligible node.
    Global,
}

/// CPU, memory and process limits and reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Hard limits enforced by cgroups.
    #[serde(default)]
    pub limits: ResourceLimits,
    /// What the scheduler sets aside on a node for each task.
    #[serde(default)]
    pub reservations: ResourceReservations,
}

/// Hard limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimits {
    /// CPU time, in CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Number of processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

/// Reservations, used by the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceReservations {
    /// CPUs set aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Memory set aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
}

/// When a task's container is restarted in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// Which exits lead to a restart.
    pub condition: RestartCondition,
    /// Wait before a restart (the base of the back-off).
    pub delay: Duration,
    /// Restarts allowed within `window` (or ever, without a window); `None` is unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The sliding window over which `max_attempts` is counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

impl Default for RestartPolicy {
    /// Swarm's default: restart on any exit after 5 s, without limit.
    fn default() -> Self {
        Self {
            condition: RestartCondition::Any,
            delay: Duration::from_secs(5),
            max_attempts: None,
            window: None,
        }
    }
}

/// Which exits lead to a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    /// Never restart.
    None,
    /// Restart after a non-zero exit.
    OnFailure,
    /// Restart after any exit.
    Any,
}

/// Where a service's tasks may be placed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// All must hold for a node to be eligible.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Spread tasks evenly over the values of these node attributes, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<SpreadPreference>,
    /// At most this many tasks of the service on one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u32>,
}

/// `node.labels.zone == east`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// The node attribute: `node.id`, `node.hostname`, `node.role`, `node.platform.os`,
    /// `node.platform.arch` or `node.labels.<name>`.
    pub attribute: String,
    /// Equal or not equal.
    pub operator: ConstraintOp,
    /// The value compared with.
    pub value: String,
}

/// The comparison of a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstraintOp {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

/// `spread: node.labels.zone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadPreference {
    /// The node attribute whose values tasks are spread over.
    pub spread: String,
}

/// How a rollout (or a rollback) proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Tasks replaced at once; 0 replaces all at once.
    pub parallelism: u32,
    /// Wait between batches.
    pub delay: Duration,
    /// Stop the old task first, or start the new one first.
    pub order: UpdateOrder,
    /// What to do when a batch fails.
    pub failure_action: FailureAction,
    /// How long each new task is watched for failure.
    pub monitor: Duration,
    /// Fraction of tasks (0 to 1) that may fail before `failure_action` applies.
    pub max_failure_ratio: f64,
}

impl UpdateConfig {
    /// Swarm's default for updates: one at a time, stop first, pause on failure, 5 s monitor.
    pub fn default_update() -> Self {
        Self {
            parallelism: 1,
            delay: Duration::default(),
            order: UpdateOrder::StopFirst,
            failure_action: FailureAction::Pause,
            monitor: Duration::from_secs(5),
            max_failure_ratio: 0.0,
        }
    }

    /// Swarm's default for rollbacks: the same as updates.
    pub fn default_rollback() -> Self {
        Self::default_update()
    }
}

/// Stop-first or start-first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Stop the old task, then start its replacement.
    StopFirst,
    /// Start the replacement, then stop the old task.
    StartFirst,
}

/// What a failing rollout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureAction {
    /// Stop rolling out and wait for the operator.
    Pause,
    /// Go on with the next batch.
    Continue,
    /// Roll back to the previous spec (updates only).
    Rollback,
}

/// How clients reach a service's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointMode {
    /// A virtual IP balanced over the healthy tasks.
    #[default]
    Vip,
    /// DNS answers with the tasks' own addresses, round-robin.
    Dnsrr,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// The container's port.
    pub target: u16,
    /// The port on the nodes; `None` lets the cluster pick one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u16>,
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// Only on this node address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    /// Published on every node (ingress) or only where a task runs (host).
    pub mode: PortMode,
    /// A name for the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application protocol (`http`, `grpc`, …), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

/// Where a published port answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortMode {
    /// On every node, balanced over the service's tasks (the routing mesh).
    #[default]
    Ingress,
    /// Only on the nodes where a task runs, straight to that task.
    Host,
}

/// A port exposed to other containers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposedPort {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

/// A mount in a service's containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MountSpec {
    /// A named volume of the app (or an anonymous one, made per container).
    Volume {
        /// The app's volume name; `None` for an anonymous volume.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// Where it appears in the container.
        target: String,
        /// Mounted read-only.
        #[serde(default, skip_serializing_if = "is_false")]
        read_only: bool,
        /// Do not copy the image's content at `target` into a new volume.
        #[serde(default, skip_serializing_if = "is_false")]
        nocopy: bool,
        /// Mount only this sub-directory of the volume.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subpath: Option<String>,
    },
    /// A host path on the node.
    Bind {
        /// The absolute host path.
        source: String,
        /// Where it appears in the container.
        target: String,
        /// Mounted read-only.
        #[serde(default, skip_serializing_if = "is_false")]
        read_only: bool,
        /// Mount propagation (`rprivate` unless set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        propagation: Option<Propagation>,
        /// Create the host path as a directory when it is missing (Compose's default for the
        /// short syntax); otherwise a missing source is an error.
        #[serde(default, skip_serializing_if = "is_false")]
        create_host_path: bool,
    },
    /// A tmpfs.
    Tmpfs {
        /// Where it appears in the container.
        target: String,
        /// Size limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<ByteSize>,
        /// Permission bits of its root directory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
}

impl MountSpec {
    /// Where the mount appears in the container.
    pub fn target(&self) -> &str {
        match self {
            Self::Volume { target, .. }
            | Self::Bind { target, .. }
            | Self::Tmpfs { target, .. } => target,
        }
    }
}

/// Bind mount propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate`
    Rprivate,
    /// `shared`
    Shared,
    /// `rshared`
    Rshared,
    /// `slave`
    Slave,
    /// `rslave`
    Rslave,
}

/// A service's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    /// Extra names the service answers to on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// A fixed address (only sensible with one replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<std::net::Ipv4Addr>,
}

/// Waiting on another service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// What "up" means.
    pub condition: DependencyCondition,
    /// Restart this service when the dependency is updated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    /// When false, a missing or failed dependency only warns.
    pub required: bool,
}

/// What a dependency must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// Its tasks are running.
    ServiceStarted,
    /// Its tasks are healthy.
    ServiceHealthy,
    /// It ran to a zero exit.
    ServiceCompletedSuccessfully,
}

/// A health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// What to run.
    pub test: HealthTest,
    /// Time between checks.
    pub interval: Duration,
    /// A check that takes longer failed.
    pub timeout: Duration,
    /// Consecutive failures that make the container unhealthy.
    pub retries: u32,
    /// Failures during this time after start do not count.
    pub start_period: Duration,
    /// Time between checks during the start period.
    pub start_interval: Duration,
}

/// The command of a health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthTest {
    /// Keep the image's test (only the timings are set here).
    Inherit,
    /// Disable the image's check.
    Disabled,
    /// Run this argv in the container (`CMD`).
    Exec(Vec<String>),
    /// Run this with `/bin/sh -c` in the container (`CMD-SHELL`).
    Shell(String),
}

/// A ulimit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// A secret or config delivered to a container as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    /// The app's secret or config name.
    pub source: String,
    /// The absolute path in the container.
    pub target: String,
    /// File owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// File group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Permission bits (0444 unless set).
    pub mode: u32,
}

/// A network of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// The network's name in the environment: `<app>_<key>` unless set, or the shared network's
    /// name for an external one.
    pub name: String,
    /// Made elsewhere and shared (by name) within the environment; not created by this app.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// No route out of the network.
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    /// Containers outside the app may attach to it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    /// Address ranges requested for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Subnet>,
    /// Network labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A requested address range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    /// CIDR, e.g. `10.20.0.0/24`.
    pub subnet: String,
    /// The gateway address inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// A named volume of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// The volume's name on the nodes: `<app>_<key>` unless set.
    pub name: String,
    /// Made elsewhere; not created or removed by this app.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    /// Volume labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A secret or config of the app: where its payload comes from. The payload itself is not part
/// of the spec; the CLI reads it at apply time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadSpec {
    /// The object's name in the environment: `<app>_<key>` unless set.
    pub name: String,
    /// Where the payload comes from.
    pub source: PayloadSource,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Where a secret's or config's payload comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PayloadSource {
    /// A file on the machine that applies the app (an absolute path).
    File(String),
    /// An environment variable of the process that applies the app.
    Environment(String),
    /// Given inline in the file (configs only).
    Content(String),
    /// Already stored in the environment under `name`.
    External,
}
