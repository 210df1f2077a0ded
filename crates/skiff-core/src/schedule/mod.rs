//! The scheduler: which node each pending task goes to, or why it cannot go anywhere.
//!
//! [`schedule`] takes a [`SchedulingInput`] — the nodes with what their tasks already reserve,
//! the services' requirements and where their tasks are, the environments' selectors, quotas and
//! usage — and a batch of pending tasks, and answers one [`Decision`] per task: assign it to a
//! node, or leave it pending with a structured [`Unplaced`] reason whose text is what `skiff ps`
//! shows ("no suitable node (3 nodes down; 2 nodes with less than 1GiB of memory unreserved)").
//!
//! Filters, in order (a node is counted under the first that rejects it, see [`Filter`]): the
//! node is ready and active; it carries the labels of the environment's node selector; it
//! satisfies the service's placement constraints (`node.labels.KEY`, `node.hostname`,
//! `node.id`, `node.role`, `node.platform.os`; `==` and `!=`); it runs fewer than
//! `max_replicas_per_node` tasks of the service; none of the service's host-mode published
//! ports is taken on it; its unreserved CPU and memory cover the task's reservations. The
//! environment's quota is checked first, for the task rather than per node.
//!
//! Scoring: spread the service's tasks over the values of its `placement.preferences` (one
//! level per preference), then over nodes (fewest tasks of the service), then the least loaded
//! node (fewest tasks), then the tie-break order (node id, or a seeded hash of it). The tree
//! and heaps that keep this from scanning the cluster per task are described in `place.rs` and
//! `docs/scheduling.md`.
//!
//! Everything is deterministic: the same input and batch give the same decisions.

mod attrs;
mod build;
mod filter;
mod hash;
mod input;
mod place;
mod reason;

use hash::FxHashMap;

pub use attrs::{constraint_holds, node_attribute, NODE_OS, NODE_ROLE};
pub use build::InputBuilder;
pub use filter::node_eligible;
pub use input::SchedulingInput;
pub use reason::{Decision, Filter, Rejected, Unplaced};

use crate::objects::{Slot, Task};

/// Decides where each task of `pending` goes, in order, and records every placement in
/// `input`, so that the batch never counts a node's room twice.
///
/// Tasks pinned to a node (a global service's, [`Slot::Node`]) are decided first: each may
/// only go to its node, and is assigned there if the node passes every filter. The others are
/// taken service by service, in the order each service first appears in `pending`, and spread
/// as the module documentation says. Pass only tasks to place (pending, wanted running); a
/// task's `node` field is not looked at.
pub fn schedule(input: &mut SchedulingInput, pending: &[&Task]) -> Vec<Decision> {
    let mut out: Vec<Option<Decision>> = vec![None; pending.len()];
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut group_of: FxHashMap<usize, usize> = FxHashMap::default();
    let mut key = String::new();
    for (i, task) in pending.iter().enumerate() {
        let Some(s) = input.service_of(task, &mut key) else {
            out[i] = Some(unplaced(task, Unplaced::NoSuchService));
            continue;
        };
        if let Slot::Node(node) = &task.slot {
            out[i] = Some(place_pinned(input, s, task, node));
            continue;
        }
        let g = *group_of.entry(s).or_insert_with(|| {
            groups.push((s, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    for (s, tasks) in groups {
        place_service(input, s, &tasks, pending, &mut out);
    }
    out.into_iter()
        .map(|d| d.expect("every pending task gets a decision"))
        .collect()
}

fn unplaced(task: &Task, reason: Unplaced) -> Decision {
    Decision::Unplaced {
        task: task.id.clone(),
        reason,
    }
}

/// A task that may only go to `node`.
fn place_pinned(
    input: &mut SchedulingInput,
    s: usize,
    task: &Task,
    node: &crate::objects::Name,
) -> Decision {
    let Some(n) = input.node_of(node) else {
        return unplaced(task, Unplaced::NoSuchNode { node: node.clone() });
    };
    if let Some(excess) = input.quota_excess(s) {
        let env = input.envs[input.services[s].env as usize].name.clone();
        return unplaced(task, Unplaced::QuotaExceeded { env, excess });
    }
    if input.reject(s, n).is_some() {
        return unplaced(task, input.explain(s, std::iter::once(n)));
    }
    input.record(s, n);
    Decision::Assign {
        task: task.id.clone(),
        node: input.nodes[n].id.clone(),
    }
}

/// The unpinned pending tasks of service `s`, in order. Once one cannot be placed, none of the
/// rest can (nothing changed in between), and they share its reason.
fn place_service(
    input: &mut SchedulingInput,
    s: usize,
    tasks: &[usize],
    pending: &[&Task],
    out: &mut [Option<Decision>],
) {
    let mut tree = place::Tree::build(input, s);
    let mut failed: Option<Unplaced> = None;
    for &i in tasks {
        let task = pending[i];
        if failed.is_none() {
            if let Some(excess) = input.quota_excess(s) {
                let env = input.envs[input.services[s].env as usize].name.clone();
                failed = Some(Unplaced::QuotaExceeded { env, excess });
            } else if let Some(n) = tree.pick(input, s) {
                input.record(s, n);
                out[i] = Some(Decision::Assign {
                    task: task.id.clone(),
                    node: input.nodes[n].id.clone(),
                });
                continue;
            } else {
                failed = Some(input.explain(s, 0..input.nodes.len()));
            }
        }
        if let Some(reason) = &failed {
            out[i] = Some(unplaced(task, reason.clone()));
        }
    }
}

#[cfg(test)]
mod tests;
