//! Nodes: the machines agents run on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skiff_api::{ByteSize, Cpus};

use super::{Name, Timestamp};

/// A machine in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Its id, as in `/nodes/{id}`; fixed when the node registers.
    pub id: Name,
    /// Its host name, for people.
    pub name: String,
    /// Where its agent can be reached (`host:port`).
    pub address: String,
    /// Labels placement constraints and environment node selectors match against.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// What the machine has.
    pub capacity: NodeResources,
    /// What tasks may reserve (capacity minus what the system keeps).
    pub allocatable: NodeResources,
    /// Whether the scheduler may place tasks on it.
    pub availability: Availability,
    /// Whether its agent is alive, as the node monitor judges.
    pub status: NodeStatus,
    /// The subnet its containers get addresses from (CIDR notation), once allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    /// The last heartbeat written to the state, as stamped by the server that received it.
    /// Heartbeats live in the servers' memory; this changes only with a status write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<Timestamp>,
}

/// CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeResources {
    /// CPUs.
    pub cpus: Cpus,
    /// Memory.
    pub memory: ByteSize,
}

/// What an operator allows on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// New tasks may be placed.
    Active,
    /// No new tasks; the running ones stay.
    Pause,
    /// No tasks: the running ones are moved elsewhere.
    Drain,
}

/// Whether a node is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Its agent sends heartbeats.
    Ready,
    /// Its agent missed the grace period.
    Down,
}
