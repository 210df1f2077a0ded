//! Task status from the agents, written through Raft in batches.
//!
//! Sessions queue each node's reports into one [`StatusBatcher`] per server; it gathers what
//! arrives within [`BATCH_WINDOW`] (or [`MAX_BATCH`] reports) and writes it as one
//! transaction, each task with compare-and-swap on the revision it was read at; a conflict
//! re-reads and retries. What is written is decided by [`plan`]: only the observed fields
//! change (never `desired` or `node`), and a report is dropped when its task is gone or not on
//! the reporting node, or when it would move the task backwards (skiff-core's rules: a state
//! only moves forward but for an in-place restart, and the restart count never goes down).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use skiff_core::objects::{Task, Timestamp};
use skiff_core::{Command, Expect, Key, Name, Object, Op, Response, State};
use skiff_proto::agent::{self as proto, TaskStatus};
use tokio::sync::mpsc;

use super::convert;
use crate::control::{Consistency, ControlPlane};

/// How long the batcher gathers reports before it writes them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(25);
/// The most reports one write carries.
pub const MAX_BATCH: usize = 2048;
/// How many times a batch is re-read and retried after a conflict.
const ATTEMPTS: usize = 5;

/// One status change reported by a node's agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The reporting node.
    pub node: Name,
    /// What it reported.
    pub status: TaskStatus,
}

/// Why a report was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    /// No such task (deleted since, or never).
    #[error("task {task}: no such task")]
    NoSuchTask {
        /// The task id as reported.
        task: String,
    },
    /// The task is not assigned to the reporting node.
    #[error("task {task}: not assigned to node {node}")]
    NotAssigned {
        /// The task.
        task: String,
        /// The reporting node.
        node: Name,
    },
    /// An unspecified state, or an IP address that is not one.
    #[error("task {task}: malformed report ({what})")]
    Malformed {
        /// The task.
        task: String,
        /// What is wrong.
        what: &'static str,
    },
    /// The state would move backwards, or the restart count down.
    #[error("task {task}: {from:?} (restarts {from_restarts}) cannot become {to:?} (restarts {to_restarts})")]
    Backward {
        /// The task.
        task: String,
        /// Its state.
        from: skiff_core::objects::TaskState,
        /// Its restart count.
        from_restarts: u32,
        /// The reported state.
        to: skiff_core::objects::TaskState,
        /// The reported restart count.
        to_restarts: u32,
    },
}

/// What a batch of reports writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// One put per changed task, expecting the revision it was read at.
    pub ops: Vec<Op>,
    /// The reports left out, and why.
    pub dropped: Vec<Dropped>,
}

/// `task` after `status`, or why not.
fn advance(task: &Task, node: &Name, status: &TaskStatus) -> Result<Task, Dropped> {
    let id = || status.task_id.clone();
    if task.node.as_ref() != Some(node) {
        return Err(Dropped::NotAssigned {
            task: id(),
            node: node.clone(),
        });
    }
    let to = convert::state_from_proto(status.state()).ok_or(Dropped::Malformed {
        task: id(),
        what: "no state",
    })?;
    let ip = match status.ip.as_str() {
        "" => None,
        text => Some(text.parse::<IpAddr>().map_err(|_| Dropped::Malformed {
            task: id(),
            what: "ip is not an IP address",
        })?),
    };
    let restarted = status.restart_count > task.restart_count;
    if status.restart_count < task.restart_count || !task.observed.may_become(to, restarted) {
        return Err(Dropped::Backward {
            task: id(),
            from: task.observed,
            from_restarts: task.restart_count,
            to,
            to_restarts: status.restart_count,
        });
    }
    let mut next = task.clone();
    next.observed = to;
    next.message = status.message.clone();
    next.container_id = (!status.container_id.is_empty()).then(|| status.container_id.clone());
    next.ip = ip;
    next.exit_code = status.exit_code;
    next.restart_count = status.restart_count;
    next.health = convert::health_from_proto(status.health());
    next.updated_at = Timestamp(status.at_ms).max(task.updated_at);
    Ok(next)
}

/// The writes `reports` (in the order they were made) make to `state`.
pub fn plan(state: &State, reports: &[Report]) -> Plan {
    // Task id → (the task as it will be, the revision read, whether it changed).
    let mut tasks: HashMap<String, (Task, u64, bool)> = HashMap::new();
    let mut order = Vec::new();
    let mut dropped = Vec::new();
    for report in reports {
        let id = &report.status.task_id;
        if !tasks.contains_key(id) {
            let record = Name::new(id.as_str())
                .ok()
                .and_then(|id| state.get(&Key::Task { id }));
            match record.map(|r| (&r.object, r.mod_revision)) {
                Some((Object::Task(task), revision)) => {
                    tasks.insert(id.clone(), (task.clone(), revision, false));
                    order.push(id.clone());
                }
                _ => {
                    dropped.push(Dropped::NoSuchTask { task: id.clone() });
                    continue;
                }
            }
        }
        let (task, _, changed) = tasks.get_mut(id).expect("inserted above");
        match advance(task, &report.node, &report.status) {
            Ok(next) if next != *task => {
                *task = next;
                *changed = true;
            }
            Ok(_) => {}
            Err(why) => dropped.push(why),
        }
    }
    let ops = order
        .into_iter()
        .filter_map(|id| tasks.remove(&id))
        .filter(|(_, _, changed)| *changed)
        .map(|(task, revision, _)| Op::put(Object::Task(task), Expect::Revision(revision)))
        .collect();
    Plan { ops, dropped }
}

/// The queue sessions hand status reports to. Cloning shares it.
#[derive(Debug, Clone)]
pub struct StatusBatcher {
    queue: mpsc::UnboundedSender<Report>,
}

impl StatusBatcher {
    /// Starts the batcher writing through `control`, on the current tokio runtime. It stops
    /// when every clone is dropped.
    pub fn start(control: ControlPlane) -> Self {
        let (queue, reports) = mpsc::unbounded_channel();
        tokio::spawn(run(control, reports));
        Self { queue }
    }

    /// Queues `node`'s reports, in the order they were made.
    pub fn submit(&self, node: &Name, statuses: Vec<proto::TaskStatus>) {
        for status in statuses {
            let _ = self.queue.send(Report {
                node: node.clone(),
                status,
            });
        }
    }
}

async fn run(control: ControlPlane, mut reports: mpsc::UnboundedReceiver<Report>) {
    while let Some(first) = reports.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < MAX_BATCH {
            tokio::select! {
                next = reports.recv() => match next {
                    Some(report) => batch.push(report),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        write(&control, &batch).await;
    }
}

/// Writes a batch; a conflict (another write to one of its tasks came first) re-reads and
/// retries. When this server no longer leads, the batch is dropped: the agent reconnects to
/// the new leader and reports every task's status again.
async fn write(control: &ControlPlane, batch: &[Report]) {
    for _ in 0..ATTEMPTS {
        let Ok(plan) = control
            .read(Consistency::Stale, |state| plan(state, batch))
            .await
        else {
            return;
        };
        if plan.ops.is_empty() {
            return;
        }
        let ops = plan.ops.clone();
        match control.propose(Command::Txn { ops: plan.ops }).await {
            Ok(Response::Conflict { .. }) => continue,
            // The rules above are the state machine's, so this should not happen; if it
            // does, one task's refusal must not cost the others theirs.
            Ok(Response::Invalid { .. }) => {
                for op in ops {
                    let _ = control.propose(Command::Txn { ops: vec![op] }).await;
                }
                return;
            }
            Ok(Response::Ok { .. }) | Err(_) => return,
        }
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
