//! The orchestrator's plan: task changes as data, and the one transaction they compile to.

use std::fmt;

use crate::objects::{App, Key, Name, Object, Service, Task};
use crate::state::{Command, Expect, Op};

/// What one round of the orchestrator decided: changes to tasks, grouped so that the changes
/// of one slot (a replacement: the new task and the old one's shutdown) stay together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrchestratorPlan {
    /// The groups of changes, in a deterministic order (service by service, slot by slot).
    pub groups: Vec<Vec<Change>>,
}

/// One change to one task, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What is written.
    pub action: Action,
    /// Why.
    pub reason: Reason,
}

/// A write to one task (or, for a rollout, to its service and app).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A new task (the key must be free).
    Create(Task),
    /// The task as it should become (its desired state, or its spec revision), over the
    /// stored one at `revision`.
    Update {
        /// The task after the change.
        task: Task,
        /// The revision it was read at.
        revision: u64,
    },
    /// The service as it should become (its rollout status, and for a rollback its restored
    /// spec), over the stored one at `revision`.
    Service {
        /// The service after the change.
        service: Box<Service>,
        /// The revision it was read at.
        revision: u64,
    },
    /// The app with a new revision that restores a service's earlier spec (a rollback), over
    /// the stored one at `revision`.
    App {
        /// The app after the change.
        app: Box<App>,
        /// The revision it was read at.
        revision: u64,
    },
    /// The task's record goes, if still at `revision`.
    Delete {
        /// Its id.
        id: Name,
        /// The revision it was read at.
        revision: u64,
    },
}

/// Why the orchestrator changes a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A slot of the service has no task wanted running: a new service, a scale-up, or a
    /// global service's new eligible node.
    MissingSlot,
    /// The slot is beyond the replica count (scale down).
    ScaledDown,
    /// A global service's task on a node that is no longer eligible (down, drained,
    /// relabelled; a paused node keeps its task), or on a node that no longer exists.
    NodeIneligible,
    /// The task's slot does not fit the service's mode (it changed between replicated and
    /// global).
    WrongMode,
    /// The service no longer exists.
    ServiceRemoved,
    /// The task runs an older spec of its service that differs in what its container runs.
    Outdated,
    /// The task runs an older spec that differs only in what does not reach its container
    /// (replica count, update and rollback settings, service labels): it is re-stamped in
    /// place, not restarted.
    Restamped,
    /// The task is over (failed, or complete under `restart: any`, or stopped without being
    /// asked) while wanted running.
    Exited,
    /// The task's node went down (the node monitor orphaned it).
    NodeDown,
    /// The task's node is drained, or no longer exists.
    NodeDrained,
    /// More than one task of the slot is wanted running; all but the newest stop.
    Duplicate,
    /// A task of an older spec whose successor in the slot is ready (start-first), or that a
    /// rollback's restored task takes over from.
    Superseded,
    /// The service's rollout moved on (its status on the service object).
    Rollout,
    /// The service's rollout failed and rolls back: a new app revision restores the earlier
    /// spec.
    Rollback,
    /// A stopped task beyond the slot's history limit, or one wanted removed that is over or
    /// never ran anywhere.
    Cleanup,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::MissingSlot => "missing slot",
            Reason::ScaledDown => "scaled down",
            Reason::NodeIneligible => "node no longer eligible",
            Reason::WrongMode => "service mode changed",
            Reason::ServiceRemoved => "service removed",
            Reason::Outdated => "spec changed",
            Reason::Restamped => "spec changed outside the container",
            Reason::Exited => "task exited",
            Reason::NodeDown => "node down",
            Reason::NodeDrained => "node drained",
            Reason::Duplicate => "duplicate in slot",
            Reason::Superseded => "successor ready",
            Reason::Rollout => "rollout progress",
            Reason::Rollback => "rollback",
            Reason::Cleanup => "history cleanup",
        })
    }
}

impl Change {
    fn op(self) -> Op {
        match self.action {
            Action::Create(task) => Op::put(Object::Task(task), Expect::Absent),
            Action::Update { task, revision } => {
                Op::put(Object::Task(task), Expect::Revision(revision))
            }
            Action::Service { service, revision } => {
                Op::put(Object::Service(service), Expect::Revision(revision))
            }
            Action::App { app, revision } => Op::put(Object::App(*app), Expect::Revision(revision)),
            Action::Delete { id, revision } => Op::Delete {
                key: Key::Task { id },
                expect: Expect::Revision(revision),
            },
        }
    }
}

impl OrchestratorPlan {
    /// Whether the round changes nothing.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(Vec::is_empty)
    }

    /// Every change, in order.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.groups.iter().flatten()
    }

    /// How many changes the plan holds.
    pub fn len(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    /// The plan as one transaction: `Absent` expected for every new task, the read revision
    /// for every task changed or deleted, so that a concurrent change (an agent's status
    /// report, an app applied) makes it conflict and the round is computed again.
    pub fn into_command(self) -> Command {
        Command::Txn {
            ops: self.groups.into_iter().flatten().map(Change::op).collect(),
        }
    }

    /// The plan as transactions of at most `max_ops` operations each (a group larger than
    /// that gets one of its own), for rounds too large for one Raft entry. Each transaction
    /// stands alone: its expectations are its own, and a slot's group is never split, so a
    /// replacement is never half-written. An empty plan gives no command.
    pub fn into_commands(self, max_ops: usize) -> Vec<Command> {
        let mut commands = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        for group in self.groups.into_iter().filter(|g| !g.is_empty()) {
            if !ops.is_empty() && ops.len() + group.len() > max_ops {
                commands.push(Command::Txn {
                    ops: std::mem::take(&mut ops),
                });
            }
            ops.extend(group.into_iter().map(Change::op));
        }
        if !ops.is_empty() {
            commands.push(Command::Txn { ops });
        }
        commands
    }
}
