//! A service's rollout: how far the change of its spec has come, written by the orchestrator
//! (and, when an operator asks for a rollback, by the API's rollback plan) on the service object,
//! as Swarm's `UpdateStatus` is.

use serde::{Deserialize, Serialize};

use super::{Name, Slot, Timestamp};

/// Where a service's latest rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Replacing tasks of the old spec, batch by batch, per `update_config`.
    Updating,
    /// Stopped after too many failures (`failure_action: pause`): what runs keeps running,
    /// no further task is replaced until a new spec is applied or the service is rolled back.
    Paused,
    /// Every task runs the new spec and the last batch's monitor window passed.
    Completed,
    /// Going back to the previous spec, per `rollback_config`.
    RollbackStarted,
    /// The rollback itself failed too often and stopped (its `failure_action: pause`).
    RollbackPaused,
    /// Every task runs the restored spec.
    RollbackCompleted,
}

impl RolloutState {
    /// Whether the orchestrator is still replacing tasks.
    pub fn is_active(self) -> bool {
        matches!(self, RolloutState::Updating | RolloutState::RollbackStarted)
    }

    /// Whether this is the way back.
    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            RolloutState::RollbackStarted
                | RolloutState::RollbackPaused
                | RolloutState::RollbackCompleted
        )
    }

    /// The state's name, as in the API (`rollback_started`).
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Updating => "updating",
            RolloutState::Paused => "paused",
            RolloutState::Completed => "completed",
            RolloutState::RollbackStarted => "rollback_started",
            RolloutState::RollbackPaused => "rollback_paused",
            RolloutState::RollbackCompleted => "rollback_completed",
        }
    }
}

/// The progress of the change of a service's spec from one revision to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Where it stands.
    pub state: RolloutState,
    /// The spec revision the service's tasks ran before (for a rollback: the revision rolled
    /// back from).
    pub from_revision: u64,
    /// The spec revision rolled out (for a rollback: the new revision that restores an earlier
    /// spec).
    pub to_revision: u64,
    /// For a rollback: the revision whose spec it restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores_revision: Option<u64>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it completed (or paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// What happened last, for people (`task 1a2b (slot 3) failed: exit code 1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Slots given a task of the new spec so far.
    #[serde(default)]
    pub updated: u32,
    /// New tasks that failed within their monitor window.
    #[serde(default)]
    pub failures: u32,
    /// The slots being updated or watched: started and not yet ready, or ready and still
    /// within their monitor window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watching: Vec<Watched>,
    /// The next batch starts no earlier than this (`delay` after the last one was ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_batch_at: Option<Timestamp>,
}

/// One slot of a rollout being updated or watched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watched {
    /// The slot.
    pub slot: Slot,
    /// The task of the new spec that was made for it.
    pub task: Name,
    /// When that task was made.
    pub since: Timestamp,
    /// When it was first seen ready (running and, with a healthcheck, healthy); its monitor
    /// window runs from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Timestamp>,
}

impl Rollout {
    /// A rollout that starts at `now`, from one revision to another.
    pub fn start(
        state: RolloutState,
        from_revision: u64,
        to_revision: u64,
        now: Timestamp,
    ) -> Self {
        Self {
            state,
            from_revision,
            to_revision,
            restores_revision: None,
            started_at: now,
            completed_at: None,
            message: String::new(),
            updated: 0,
            failures: 0,
            watching: Vec::new(),
            next_batch_at: None,
        }
    }
}
