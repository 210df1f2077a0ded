//! Tasks: one instance of a service on one node.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Name;

/// A point in time as given by the caller: milliseconds since the Unix epoch. The state machine
/// never reads a clock; whoever proposes a command stamps it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

/// One instance of a service on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Its id, as in `/tasks/{id}`; chosen by the orchestrator.
    pub id: Name,
    /// Its service's environment.
    pub env: Name,
    /// Its service's app.
    pub app: Name,
    /// Its service.
    pub service: Name,
    /// Which replica of the service it is. Fixed for the task's life.
    pub slot: Slot,
    /// The service spec revision it runs.
    pub spec_revision: u64,
    /// What the control plane wants of it; written by the control plane only.
    pub desired: DesiredState,
    /// The node it is assigned to, once the scheduler has placed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Name>,
    /// What the agent last reported; written by the agent only (and the node monitor's orphaning).
    pub observed: TaskState,
    /// A human-readable note on the observed state (an error, why it was orphaned, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The engine's container id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The container's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The exit code of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// How many times the agent restarted it in place.
    #[serde(default)]
    pub restart_count: u32,
    /// The healthcheck's verdict.
    #[serde(default)]
    pub health: Health,
    /// When the task was created.
    pub created_at: Timestamp,
    /// When the task last changed.
    pub updated_at: Timestamp,
}

/// A task's place among its service's tasks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// Replica number `n` (from 1) of a replicated service.
    Replica(u32),
    /// The instance of a global service on this node.
    Node(Name),
}

/// What the control plane wants of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredState {
    /// Run it.
    Running,
    /// Stop it and keep its record.
    Shutdown,
    /// Stop it; the record can then be deleted.
    Remove,
}

/// What a task is doing, as observed. States only move forward, in the order listed; the last
/// four are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Created, not yet placed.
    Pending,
    /// Placed on a node, not yet seen by its agent.
    Assigned,
    /// The agent is pulling the image and preparing the container.
    Preparing,
    /// The container is starting.
    Starting,
    /// The container runs.
    Running,
    /// It exited with code 0 and will not be restarted.
    Complete,
    /// It failed and will not be restarted.
    Failed,
    /// It was stopped on purpose.
    Shutdown,
    /// Its node went down; the orchestrator replaces it elsewhere.
    Orphaned,
}

impl TaskState {
    /// Its position in the forward order; all terminal states share the last one.
    pub fn rank(self) -> u8 {
        match self {
            TaskState::Pending => 0,
            TaskState::Assigned => 1,
            TaskState::Preparing => 2,
            TaskState::Starting => 3,
            TaskState::Running => 4,
            TaskState::Complete | TaskState::Failed | TaskState::Shutdown | TaskState::Orphaned => {
                5
            }
        }
    }

    /// Whether the task is over.
    pub fn is_terminal(self) -> bool {
        self.rank() == 5
    }

    /// Whether a task may go from `self` to `next`. Forward moves (or staying) are allowed;
    /// a terminal state is final; the one way back is an in-place restart, from `starting` or
    /// `running` back to `preparing` or `starting`, which must come with a higher
    /// `restart_count` (`restarted`).
    pub fn may_become(self, next: TaskState, restarted: bool) -> bool {
        if self.is_terminal() {
            return self == next;
        }
        if next.rank() >= self.rank() {
            return true;
        }
        restarted
            && matches!(self, TaskState::Starting | TaskState::Running)
            && matches!(next, TaskState::Preparing | TaskState::Starting)
    }
}

/// A healthcheck's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// No healthcheck, or none has run yet.
    #[default]
    Unknown,
    /// Within the start period.
    Starting,
    /// The last checks passed.
    Healthy,
    /// Too many checks failed in a row.
    Unhealthy,
}
