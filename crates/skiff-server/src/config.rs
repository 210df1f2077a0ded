//! How a server is started: its identity, where it keeps its data and listens, how it enters a
//! cluster, and its Raft timing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_store::NodeId;

use crate::agents::PodCidr;

/// Everything [`crate::Server::start`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The server's Raft id: unique in the cluster, never 0, never reused for another server.
    pub id: NodeId,
    /// Its data directory: the Raft log and state (`raft/`), the bootstrap admin token.
    pub data_dir: PathBuf,
    /// The address its one port listens on: the HTTP API and the Raft gRPC service.
    pub listen: SocketAddr,
    /// The address other servers and clients reach it at (default: `listen`, which must then
    /// not be a wildcard address).
    pub advertise: Option<String>,
    /// How it enters a cluster.
    pub start: Start,
    /// Raft timing and log compaction.
    pub raft: RaftTuning,
    /// The largest request body the API reads (manifests, payloads).
    pub body_limit: usize,
    /// The range nodes' pod subnets (one /24 each) are allocated from when they register.
    pub pod_cidr: PodCidr,
    /// The range services' virtual IPs come from.
    pub service_cidr: crate::ServiceCidr,
    /// How long a node's agent may stay silent before the leader marks the node down and its
    /// tasks orphaned ([`crate::DEFAULT_NODE_GRACE_PERIOD`] by default).
    pub node_grace_period: Duration,
    /// Whether the leader runs the orchestrator, scheduler and node monitor (always, but in
    /// tests of other parts that write tasks themselves, as these loops would).
    pub controllers: bool,
}

/// How a server enters a cluster. A server whose data directory already holds Raft state
/// resumes as the member it was, whatever this says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Start a new one-member cluster and create its admin token.
    Bootstrap,
    /// Ask the cluster at `addr` (any member) to add this server, with an admin `token`.
    Join {
        /// Any member's address.
        addr: String,
        /// An admin token of that cluster.
        token: String,
    },
    /// Start a new one-member cluster (as [`Start::Bootstrap`]) holding the objects of a backup
    /// (`GET /v1/cluster/snapshot`, `skiff cluster backup`).
    Restore {
        /// The backup file.
        backup: PathBuf,
    },
    /// Wait to be added by an operator (`skiff cluster join`), or resume.
    Wait,
}

/// Raft's timing. openraft's followers first wait out the old leader's lease (the longest
/// election timeout), then their own random election timeout, before they stand: with the
/// defaults (100 ms heartbeats, 250–500 ms) a follower stands 0.75–1 s after the last
/// heartbeat, about etcd's default 1 s election timeout. The failover benchmark
/// (`cargo bench -p skiff --bench control_plane_failover`) measures the whole outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTuning {
    /// How often the leader sends heartbeats, in milliseconds.
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for a random time in this range starts an election.
    pub election_timeout_ms: (u64, u64),
    /// A snapshot is built every this many log entries; the log before it is then purged.
    pub snapshot_every: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_timeout_ms: (250, 500),
            snapshot_every: 10_000,
        }
    }
}

impl RaftTuning {
    /// openraft's configuration for this timing.
    pub fn openraft_config(&self) -> Result<Arc<openraft::Config>, Box<openraft::ConfigError>> {
        let config = openraft::Config {
            cluster_name: "skiff".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_timeout_ms.0,
            election_timeout_max: self.election_timeout_ms.1,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: 1000.min(self.snapshot_every),
            ..openraft::Config::default()
        };
        Ok(Arc::new(config.validate().map_err(Box::new)?))
    }
}

/// The default body limit: manifests are small; 4 MiB leaves room for big payloads.
pub const DEFAULT_BODY_LIMIT: usize = 4 << 20;
