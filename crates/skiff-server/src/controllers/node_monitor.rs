//! The node monitor loop: heartbeats → node status (`skiff_core::orchestrate::monitor`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use skiff_core::objects::{NodeStatus, Timestamp};
use skiff_core::orchestrate::{going_down, monitor, NodeMonitorInput, StoredNode, StoredTask};
use skiff_core::{Kind, Name, Object, State};

use super::propose::propose;
use crate::control::{Consistency, ControlPlane};
use crate::heartbeats::Heartbeats;

/// How often the monitor looks at the heartbeats.
pub(super) const TICK: Duration = Duration::from_millis(250);

/// Every this many ticks (and at the first), a round also sweeps the down nodes: a task left
/// not over on one (a write that raced the node going down) is orphaned then. Other rounds
/// read the tasks only of nodes going down, so that a quiet round over a large cluster reads
/// the nodes alone.
pub(super) const SWEEP_EVERY: u64 = 40;

/// Runs rounds every [`TICK`] until aborted. `since` is when this server became leader: the
/// grace period of a node not heard from since starts then.
pub(super) async fn run(
    control: ControlPlane,
    heartbeats: Heartbeats,
    grace: Duration,
    since: Instant,
) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        interval.tick().await;
        let (now, now_ts) = (Instant::now(), crate::api::now());
        let at = |instant: Instant| {
            let ago = now.saturating_duration_since(instant).as_millis() as u64;
            Timestamp(now_ts.0.saturating_sub(ago))
        };
        let last_seen: HashMap<Name, Timestamp> = heartbeats
            .snapshot()
            .into_iter()
            .filter_map(|(id, instant)| Some((Name::new(id).ok()?, at(instant))))
            .collect();
        let leader_since = at(since);
        let sweep = round % SWEEP_EVERY == 0;
        let command = control
            .read(Consistency::Stale, move |state| {
                let mut input = NodeMonitorInput {
                    now: now_ts,
                    grace,
                    nodes: nodes(state),
                    last_seen,
                    leader_since,
                    tasks: Vec::new(),
                };
                let mut ids: HashSet<&Name> = going_down(&input).into_iter().collect();
                if sweep {
                    ids.extend(
                        (input.nodes.iter())
                            .filter(|n| n.node.status == NodeStatus::Down)
                            .map(|n| &n.node.id),
                    );
                }
                if !ids.is_empty() {
                    input.tasks = tasks_on(state, &ids);
                }
                let plan = monitor(&input);
                (!plan.is_empty()).then(|| plan.into_command())
            })
            .await;
        if let Ok(Some(command)) = command {
            // A conflict (an agent's report landed first) is retried at the next tick.
            let _ = propose(&control, "node monitor", vec![command]).await;
        }
    }
}

fn nodes(state: &State) -> Vec<StoredNode<'_>> {
    state
        .list(&Kind::Node.prefix())
        .into_iter()
        .filter_map(|r| match &r.object {
            Object::Node(node) => Some(StoredNode {
                node,
                revision: r.mod_revision,
            }),
            _ => None,
        })
        .collect()
}

/// The tasks on the nodes `ids`, with their revisions.
fn tasks_on<'a>(state: &'a State, ids: &HashSet<&Name>) -> Vec<StoredTask<'a>> {
    state
        .list(&Kind::Task.prefix())
        .into_iter()
        .filter_map(|r| match &r.object {
            Object::Task(task) if task.node.as_ref().is_some_and(|n| ids.contains(n)) => {
                Some(StoredTask {
                    task,
                    revision: r.mod_revision,
                })
            }
            _ => None,
        })
        .collect()
}
