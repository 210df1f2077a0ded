//! [`ContainerConfig`]: what the engine is asked to run — the engine's own type, independent
//! of compose files and tasks (the agent and the CLI translate into it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything a container is created from, besides its image's own config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerConfig {
    /// A unique name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`); generated when absent.
    pub name: Option<String>,
    /// The image: a reference (`busybox`, `127.0.0.1:5000/app:v1`), `name@sha256:…` or an id.
    pub image: String,
    /// Replaces the image's Entrypoint (and then its Cmd is not used), as `docker run
    /// --entrypoint`. `Some(vec![])` clears it.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's Cmd.
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE` entries added to (and overriding) the image's Env.
    pub env: Vec<String>,
    /// Working directory; the image's WorkingDir, else `/`.
    pub workdir: Option<String>,
    /// `uid[:gid]` or `name[:group]` (looked up in the image's /etc/passwd and /etc/group);
    /// the image's User, else root.
    pub user: Option<String>,
    /// Host name; the first 12 characters of the id when absent.
    pub hostname: Option<String>,
    /// Volumes, bind mounts and tmpfs mounts.
    pub mounts: Vec<MountConfig>,
    /// Mount the root filesystem read-only.
    pub read_only: bool,
    /// Resource limits.
    pub resources: Resources,
    /// Capabilities added to Docker's default set (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities removed from it.
    pub cap_drop: Vec<String>,
    /// The signal `stop` sends first (`SIGTERM` unless the image says otherwise).
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (10 unless given).
    pub stop_timeout: Option<u64>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Network mode.
    pub network: NetworkMode,
    /// Ports published on the node (bridge network only).
    pub ports: Vec<PortMapping>,
    /// Log rotation.
    pub log: LogConfig,
    /// Remove the container when it exits (`--rm`).
    pub auto_remove: bool,
    /// The OCI runtime for this container (`runc`, a path); the engine's default when absent.
    pub runtime: Option<String>,
    /// Secrets and configs to put in it as files, on a tmpfs (see [`super::files`]). Held in
    /// memory only: never serialized, so the container's record on disk never holds them.
    #[serde(skip)]
    pub files: Vec<super::files::ContainerFile>,
}

/// One mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum MountConfig {
    /// A named volume under the data directory, created on first use, kept until removed.
    Volume {
        /// Volume name.
        name: String,
        /// Path in the container.
        target: String,
        /// Read-only.
        #[serde(default)]
        read_only: bool,
    },
    /// A host path.
    Bind {
        /// Absolute host path; must exist.
        source: PathBuf,
        /// Path in the container.
        target: String,
        /// Read-only.
        #[serde(default)]
        read_only: bool,
    },
    /// A tmpfs.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// Size limit in bytes.
        #[serde(default)]
        size: Option<u64>,
        /// Mode of the mount's root (1777 when absent, as Docker).
        #[serde(default)]
        mode: Option<u32>,
    },
}

/// Resource limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// Memory reservation (soft limit) in bytes.
    pub memory_reservation: Option<u64>,
    /// CPU limit in thousandths of a CPU (1500 = 1.5 CPUs).
    pub millicpus: Option<u64>,
    /// Most processes (pids) in the container.
    pub pids: Option<i64>,
}

/// How the container is networked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Its own network namespace with only loopback.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// Its own network namespace plugged into the node's bridge, with an address from the
    /// node subnet.
    Bridge,
}

/// A port published on the node: traffic to `host_ip:host_port` (any local address when
/// `host_ip` is absent) goes to the container's `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    /// The node address it is published on; every local address when absent.
    #[serde(default)]
    pub host_ip: Option<std::net::Ipv4Addr>,
    /// The node's port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// TCP or UDP.
    #[serde(default)]
    pub protocol: Protocol,
}

/// A transport protocol.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// Log rotation: the current file is rotated when it reaches `max_size`; `max_files` files
/// (the current one included) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Bytes per file.
    pub max_size: u64,
    /// Files kept, at least 1.
    pub max_files: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_size: 10 << 20,
            max_files: 3,
        }
    }
}
