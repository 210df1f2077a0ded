//! The leader-only control loops: the orchestrator (which also gives services their virtual
//! IPs), the scheduler and the node monitor.
//!
//! [`Controllers::spawn`] follows this server's Raft metrics; while it leads, three loops run,
//! each reading the local state, deciding with `skiff-core` (`orchestrate::reconcile`,
//! `schedule::schedule`, `orchestrate::monitor`) and proposing what it decided as
//! transactions whose expectations make a concurrent change conflict (the loop then reads
//! again). When the server stops leading, the loops are stopped. docs/orchestration.md
//! describes them.

mod leader;
mod node_monitor;
mod orchestrator;
mod propose;
mod scheduler;
mod service_cidr;
mod wake;

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::control::ControlPlane;
use crate::heartbeats::Heartbeats;
pub use service_cidr::{ServiceCidr, ServiceCidrError};

/// How long an agent may stay silent before its node is marked down, unless configured.
pub const DEFAULT_NODE_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// How the loops are tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerConfig {
    /// How long an agent may stay silent before its node is marked down.
    pub node_grace_period: Duration,
    /// Where services' virtual IPs come from.
    pub service_cidr: ServiceCidr,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            node_grace_period: DEFAULT_NODE_GRACE_PERIOD,
            service_cidr: ServiceCidr::default(),
        }
    }
}

/// The leader-only loops of one server, not yet started.
#[derive(Debug, Clone)]
pub struct Controllers {
    control: ControlPlane,
    heartbeats: Heartbeats,
    config: ControllerConfig,
}

/// The running leadership watcher; dropping it (or [`ControllersHandle::stop`]) stops the
/// loops.
#[derive(Debug)]
pub struct ControllersHandle {
    task: JoinHandle<()>,
}

impl Controllers {
    /// The loops of the server `control` is the member of, reading agents' heartbeats from
    /// `heartbeats` (the table the agent sessions fill).
    pub fn new(control: ControlPlane, heartbeats: Heartbeats, config: ControllerConfig) -> Self {
        Self {
            control,
            heartbeats,
            config,
        }
    }

    /// Starts following leadership: the loops run while this server leads.
    pub fn spawn(self) -> ControllersHandle {
        ControllersHandle {
            task: tokio::spawn(leader::follow(self)),
        }
    }
}

impl ControllersHandle {
    /// Stops the loops.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ControllersHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
