//! The decisions for one slot of one service: keep, create, replace, retire, clean up.

use std::cell::RefCell;
use std::collections::HashMap;

use skiff_api::app::HealthTest;
use skiff_api::{RestartCondition, ServiceSpec, UpdateOrder};

use super::input::StoredTask;
use super::plan::{Action, Change, Reason};
use super::update::{self, Outdated};
use super::TASK_HISTORY_LIMIT;
use crate::objects::{
    App, Availability, DesiredState, Health, Name, Node, NodeStatus, Service, Slot, Task,
    TaskState, Timestamp,
};

/// Whether a service wants a task in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// Yes: keep one task wanted running there, creating it if needed.
    Run,
    /// Keep the task wanted running there if there is one, but create none (a global
    /// service's slot on a paused node).
    Keep,
    /// No: its tasks get this desired state.
    Retire(DesiredState, Reason),
}

/// What a slot decision reads besides the slot's tasks.
pub(super) struct SlotContext<'a, 'i> {
    pub(super) now: Timestamp,
    pub(super) service: &'a Service,
    pub(super) app: Option<&'a App>,
    pub(super) node: &'i dyn Fn(&Name) -> Option<&'a Node>,
    /// [`update::judge`]'s verdict per older spec revision, computed once per service and
    /// round: comparing specs clones one, and a rollout keeps outdated tasks for many rounds.
    pub(super) outdated: RefCell<HashMap<u64, Outdated>>,
}

impl SlotContext<'_, '_> {
    /// [`update::judge`] of a task of an older spec, remembered by revision.
    fn judge_outdated(&self, task: &Task) -> Outdated {
        *self
            .outdated
            .borrow_mut()
            .entry(task.spec_revision)
            .or_insert_with(|| update::judge(self.app, self.service, task))
    }
}

/// How the slot's task of an older spec may be replaced this round (the service's rollout
/// decides, `super::rollout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    /// Now, in this order.
    Now(UpdateOrder),
    /// Not this round: the slot waits for its batch, or the rollout is paused. The rollout's
    /// order still says whether an old task stays beside a successor not yet ready.
    Hold(UpdateOrder),
}

impl Pace {
    fn order(self) -> UpdateOrder {
        match self {
            Pace::Now(order) | Pace::Hold(order) => order,
        }
    }
}

/// The changes for the tasks of one slot of a service that exists. `tasks` may be empty.
pub(super) fn decide(
    cx: &SlotContext<'_, '_>,
    slot: &Slot,
    want: Want,
    pace: Pace,
    mut tasks: Vec<StoredTask<'_>>,
    new_id: &mut dyn FnMut() -> Name,
) -> Vec<Change> {
    sort(&mut tasks);
    let mut changes = Vec::new();
    let mut touched: Vec<&Name> = Vec::new();
    let current = current(cx, &tasks);
    let handover = current
        .filter(|_| pace.order() == UpdateOrder::StartFirst)
        .and_then(|c| handover(cx, &tasks, c));
    for old in running(&tasks) {
        let id = &old.task.id;
        if current.is_some_and(|c| &c.task.id == id) || handover.is_some_and(|h| &h.task.id == id) {
            continue;
        }
        let reason = if up_to_date(cx, old.task) {
            Reason::Duplicate
        } else {
            Reason::Superseded
        };
        changes.extend(retire(cx.now, old, DesiredState::Shutdown, reason));
        touched.push(&old.task.id);
    }
    match (want, current) {
        (Want::Retire(desired, reason), Some(t)) => {
            changes.extend(retire(cx.now, t, desired, reason));
            touched.push(&t.task.id);
        }
        (Want::Retire(..), None) | (Want::Keep, None) => {}
        (Want::Run, None) => changes.push(create(cx, slot, Reason::MissingSlot, new_id)),
        (Want::Run | Want::Keep, Some(t)) => match judge(cx, t.task) {
            Verdict::Keep => {}
            Verdict::Replace(Reason::Outdated) if matches!(pace, Pace::Hold(_)) => {}
            Verdict::Restamp => {
                let mut task = t.task.clone();
                task.spec_revision = cx.service.spec_revision;
                task.updated_at = cx.now;
                changes.push(Change {
                    action: Action::Update {
                        task,
                        revision: t.revision,
                    },
                    reason: Reason::Restamped,
                });
                touched.push(&t.task.id);
            }
            Verdict::Replace(reason) => {
                let start_first = reason == Reason::Outdated
                    && pace == Pace::Now(UpdateOrder::StartFirst)
                    && want == Want::Run;
                if !start_first {
                    changes.extend(retire(cx.now, t, DesiredState::Shutdown, reason));
                    touched.push(&t.task.id);
                }
                if want == Want::Run {
                    changes.push(create(cx, slot, reason, new_id));
                }
            }
        },
    }
    let rest = tasks.iter().filter(|t| !touched.contains(&&t.task.id));
    changes.extend(clean_up(rest.copied()));
    changes
}

/// Sorts a slot's tasks oldest first.
pub(super) fn sort(tasks: &mut [StoredTask<'_>]) {
    tasks.sort_by(|a, b| (a.task.created_at, &a.task.id).cmp(&(b.task.created_at, &b.task.id)));
}

/// The slot's tasks wanted running, oldest first.
fn running<'a, 't>(tasks: &'a [StoredTask<'t>]) -> impl Iterator<Item = StoredTask<'t>> + 'a {
    tasks
        .iter()
        .copied()
        .filter(|t| t.task.desired == DesiredState::Running)
}

/// The task a slot runs, of those wanted running (sorted oldest first): the newest made from
/// the service's spec (or from one that runs alike), else the newest. During a start-first
/// update the new task is current while the old one still runs; during a rollback the old
/// task is current again.
pub(super) fn current<'t>(
    cx: &SlotContext<'_, '_>,
    tasks: &[StoredTask<'t>],
) -> Option<StoredTask<'t>> {
    let running: Vec<StoredTask<'t>> = running(tasks).collect();
    running
        .iter()
        .rev()
        .find(|t| up_to_date(cx, t.task))
        .or(running.last())
        .copied()
}

/// The task of an older spec that keeps running beside `current` until `current` is ready
/// (start-first: the old task stops once its successor runs, and healthy if it has a
/// healthcheck): the newest such, if `current` is of the service's spec and not ready.
fn handover<'t>(
    cx: &SlotContext<'_, '_>,
    tasks: &[StoredTask<'t>],
    current: StoredTask<'t>,
) -> Option<StoredTask<'t>> {
    if !up_to_date(cx, current.task) || ready(&cx.service.spec, current.task) {
        return None;
    }
    running(tasks)
        .filter(|t| t.task.id != current.task.id && !up_to_date(cx, t.task))
        .filter(|t| !t.task.observed.is_terminal())
        .last()
}

/// Whether `task` runs the service's spec, or one that gives the same container.
pub(super) fn up_to_date(cx: &SlotContext<'_, '_>, task: &Task) -> bool {
    task.spec_revision == cx.service.spec_revision || cx.judge_outdated(task) == Outdated::Restamp
}

/// Whether a task is ready to serve: running and, when the spec has a healthcheck the agent
/// runs (a command of its own, not the image's), healthy.
pub(super) fn ready(spec: &ServiceSpec, task: &Task) -> bool {
    task.observed == TaskState::Running && (!checks_health(spec) || task.health == Health::Healthy)
}

/// Whether the agent runs a healthcheck for `spec` (as `skiff_agent::health::HealthRule`
/// decides: an `Exec` with a command, or a `Shell`).
pub(super) fn checks_health(spec: &ServiceSpec) -> bool {
    match spec.healthcheck.as_ref().map(|h| &h.test) {
        Some(HealthTest::Exec(argv)) => !argv.is_empty(),
        Some(HealthTest::Shell(_)) => true,
        _ => false,
    }
}

/// What becomes of the task wanted running in a wanted slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    Restamp,
    Replace(Reason),
}

/// The orchestrator's rule for a task wanted running, in order:
///
/// 1. over (`observed` terminal): orphaned (its node went down) or shut down without being
///    asked → replaced; failed → replaced unless the restart condition is `none`; complete →
///    replaced only under `restart: any`. The agent restarts in place what its policy allows
///    and reports `failed` only once the policy is exhausted; a replacement for a failed or
///    complete task waits out the policy's `delay` after the task's last update, so a task
///    that fails at once does not churn. A task over for good and kept is still replaced when
///    its spec changes (the new spec may fix it);
/// 2. on a node that is down, drained or gone → replaced (tasks on a paused node stay);
/// 3. made from an older spec → re-stamped or replaced ([`update::judge`]).
fn judge(cx: &SlotContext<'_, '_>, task: &Task) -> Verdict {
    let policy = &cx.service.spec.deploy.restart_policy;
    let delay_ms = policy.delay.as_nanos() / 1_000_000;
    let waited = cx.now.0 >= task.updated_at.0.saturating_add(delay_ms);
    let exited = match task.observed {
        TaskState::Orphaned => Some(Reason::NodeDown),
        TaskState::Shutdown => Some(Reason::Exited),
        TaskState::Failed if policy.condition != RestartCondition::None => {
            waited.then_some(Reason::Exited)
        }
        TaskState::Complete if policy.condition == RestartCondition::Any => {
            waited.then_some(Reason::Exited)
        }
        _ => None,
    };
    if let Some(reason) = exited {
        return Verdict::Replace(reason);
    }
    if !task.observed.is_terminal() {
        if let Some(id) = &task.node {
            match (cx.node)(id) {
                None => return Verdict::Replace(Reason::NodeDrained),
                Some(n) if n.status == NodeStatus::Down => {
                    return Verdict::Replace(Reason::NodeDown)
                }
                Some(n) if n.availability == Availability::Drain => {
                    return Verdict::Replace(Reason::NodeDrained)
                }
                Some(_) => {}
            }
        }
    }
    if task.spec_revision != cx.service.spec_revision {
        return match cx.judge_outdated(task) {
            Outdated::Restamp => Verdict::Restamp,
            Outdated::Replace => Verdict::Replace(Reason::Outdated),
        };
    }
    Verdict::Keep
}

/// Tells a task to stop (`desired`), or deletes it outright when no agent holds it (never
/// assigned) or when it is over and to be removed anyway.
pub(super) fn retire(
    now: Timestamp,
    t: StoredTask<'_>,
    desired: DesiredState,
    reason: Reason,
) -> Option<Change> {
    let task = t.task;
    let unheld = task.node.is_none() && !task.observed.is_terminal();
    if unheld || (desired == DesiredState::Remove && task.observed.is_terminal()) {
        return Some(delete(t, reason));
    }
    if task.desired == desired {
        return None;
    }
    let mut task = task.clone();
    task.desired = desired;
    task.updated_at = now;
    Some(Change {
        action: Action::Update {
            task,
            revision: t.revision,
        },
        reason,
    })
}

fn delete(t: StoredTask<'_>, reason: Reason) -> Change {
    Change {
        action: Action::Delete {
            id: t.task.id.clone(),
            revision: t.revision,
        },
        reason,
    }
}

/// The slot's tasks no longer wanted running, oldest first: those to be removed go once they
/// are over (or if they never ran anywhere); those shut down are kept as the slot's history,
/// the newest [`TASK_HISTORY_LIMIT`] of them.
pub(super) fn clean_up<'a>(tasks: impl Iterator<Item = StoredTask<'a>>) -> Vec<Change> {
    let stopped: Vec<StoredTask<'a>> = tasks
        .filter(|t| t.task.desired != DesiredState::Running)
        .collect();
    let mut changes = Vec::new();
    let mut kept = Vec::new();
    for t in stopped {
        let (task, over) = (t.task, t.task.observed.is_terminal());
        let never_ran = task.node.is_none() && !over;
        if never_ran || (task.desired == DesiredState::Remove && over) {
            changes.push(delete(t, Reason::Cleanup));
        } else if over {
            kept.push(t);
        }
    }
    let excess = kept.len().saturating_sub(TASK_HISTORY_LIMIT);
    changes.extend(kept[..excess].iter().map(|t| delete(*t, Reason::Cleanup)));
    changes
}

/// A new task for `slot`: pending, wanted running, on no node yet.
fn create(
    cx: &SlotContext<'_, '_>,
    slot: &Slot,
    reason: Reason,
    new_id: &mut dyn FnMut() -> Name,
) -> Change {
    let service = cx.service;
    let task = Task {
        id: new_id(),
        env: service.env.clone(),
        app: service.app.clone(),
        service: service.name.clone(),
        slot: slot.clone(),
        spec_revision: service.spec_revision,
        desired: DesiredState::Running,
        node: None,
        observed: TaskState::Pending,
        message: String::new(),
        container_id: None,
        ip: None,
        exit_code: None,
        restart_count: 0,
        health: Health::Unknown,
        created_at: cx.now,
        updated_at: cx.now,
    };
    Change {
        action: Action::Create(task),
        reason,
    }
}
