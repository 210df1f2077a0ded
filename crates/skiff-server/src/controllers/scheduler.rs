//! The scheduler loop: pending tasks → nodes (`skiff_core::schedule`).
//!
//! A round takes every task wanted running that is pending on no node, asks the scheduler
//! where each goes, and writes the answers: an assigned task gets its node and becomes
//! observed `assigned` (its message cleared); one that cannot be placed stays pending with the
//! reason as its message — written only when the message changes, so an unplaceable task
//! costs no write per round.

use std::time::Duration;

use skiff_core::objects::{DesiredState, Task, TaskState, Timestamp};
use skiff_core::schedule::{schedule, Decision, SchedulingInput};
use skiff_core::{Command, Expect, Kind, Object, Op, State};

use super::propose::{propose, with_retries, Outcome, MAX_OPS};
use super::wake::Wake;
use crate::control::{Consistency, ControlPlane, Unavailable};

/// A round at least this often.
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Runs rounds until aborted.
pub(super) async fn run(control: ControlPlane) {
    let mut wake = Wake::new(&control, TICK);
    loop {
        wake.mark();
        with_retries(|| round(&control)).await;
        wake.wait().await;
    }
}

async fn round(control: &ControlPlane) -> Result<Outcome, Unavailable> {
    let commands = control
        .read(Consistency::Stale, |state| plan(state, crate::api::now()))
        .await?;
    if commands.is_empty() {
        return Ok(Outcome::Applied);
    }
    propose(control, "scheduler", commands).await
}

/// Whether the scheduler should place `task`.
pub(crate) fn is_pending(task: &Task) -> bool {
    task.desired == DesiredState::Running
        && task.observed == TaskState::Pending
        && task.node.is_none()
}

/// The writes of one scheduling round over `state` at `now`, in transactions of at most
/// [`MAX_OPS`] tasks, each expected at the revision read.
pub(crate) fn plan(state: &State, now: Timestamp) -> Vec<Command> {
    let records = state.list(&Kind::Task.prefix());
    let pending: Vec<(&Task, u64)> = records
        .iter()
        .filter_map(|r| match &r.object {
            Object::Task(t) if is_pending(t) => Some((t, r.mod_revision)),
            _ => None,
        })
        .collect();
    if pending.is_empty() {
        return Vec::new();
    }
    let mut input = SchedulingInput::from_state(state);
    let tasks: Vec<&Task> = pending.iter().map(|(t, _)| *t).collect();
    let decisions = schedule(&mut input, &tasks);
    let ops: Vec<Op> = pending
        .iter()
        .zip(decisions)
        .filter_map(|(&(task, revision), decision)| {
            let mut task = task.clone();
            match decision {
                Decision::Assign { node, .. } => {
                    task.node = Some(node);
                    task.observed = TaskState::Assigned;
                    task.message.clear();
                }
                Decision::Unplaced { reason, .. } => {
                    let message = reason.to_string();
                    if task.message == message {
                        return None;
                    }
                    task.message = message;
                }
            }
            task.updated_at = now;
            Some(Op::put(Object::Task(task), Expect::Revision(revision)))
        })
        .collect();
    ops.chunks(MAX_OPS)
        .map(|chunk| Command::Txn {
            ops: chunk.to_vec(),
        })
        .collect()
}
