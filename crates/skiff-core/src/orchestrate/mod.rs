//! The orchestrator and the node monitor: what the control plane's leader-only loops decide,
//! as data.
//!
//! [`reconcile`] compares every service with its tasks and the nodes and answers an
//! [`OrchestratorPlan`]: tasks to create, tasks whose desired state (or spec revision)
//! changes, tasks to delete, each with its [`Reason`]. The plan compiles to one
//! [`crate::Command::Txn`] whose expectations (each task's revision as read, `Absent` for new
//! ones) make it conflict if anything it read changed; the loop then reads again and
//! recomputes. [`nodes::monitor`] does the same for nodes that stop (or start again) sending
//! heartbeats.
//!
//! The rules, slot by slot (docs/orchestration.md tells the same story):
//!
//! * a replicated service with N replicas wants slots `Replica(1..=N)`; a global service wants
//!   `Node(id)` for every node [`crate::schedule::node_eligible`] accepts (ready, active, the
//!   environment's node selector, the placement constraints), and keeps, without creating,
//!   its task on a paused node;
//! * a wanted slot with no task wanted running gets a new one (pending, on no node, at the
//!   service's spec revision); if several are wanted running, all but the newest of the
//!   service's spec stop (under start-first, an old task stays until its successor is ready);
//! * the task wanted running is replaced (the old one told to shut down, a new one created in
//!   the same transaction) when it is over for good, when its node is down, drained or gone,
//!   or when it runs an older spec that changes its container; see `slots::judge` for the
//!   exact order and the restart-condition rule. Replacing tasks of an older spec is paced by
//!   the service's rollout (`rollout`: batches per `update_config`, failures counted within
//!   the monitor window, pause, continue or an automatic rollback to the previous spec as a new
//!   app revision), its progress written on the service object;
//! * a slot no longer wanted has its task stopped: `remove` for a scale-down, a changed mode or
//!   a gone node; `shutdown` for a global service's node that is no longer eligible;
//! * the tasks of a service that no longer exists are removed;
//! * a task that no agent holds (never assigned) is deleted rather than told to stop; a task
//!   to be removed is deleted once it is over; stopped tasks that are over are kept as the
//!   slot's history, the newest [`TASK_HISTORY_LIMIT`].
//!
//! Only the control plane writes a task's desired state, and only this module creates tasks;
//! the scheduler fills in `node`, the agents the observed state.

mod input;
pub mod nodes;
mod plan;
mod rollout;
mod slots;
pub(crate) mod update;
pub mod vips;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use skiff_api::ServiceMode;

pub use input::{OrchestratorInput, StoredTask};
pub use nodes::{going_down, monitor, NodeChange, NodeMonitorInput, NodeMonitorPlan, StoredNode};
pub use plan::{Action, Change, OrchestratorPlan, Reason};
pub use rollout::{MAX_SLOTS_PER_ROUND, READY_TIMEOUT_MS};
pub use vips::{assign_vips, VipChange, VipPlan, VipRange, VipRangeError};

use crate::objects::{App, Availability, DesiredState, Name, Node, Service, Slot};
use crate::schedule::node_eligible;
use crate::schedule::Filter;
use rollout::{SlotView, Step};
use slots::{SlotContext, Want};

/// How many stopped tasks a slot keeps as history (Swarm's `task_history_retention_limit`).
pub const TASK_HISTORY_LIMIT: usize = 5;

/// One round of the orchestrator over `input`; `new_id` names each task it creates (the
/// caller draws random ids, tests count).
pub fn reconcile(
    input: &OrchestratorInput<'_>,
    new_id: &mut dyn FnMut() -> Name,
) -> OrchestratorPlan {
    let nodes: HashMap<&Name, &Node> = input.nodes.iter().map(|n| (&n.id, *n)).collect();
    let mut by_service: BTreeMap<(&str, &str, &str), BTreeMap<Slot, Vec<StoredTask<'_>>>> =
        BTreeMap::new();
    for t in &input.tasks {
        let task = t.task;
        let key = (task.env.as_str(), task.app.as_str(), task.service.as_str());
        let slots = by_service.entry(key).or_default();
        slots.entry(task.slot.clone()).or_default().push(*t);
    }
    let lookup = |id: &Name| nodes.get(id).copied();
    let mut plan = OrchestratorPlan::default();
    let mut rolled_back: HashSet<(&Name, &Name)> = HashSet::new();
    for &(service, revision) in &input.services {
        let key = (
            service.env.as_str(),
            service.app.as_str(),
            service.name.as_str(),
        );
        let tasks = by_service.remove(&key).unwrap_or_default();
        let app = input
            .apps
            .iter()
            .copied()
            .find(|(a, _)| a.env == service.env && a.name == service.app);
        let cx = SlotContext {
            now: input.now,
            service,
            app: app.map(|(a, _)| a),
            node: &lookup,
            outdated: Default::default(),
        };
        let wanted = wanted_slots(input, service);
        let slots: BTreeSet<Slot> = tasks.keys().chain(wanted.keys()).cloned().collect();
        let wants: BTreeMap<Slot, Want> = slots
            .into_iter()
            .map(|slot| {
                let want = wanted
                    .get(&slot)
                    .copied()
                    .unwrap_or_else(|| unwanted(service, &slot, &nodes));
                (slot, want)
            })
            .collect();
        let round = ServiceRound {
            cx: &cx,
            revision,
            app_revision: app.map_or(0, |(_, r)| r),
        };
        round.decide(wants, tasks, &mut rolled_back, &mut plan, new_id);
    }
    for slots in by_service.into_values() {
        for tasks in slots.into_values() {
            let group = removed_service(input, tasks);
            if !group.is_empty() {
                plan.groups.push(group);
            }
        }
    }
    plan
}

/// One service's part of a round.
struct ServiceRound<'c, 'a, 'i> {
    cx: &'c SlotContext<'a, 'i>,
    /// The revision its record was read at.
    revision: u64,
    /// The revision its app's record was read at.
    app_revision: u64,
}

impl<'a> ServiceRound<'_, 'a, '_> {
    /// Adds the service's groups to `plan`: its rollout's step (or the rollback it starts —
    /// one per app and round, each writing a new app revision), then each slot's changes, the
    /// slots of the rollout's batch and its status in one group.
    fn decide<'t>(
        &self,
        wants: BTreeMap<Slot, Want>,
        mut tasks: BTreeMap<Slot, Vec<StoredTask<'t>>>,
        rolled_back: &mut HashSet<(&'a Name, &'a Name)>,
        plan: &mut OrchestratorPlan,
        new_id: &mut dyn FnMut() -> Name,
    ) {
        let (cx, service) = (self.cx, self.cx.service);
        let mut step = rollout::step(cx, &views(cx, &wants, &mut tasks));
        if let Some((new_app, new_service)) = step.rollback.take() {
            if rolled_back.insert((&service.env, &service.app)) {
                let group = rollback_group(new_app, self.app_revision, new_service, self.revision);
                plan.groups.push(group);
                return;
            }
            step = Step {
                order: step.order,
                ..Step::hold(service.rollout.clone())
            };
        }
        let mut rollout_group = Vec::new();
        for (slot, want) in wants {
            let slot_tasks = tasks.remove(&slot).unwrap_or_default();
            let group = slots::decide(cx, &slot, want, step.pace(&slot), slot_tasks, new_id);
            if step.go.contains(&slot) {
                let created = group.iter().find_map(|c| match &c.action {
                    Action::Create(t) => Some(t.id.clone()),
                    _ => None,
                });
                if let Some(id) = created {
                    step.started(&slot, &id, cx.now);
                }
                rollout_group.extend(group);
            } else if !group.is_empty() {
                plan.groups.push(group);
            }
        }
        if step.status != service.rollout {
            let mut changed = service.clone();
            changed.rollout = step.status;
            rollout_group.push(Change {
                action: Action::Service {
                    service: Box::new(changed),
                    revision: self.revision,
                },
                reason: Reason::Rollout,
            });
        }
        if !rollout_group.is_empty() {
            plan.groups.push(rollout_group);
        }
    }
}

/// Each slot as the rollout sees it (sorting each slot's tasks, oldest first, on the way).
fn views<'t>(
    cx: &SlotContext<'_, '_>,
    wants: &BTreeMap<Slot, Want>,
    tasks: &mut BTreeMap<Slot, Vec<StoredTask<'t>>>,
) -> BTreeMap<Slot, SlotView<'t>> {
    wants
        .iter()
        .map(|(slot, want)| {
            let list = tasks.entry(slot.clone()).or_default();
            slots::sort(list);
            let current = slots::current(cx, list).map(|t| t.task);
            let view = SlotView {
                want: *want,
                current,
                outdated: current.is_some_and(|t| !slots::up_to_date(cx, t)),
            };
            (slot.clone(), view)
        })
        .collect()
}

/// The writes of a rollback, in one group: the app's new revision and the service restored.
fn rollback_group(app: App, app_revision: u64, service: Service, revision: u64) -> Vec<Change> {
    vec![
        Change {
            action: Action::App {
                app: Box::new(app),
                revision: app_revision,
            },
            reason: Reason::Rollback,
        },
        Change {
            action: Action::Service {
                service: Box::new(service),
                revision,
            },
            reason: Reason::Rollback,
        },
    ]
}

/// The slots `service` wants, with how: every replica up to its count, or its task on every
/// eligible node (and, without creating one, on every paused node otherwise eligible).
fn wanted_slots(input: &OrchestratorInput<'_>, service: &Service) -> BTreeMap<Slot, Want> {
    match service.mode() {
        ServiceMode::Replicated { replicas } => (1..=replicas)
            .map(|n| (Slot::Replica(n), Want::Run))
            .collect(),
        ServiceMode::Global => {
            let env = input.envs.iter().copied().find(|e| e.name == service.env);
            let placement = &service.spec.deploy.placement;
            input
                .nodes
                .iter()
                .filter_map(|node| {
                    let want = match node_eligible(node, env, placement) {
                        Ok(()) => Want::Run,
                        Err(Filter::Paused) => {
                            let mut active = (*node).clone();
                            active.availability = Availability::Active;
                            node_eligible(&active, env, placement).ok()?;
                            Want::Keep
                        }
                        Err(_) => return None,
                    };
                    Some((Slot::Node(node.id.clone()), want))
                })
                .collect()
        }
    }
}

/// Why a slot with tasks is not wanted, and what its tasks become.
fn unwanted(service: &Service, slot: &Slot, nodes: &HashMap<&Name, &Node>) -> Want {
    match (service.mode(), slot) {
        (ServiceMode::Replicated { .. }, Slot::Replica(_)) => {
            Want::Retire(DesiredState::Remove, Reason::ScaledDown)
        }
        (ServiceMode::Global, Slot::Node(id)) if nodes.contains_key(id) => {
            Want::Retire(DesiredState::Shutdown, Reason::NodeIneligible)
        }
        (ServiceMode::Global, Slot::Node(_)) => {
            Want::Retire(DesiredState::Remove, Reason::NodeIneligible)
        }
        _ => Want::Retire(DesiredState::Remove, Reason::WrongMode),
    }
}

/// The tasks of one slot of a service that no longer exists: told to go, deleted once over.
fn removed_service(input: &OrchestratorInput<'_>, tasks: Vec<StoredTask<'_>>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut rest = Vec::new();
    for t in tasks {
        if t.task.desired == DesiredState::Remove {
            rest.push(t);
        } else {
            changes.extend(slots::retire(
                input.now,
                t,
                DesiredState::Remove,
                Reason::ServiceRemoved,
            ));
        }
    }
    changes.extend(slots::clean_up(rest.into_iter()));
    changes
}

#[cfg(test)]
mod tests;
