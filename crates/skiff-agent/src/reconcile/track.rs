//! What the reconciler remembers of one task, besides what the engine knows.

use std::time::Instant;

use skiff_proto::agent::TaskStatus;

use super::engine::ContainerView;
use crate::desired::DesiredTask;
use crate::health::{HealthRule, HealthState};
use crate::restart::RestartState;

/// Where a task is in its life on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Being created, or its container runs.
    Running,
    /// Its container ended; it is started again at `at` (a dead one is replaced).
    RestartAt {
        /// When.
        at: Instant,
        /// Whether its shim died: the container is replaced, not started again.
        dead: bool,
    },
    /// Over here: complete, failed or shut down. Nothing more is done for it.
    Over,
}

/// One task, as the reconciler follows it.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The task as last desired.
    pub desired: DesiredTask,
    /// Its container, once known.
    pub container: Option<String>,
    /// Its phase.
    pub phase: Phase,
    /// Its restart history.
    pub restart: RestartState,
    /// Restarts so far (the control plane's count when first seen, then ours).
    pub restart_count: u32,
    /// When its container's current run started (or was adopted).
    pub started: Option<Instant>,
    /// Its health, while its container runs with a healthcheck.
    pub health: Option<HealthState>,
    /// Whether a healthcheck is running.
    pub checking: bool,
    /// Counts the runs of its container (a restart in place keeps the container id), so
    /// that a check of an earlier run is not counted in this one.
    pub run: u64,
    /// Set when it was stopped for being unhealthy: the check's last word.
    pub unhealthy: Option<String>,
    /// What the spec asks that the container runs without, for the status message.
    pub notes: String,
    /// The last status reported.
    pub status: TaskStatus,
}

impl Tracked {
    /// A task seen for the first time.
    pub fn new(d: &DesiredTask) -> Self {
        Tracked {
            desired: d.clone(),
            container: None,
            phase: Phase::Running,
            restart: RestartState::new(d.spec.deploy.restart_policy),
            restart_count: d.restart_count,
            started: None,
            health: None,
            checking: false,
            run: 0,
            unhealthy: None,
            notes: String::new(),
            status: TaskStatus {
                task_id: d.id.clone(),
                state: d.observed as i32,
                restart_count: d.restart_count,
                ..TaskStatus::default()
            },
        }
    }

    /// Its container (`view`) runs from `now`: health starts over.
    pub fn run_started(&mut self, view: &ContainerView, now: Instant) {
        self.container = Some(view.id.clone());
        self.phase = Phase::Running;
        self.started = Some(now);
        self.checking = false;
        self.run += 1;
        self.health = self
            .desired
            .spec
            .healthcheck
            .as_ref()
            .and_then(HealthRule::from_spec)
            .map(|rule| HealthState::new(rule, now));
    }
}
