//! The network state file, `<data>/network/state.json`, and its lock: the address table, the
//! published ports, the service ports and how Skiff's table is set up (see the module
//! documentation of [`super`] for why it is not synced).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ipam::Ipam;
use super::isolation::Isolation;
use super::ports::{self, PublishedPort, Table};
use super::service::ServicePort;
use super::vip::ServiceVip;
use super::NetworkError;
use crate::container::record::{read_json, ContainerRecord, Paths};
use crate::container::PortMapping;
use crate::fsutil::{read_limited, write_replace, FileLock};

/// Largest state file read.
const MAX_STATE: u64 = 16 << 20;

/// What is kept in `<data>/network/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct State {
    pub(super) ipam: Ipam,
    /// The ports published on the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) ports: Vec<PublishedPort>,
    /// The service ports of the node (node-local ingress), as last set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) service_ports: Vec<ServicePort>,
    /// The service virtual IPs of the node, as last set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) vips: Vec<ServiceVip>,
    /// The isolation between containers, as last set (normalized).
    #[serde(default, skip_serializing_if = "Isolation::is_empty")]
    pub(super) isolation: Isolation,
    /// Skiff's nftables table as last set up; none when the node needs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) table: Option<Table>,
    /// The boot whose container records the allocations were last checked against; another
    /// (or none: a new or torn file) means they are checked again before the next allocation.
    #[serde(default)]
    pub(super) boot_id: String,
}

impl State {
    /// A state with nothing allocated or published, over `ipam`.
    pub(super) fn new(ipam: Ipam) -> Self {
        Self {
            ipam,
            ports: Vec::new(),
            service_ports: Vec::new(),
            vips: Vec::new(),
            isolation: Isolation::default(),
            table: None,
            boot_id: String::new(),
        }
    }

    /// Makes the allocations and published ports agree with the containers under
    /// `containers` if they were not checked in this boot (`boot`): those of removed
    /// containers go, and each record's address and ports are taken for it.
    pub(super) fn check_against_records(&mut self, containers: &Path, boot: &str) {
        if self.boot_id == boot {
            return;
        }
        let is_live = |owner: &str| containers.join(owner).is_dir();
        let records = recorded_attachments(containers);
        self.ipam
            .reconcile(is_live, records.iter().map(|r| (r.id.clone(), r.ip)));
        ports::prune(&mut self.ports, is_live);
        for r in &records {
            if !r.ports.is_empty() && !self.ports.iter().any(|p| p.owner == r.id) {
                self.ports.extend(r.ports.iter().map(|m| PublishedPort {
                    owner: r.id.clone(),
                    name: r.name.clone(),
                    mapping: *m,
                    container_ip: r.ip,
                }));
            }
        }
        self.boot_id = boot.to_string();
    }
}

/// What a container's record says it holds on the node network.
struct Recorded {
    id: String,
    name: String,
    ip: Ipv4Addr,
    ports: Vec<PortMapping>,
}

/// The addresses and ports the records of the containers under `containers` hold.
fn recorded_attachments(containers: &Path) -> Vec<Recorded> {
    let Ok(entries) = std::fs::read_dir(containers) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| !id.starts_with('.'))
        .filter_map(|id| {
            let record: ContainerRecord = read_json(&Paths::new(containers, &id).record())
                .ok()
                .flatten()?;
            let ip = record.network?.ip;
            Some(Recorded {
                id: record.id,
                name: record.name,
                ip,
                ports: record.config.ports,
            })
        })
        .collect()
}

/// The node network's state files under the data directory, used under its lock.
pub(super) struct Store {
    pub(super) dir: PathBuf,
}

impl Store {
    pub(super) fn new(data_dir: &Path) -> Store {
        Store {
            dir: data_dir.join("network"),
        }
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub(super) fn lock(&self) -> Result<FileLock, NetworkError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.error(&self.dir, e))?;
        let path = self.dir.join(".lock");
        FileLock::exclusive(&path).map_err(|e| self.error(&path, e))
    }

    /// The state; `None` when there is none, or when a power failure left the file torn
    /// (it is not synced): the allocations are then taken from the records again.
    pub(super) fn load(&self) -> Result<Option<State>, NetworkError> {
        let path = self.path();
        match read_limited(&path, MAX_STATE) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    pub(super) fn save(&self, state: &State) -> Result<(), NetworkError> {
        let path = self.path();
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| self.error(&path, e))?;
        write_replace(&path, &bytes).map_err(|e| self.error(&path, e))
    }

    fn error(&self, path: &Path, e: impl std::fmt::Display) -> NetworkError {
        NetworkError::State {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
