//! The node monitor loop: heartbeats → node status (`skiff_core::orchestrate::monitor`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use skiff_core::objects::Timestamp;
use skiff_core::orchestrate::{monitor, NodeMonitorInput, StoredNode, StoredTask};
use skiff_core::{Kind, Name, Object, State};

use super::propose::propose;
use crate::control::{Consistency, ControlPlane};
use crate::heartbeats::Heartbeats;

/// How often the monitor looks at the heartbeats.
pub(super) const TICK: Duration = Duration::from_millis(250);

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
    loop {
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
        let command = control
            .read(Consistency::Stale, |state| {
                let plan = monitor(&input(state, now_ts, grace, last_seen, leader_since));
                (!plan.is_empty()).then(|| plan.into_command())
            })
            .await;
        if let Ok(Some(command)) = command {
            // A conflict (an agent's report landed first) is retried at the next tick.
            let _ = propose(&control, "node monitor", vec![command]).await;
        }
    }
}

fn input(
    state: &State,
    now: Timestamp,
    grace: Duration,
    last_seen: HashMap<Name, Timestamp>,
    leader_since: Timestamp,
) -> NodeMonitorInput<'_> {
    let nodes = state.list(&Kind::Node.prefix());
    let tasks = state.list(&Kind::Task.prefix());
    NodeMonitorInput {
        now,
        grace,
        nodes: nodes
            .into_iter()
            .filter_map(|r| match &r.object {
                Object::Node(node) => Some(StoredNode {
                    node,
                    revision: r.mod_revision,
                }),
                _ => None,
            })
            .collect(),
        last_seen,
        leader_since,
        tasks: tasks
            .into_iter()
            .filter_map(|r| match &r.object {
                Object::Task(task) => Some(StoredTask {
                    task,
                    revision: r.mod_revision,
                }),
                _ => None,
            })
            .collect(),
    }
}
