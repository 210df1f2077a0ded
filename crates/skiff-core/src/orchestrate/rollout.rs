//! Rolling a changed spec out, batch by batch, per the service's `update_config` — and back,
//! per its `rollback_config`, when too many new tasks fail.
//!
//! Each round, for one service, [`step`] reads the rollout status kept on the service object
//! (`Service::rollout`) and the slots' tasks, and decides which slots may have their task of an
//! older spec replaced now ([`Step::pace`]), what the status becomes, and whether to roll back:
//!
//! * a rollout starts when a task of an older spec must be replaced (a brand-new service, a
//!   scale, a change outside the containers start none); a spec applied during an unfinished
//!   rollout starts a new one from the revision the unfinished one came from (the last spec
//!   that ran everywhere: what a rollback restores); a spec that only scales retargets it;
//! * at most `parallelism` slots are in flight (0: all at once), a batch starts once the
//!   previous one's new tasks are all ready (running, and healthy when the spec has a
//!   healthcheck) and `delay` has passed since;
//! * `order: stop-first` stops the old task when its successor is created; `start-first`
//!   keeps it running until the successor is ready (`super::slots::decide`);
//! * a new task is watched from its creation until `monitor` after it was ready: it failed if
//!   it is over (failed, complete, stopped unasked), was restarted in place, is unhealthy, or
//!   is not ready within [`READY_TIMEOUT_MS`]. Each counts once;
//! * when failures / slots updated > `max_failure_ratio`, `failure_action` applies: `pause`
//!   stops replacing (what runs keeps running), `continue` goes on, `rollback` writes a new
//!   app revision that restores the service's spec of the revision the rollout came from (with
//!   the current replica count) and marks the service `rollback_started`; the rollback then
//!   runs as a rollout under the `rollback_config` of the spec it leaves. Tasks of the restored
//!   spec that still run are kept (re-stamped), the others replaced;
//! * a rollout is completed when no task of an older spec is left to replace and the last new
//!   tasks' monitor windows passed.

use std::collections::{BTreeMap, BTreeSet};

use skiff_api::{Duration, FailureAction, UpdateConfig, UpdateOrder};

use super::slots::{self, Pace, SlotContext, Want};
use super::update::{restored_spec, runs_alike, spec_at};
use crate::objects::{
    App, DesiredState, Health, Name, Rollout, RolloutState, Service, Slot, Task, TaskState,
    Timestamp, Watched,
};

/// How long a new task of a rollout may take to be ready (placed, its image pulled, started,
/// healthy) before it counts as a failure: 2 minutes.
pub const READY_TIMEOUT_MS: u64 = 120_000;

/// At most this many slots start their update in one round, so that a large service updated
/// all at once (`parallelism: 0`) is written as several transactions of reasonable size.
pub const MAX_SLOTS_PER_ROUND: usize = 250;

/// One slot of a service as the rollout sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotView<'t> {
    /// Whether the service wants a task there.
    pub(super) want: Want,
    /// The task it runs (`super::slots::current`).
    pub(super) current: Option<&'t Task>,
    /// Whether `current` is of an older spec that runs differently: to be replaced.
    pub(super) outdated: bool,
}

/// What a service's rollout decided this round.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Step {
    /// The status to keep on the service (written when it differs from the stored one).
    pub(super) status: Option<Rollout>,
    /// The slots whose outdated task is replaced this round.
    pub(super) go: BTreeSet<Slot>,
    /// In which order (start-first also keeps an old task running beside its successor until
    /// the successor is ready).
    pub(super) order: UpdateOrder,
    /// No rollout governs the outdated tasks: replace them all now.
    pub(super) free: bool,
    /// A rollback to write: the app with a new revision restoring the earlier spec, and the
    /// service at that revision.
    pub(super) rollback: Option<(App, Service)>,
}

impl Step {
    fn free(status: Option<Rollout>) -> Self {
        Step {
            status,
            go: BTreeSet::new(),
            order: UpdateOrder::StopFirst,
            free: true,
            rollback: None,
        }
    }

    /// Replaces nothing of an older spec this round, and keeps `status`.
    pub(super) fn hold(status: Option<Rollout>) -> Self {
        Step {
            free: false,
            ..Step::free(status)
        }
    }

    /// How `slot`'s outdated task may be replaced this round.
    pub(super) fn pace(&self, slot: &Slot) -> Pace {
        if self.free {
            Pace::Now(UpdateOrder::StopFirst)
        } else if self.go.contains(slot) {
            Pace::Now(self.order)
        } else {
            Pace::Hold(self.order)
        }
    }

    /// Records that `task` was made for `slot`, one of [`Step::go`], at `now`.
    pub(super) fn started(&mut self, slot: &Slot, task: &Name, now: Timestamp) {
        if let Some(status) = &mut self.status {
            status.watching.push(Watched {
                slot: slot.clone(),
                task: task.clone(),
                since: now,
                ready_at: None,
            });
        }
    }
}

/// The rollout's decision for `cx.service` over its slots.
pub(super) fn step(cx: &SlotContext<'_, '_>, views: &BTreeMap<Slot, SlotView<'_>>) -> Step {
    let outdated: Vec<&Slot> = views
        .iter()
        .filter(|(_, v)| v.outdated && v.want == Want::Run)
        .map(|(slot, _)| slot)
        .collect();
    let Some(mut status) = which(cx, views, &outdated) else {
        return Step {
            order: cx.service.spec.deploy.update_config.order,
            ..Step::free(cx.service.rollout.clone())
        };
    };
    let config = config(cx, &status);
    if !status.state.is_active() {
        let done = matches!(
            status.state,
            RolloutState::Completed | RolloutState::RollbackCompleted
        );
        return Step {
            free: done,
            order: config.order,
            ..Step::hold(Some(status))
        };
    }
    watch(cx, &config, views, &mut status);
    if failed_too_often(&status, &config) {
        if let Some(step) = act_on_failures(cx, &config, status.clone()) {
            return step;
        }
    }
    let waiting: Vec<&Slot> = outdated
        .into_iter()
        .filter(|slot| !status.watching.iter().any(|w| &w.slot == *slot))
        .collect();
    let in_flight = status.watching.iter().any(|w| w.ready_at.is_none());
    let room = if config.parallelism == 0 {
        MAX_SLOTS_PER_ROUND
    } else if !in_flight && status.next_batch_at.is_none_or(|t| cx.now >= t) {
        (config.parallelism as usize).min(MAX_SLOTS_PER_ROUND)
    } else {
        0
    };
    let go: BTreeSet<Slot> = waiting.iter().take(room).map(|s| (*s).clone()).collect();
    if !go.is_empty() {
        status.updated += go.len() as u32;
        status.next_batch_at = None;
    } else if waiting.is_empty() && status.watching.is_empty() {
        complete(cx.now, &mut status);
    }
    Step {
        status: Some(status),
        go,
        order: config.order,
        free: false,
        rollback: None,
    }
}

/// What `failure_action` makes of a rollout that failed too often: `None` to go on
/// (`continue`), else the step that pauses it or starts the rollback.
fn act_on_failures(
    cx: &SlotContext<'_, '_>,
    config: &UpdateConfig,
    mut status: Rollout,
) -> Option<Step> {
    match (status.state, config.failure_action) {
        (_, FailureAction::Continue) => None,
        (RolloutState::Updating, FailureAction::Rollback) => {
            if let Some((app, service)) = rollback(cx, &status, config) {
                return Some(Step {
                    status: service.rollout.clone(),
                    rollback: Some((app, service)),
                    ..Step::hold(None)
                });
            }
            let why = format!(
                "cannot roll back: revision {} is no longer kept",
                status.from_revision
            );
            pause(cx.now, config, &mut status, &why);
            Some(Step {
                order: config.order,
                ..Step::hold(Some(status))
            })
        }
        _ => {
            pause(cx.now, config, &mut status, "");
            Some(Step {
                order: config.order,
                ..Step::hold(Some(status))
            })
        }
    }
}

/// The rollout this round continues, or starts; `None` when no rollout concerns the service
/// (nothing of an older spec to replace, and no status for its spec).
fn which(
    cx: &SlotContext<'_, '_>,
    views: &BTreeMap<Slot, SlotView<'_>>,
    outdated: &[&Slot],
) -> Option<Rollout> {
    let service = cx.service;
    if let Some(status) = &service.rollout {
        if status.to_revision == service.spec_revision {
            return Some(status.clone());
        }
        let target = cx
            .app
            .and_then(|app| spec_at(app, status.to_revision, service.name.as_str()));
        if target.is_some_and(|old| runs_alike(old, &service.spec)) {
            // Scaled (or relabelled) meanwhile: the same rollout, to the new revision.
            let mut status = status.clone();
            status.to_revision = service.spec_revision;
            return Some(status);
        }
    }
    if outdated.is_empty() {
        return None;
    }
    let from = match &service.rollout {
        // The last spec that ran everywhere: what a rollback of the new rollout restores.
        Some(status) => match status.state {
            RolloutState::Updating | RolloutState::Paused => status.from_revision,
            _ => status.to_revision,
        },
        None => outdated
            .iter()
            .filter_map(|slot| views[*slot].current.map(|t| t.spec_revision))
            .max()?,
    };
    let to = service.spec_revision;
    let mut status = Rollout::start(RolloutState::Updating, from, to, cx.now);
    status.message = format!("updating from revision {from} to {to}");
    Some(status)
}

/// The settings the rollout runs by: `update_config`, or for a rollback the `rollback_config`
/// of the spec it rolls back from.
fn config(cx: &SlotContext<'_, '_>, status: &Rollout) -> UpdateConfig {
    let deploy = &cx.service.spec.deploy;
    if !status.state.is_rollback() {
        return deploy.update_config;
    }
    cx.app
        .and_then(|app| spec_at(app, status.from_revision, cx.service.name.as_str()))
        .map_or(deploy.rollback_config, |spec| spec.deploy.rollback_config)
}

fn millis(d: Duration) -> u64 {
    d.as_nanos() / 1_000_000
}

/// Follows the watched slots: counts failures within their monitor windows, notes when their
/// tasks are ready, drops those whose window passed, and dates the next batch once the last
/// one in flight is settled.
fn watch(
    cx: &SlotContext<'_, '_>,
    config: &UpdateConfig,
    views: &BTreeMap<Slot, SlotView<'_>>,
    status: &mut Rollout,
) {
    let monitor = millis(config.monitor);
    let was_in_flight = status.watching.iter().any(|w| w.ready_at.is_none());
    for mut w in std::mem::take(&mut status.watching) {
        let Some(view) = views.get(&w.slot).filter(|v| v.want == Want::Run) else {
            continue; // scaled away
        };
        let task = view.current.filter(|_| !view.outdated);
        if let Some(t) = task.filter(|t| t.id != w.task) {
            // Replaced meanwhile (its node went down): watch its successor.
            w = Watched {
                slot: w.slot,
                task: t.id.clone(),
                since: t.created_at,
                ready_at: None,
            };
        }
        let open = w
            .ready_at
            .is_none_or(|r| cx.now.0 < r.0.saturating_add(monitor));
        if let Some(why) = failure(cx, task, &w).filter(|_| open) {
            status.failures += 1;
            status.message = why;
            continue;
        }
        if w.ready_at.is_none() && task.is_some_and(|t| slots::ready(&cx.service.spec, t)) {
            w.ready_at = Some(cx.now);
        }
        if w.ready_at
            .is_some_and(|r| cx.now.0 >= r.0.saturating_add(monitor))
        {
            continue; // watched long enough
        }
        status.watching.push(w);
    }
    let in_flight = status.watching.iter().any(|w| w.ready_at.is_none());
    if was_in_flight && !in_flight {
        status.next_batch_at = Some(Timestamp(cx.now.0.saturating_add(millis(config.delay))));
    }
}

/// Why the new task of a watched slot counts as failed, if it does.
fn failure(cx: &SlotContext<'_, '_>, task: Option<&Task>, w: &Watched) -> Option<String> {
    let late = w.ready_at.is_none() && cx.now.0 >= w.since.0.saturating_add(READY_TIMEOUT_MS);
    let slot = match &w.slot {
        Slot::Replica(n) => format!("slot {n}"),
        Slot::Node(node) => format!("node {node}"),
    };
    let Some(t) = task else {
        let secs = READY_TIMEOUT_MS / 1000;
        return late.then(|| format!("{slot}: no task of the new spec after {secs} s"));
    };
    let what = match t.observed {
        TaskState::Failed | TaskState::Complete => match t.exit_code {
            Some(code) => format!("exited with code {code}"),
            None => "failed".to_owned(),
        },
        TaskState::Shutdown if t.desired == DesiredState::Running => "stopped".to_owned(),
        _ if t.restart_count > 0 => format!("restarted {} time(s)", t.restart_count),
        _ if t.health == Health::Unhealthy => "unhealthy".to_owned(),
        _ if late && !slots::ready(&cx.service.spec, t) => format!(
            "not ready after {} s (still {:?})",
            READY_TIMEOUT_MS / 1000,
            t.observed
        )
        .to_lowercase(),
        _ => return None,
    };
    let note = if t.message.is_empty() {
        String::new()
    } else {
        format!(": {}", t.message)
    };
    Some(format!("task {} ({slot}) {what}{note}", t.id))
}

fn failed_too_often(status: &Rollout, config: &UpdateConfig) -> bool {
    status.failures > 0
        && f64::from(status.failures) / f64::from(status.updated.max(1)) > config.max_failure_ratio
}

fn failures(status: &Rollout, config: &UpdateConfig) -> String {
    format!(
        "{} of {} new tasks failed (max_failure_ratio {})",
        status.failures, status.updated, config.max_failure_ratio
    )
}

/// Stops the rollout where it is.
fn pause(now: Timestamp, config: &UpdateConfig, status: &mut Rollout, why: &str) {
    let (state, word) = if status.state.is_rollback() {
        (RolloutState::RollbackPaused, "rollback paused")
    } else {
        (RolloutState::Paused, "update paused")
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!("; {why}")
    };
    status.message = format!(
        "{word}: {}{why}; last: {}",
        failures(status, config),
        status.message
    );
    status.state = state;
    status.completed_at = Some(now);
    status.next_batch_at = None;
}

fn complete(now: Timestamp, status: &mut Rollout) {
    if status.state.is_rollback() {
        status.state = RolloutState::RollbackCompleted;
        status.message = match status.restores_revision {
            Some(r) => format!("rollback completed: the spec of revision {r} runs"),
            None => "rollback completed".to_owned(),
        };
    } else {
        status.state = RolloutState::Completed;
        status.message = match status.failures {
            0 => format!("update completed: {} task(s) replaced", status.updated),
            f => format!(
                "update completed: {} task(s) replaced, {f} new task(s) failed on the way",
                status.updated
            ),
        };
    }
    status.completed_at = Some(now);
    status.next_batch_at = None;
}

/// The writes that roll the service back to the spec of the revision the rollout came from,
/// or `None` when that spec is no longer kept.
fn rollback(
    cx: &SlotContext<'_, '_>,
    status: &Rollout,
    config: &UpdateConfig,
) -> Option<(App, Service)> {
    let service = cx.service;
    let name = service.name.as_str();
    let app = cx.app?;
    let target = status.from_revision;
    let restored = restored_spec(app, target, name, &service.spec)?;
    let to = app.spec_revision + 1;
    let mut app = app.clone();
    let mut spec = app.spec.clone();
    spec.services.insert(name.to_owned(), restored.clone());
    app.push_spec(spec, to);
    let mut rollout = Rollout::start(
        RolloutState::RollbackStarted,
        service.spec_revision,
        to,
        cx.now,
    );
    rollout.restores_revision = Some(target);
    rollout.message = format!(
        "rolling back to revision {target}: {}; last: {}",
        failures(status, config),
        status.message
    );
    let service = Service {
        spec_revision: to,
        spec: restored,
        rollout: Some(rollout),
        ..service.clone()
    };
    Some((app, service))
}
