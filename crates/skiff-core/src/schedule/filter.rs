//! The filters: which nodes may take a task of a service, and, when none may, why not.
//!
//! Filters run in a fixed order and a node is counted under the first that rejects it: the
//! node's state (down, paused, drained), the environment's node selector, the placement
//! constraints, then what changes as tasks are placed — `max_replicas_per_node`, host ports,
//! CPU, memory. The environment's quota is not about nodes and is checked before any of them.

use skiff_api::{ByteSize, Cpus, Placement};

use super::attrs::constraint_holds;
use super::input::{clamp, SchedulingInput};
use super::reason::{Filter, Rejected, Unplaced};
use crate::objects::{Availability, Environment, Node, NodeStatus};
use crate::plan::QuotaExcess;

/// Whether a node may ever take tasks of a service with `placement` in environment `env`,
/// leaving aside what changes as tasks are placed (resources, ports, replicas per node): the
/// first filter that rejects it, in the scheduler's order. The orchestrator asks this to know
/// on which nodes a global service should have a task.
pub fn node_eligible(
    node: &Node,
    env: Option<&Environment>,
    placement: &Placement,
) -> Result<(), Filter> {
    if node.status == NodeStatus::Down {
        return Err(Filter::Down);
    }
    match node.availability {
        Availability::Active => {}
        Availability::Pause => return Err(Filter::Paused),
        Availability::Drain => return Err(Filter::Drained),
    }
    if let Some(env) = env {
        if !env
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
        {
            return Err(Filter::NodeSelector {
                env: env.name.clone(),
            });
        }
    }
    match placement
        .constraints
        .iter()
        .find(|c| !constraint_holds(node, c))
    {
        Some(c) => Err(Filter::Constraint(c.clone())),
        None => Ok(()),
    }
}

/// A filter that rejected a node, by position: compact, ordered as the filters run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Reject {
    Down,
    Paused,
    Drained,
    NodeSelector,
    Constraint(usize),
    MaxReplicas,
    Port(usize),
    Cpus,
    Memory,
}

impl SchedulingInput {
    /// The first filter that rejects node `n` for a task of service `s`, or `None` if it fits.
    pub(super) fn reject(&self, s: usize, n: usize) -> Option<Reject> {
        let node = &self.nodes[n];
        if node.status == NodeStatus::Down {
            return Some(Reject::Down);
        }
        match node.availability {
            Availability::Active => {}
            Availability::Pause => return Some(Reject::Paused),
            Availability::Drain => return Some(Reject::Drained),
        }
        let service = &self.services[s];
        let signature = &self.signatures[service.signature as usize];
        let selector = &self.envs[service.env as usize].selector;
        if !selector.iter().all(|l| self.attrs.carries(l, n)) {
            return Some(Reject::NodeSelector);
        }
        if let Some(i) = signature
            .constraints
            .iter()
            .position(|c| !self.attrs.holds(c, n))
        {
            return Some(Reject::Constraint(i));
        }
        self.reject_now(s, n)
    }

    /// The first filter that rejects node `n` for a task of service `s` among those that
    /// change as tasks are placed, or `None` if it fits.
    pub(super) fn reject_now(&self, s: usize, n: usize) -> Option<Reject> {
        let node = &self.nodes[n];
        let service = &self.services[s];
        if let Some(max) = service.max_per_node {
            let here = service.counts.get(&(n as u32)).map_or(0, |c| c.occupying);
            if here >= max {
                return Some(Reject::MaxReplicas);
            }
        }
        if let Some(i) = service
            .ports
            .iter()
            .position(|p| node.ports.iter().any(|q| p.conflicts(q)))
        {
            return Some(Reject::Port(i));
        }
        if service.cpu > 0 && node.free_cpu < clamp(service.cpu) {
            return Some(Reject::Cpus);
        }
        if service.memory > 0 && node.free_memory < clamp(service.memory) {
            return Some(Reject::Memory);
        }
        None
    }

    /// The quota limit a task of service `s` would take its environment over, if any. Only
    /// the limits the task adds to are checked: a task reserving no CPU is not held back by an
    /// environment over its CPU quota.
    pub(super) fn quota_excess(&self, s: usize) -> Option<QuotaExcess> {
        let service = &self.services[s];
        let env = &self.envs[service.env as usize];
        let (quota, used) = (env.quota, env.used);
        if let Some(limit) = quota.max_cpus.filter(|_| service.cpu > 0) {
            let requested = used.cpu.saturating_add(service.cpu);
            if requested > limit.millis() {
                return Some(QuotaExcess::Cpus {
                    requested: Cpus::from_millis(requested),
                    limit,
                });
            }
        }
        if let Some(limit) = quota.max_memory.filter(|_| service.memory > 0) {
            let requested = used.memory.saturating_add(service.memory);
            if requested > limit.0 {
                return Some(QuotaExcess::Memory {
                    requested: ByteSize(requested),
                    limit,
                });
            }
        }
        if let Some(limit) = quota.max_tasks {
            let requested = used.tasks + 1;
            if requested > u64::from(limit) {
                return Some(QuotaExcess::Tasks { requested, limit });
            }
        }
        None
    }

    /// Why no node among `nodes` takes a task of service `s`: each node counted under the
    /// first filter that rejects it.
    pub(super) fn explain(&self, s: usize, nodes: impl Iterator<Item = usize>) -> Unplaced {
        let mut counts: Vec<(Reject, u32)> = Vec::new();
        let mut total = 0;
        for n in nodes {
            total += 1;
            let Some(why) = self.reject(s, n) else {
                debug_assert!(false, "node {n} fits but was not chosen");
                continue;
            };
            match counts.iter_mut().find(|(r, _)| *r == why) {
                Some((_, count)) => *count += 1,
                None => counts.push((why, 1)),
            }
        }
        counts.sort();
        Unplaced::NoSuitableNode {
            nodes: total,
            rejected: counts
                .into_iter()
                .map(|(why, nodes)| Rejected {
                    filter: self.filter(s, why),
                    nodes,
                })
                .collect(),
        }
    }

    /// The public description of a rejection of a task of service `s`.
    pub(super) fn filter(&self, s: usize, why: Reject) -> Filter {
        let service = &self.services[s];
        match why {
            Reject::Down => Filter::Down,
            Reject::Paused => Filter::Paused,
            Reject::Drained => Filter::Drained,
            Reject::NodeSelector => Filter::NodeSelector {
                env: self.envs[service.env as usize].name.clone(),
            },
            Reject::Constraint(i) => Filter::Constraint(service.constraints[i].clone()),
            Reject::MaxReplicas => Filter::MaxReplicasPerNode {
                max: service.max_per_node.unwrap_or(0),
            },
            Reject::Port(i) => Filter::HostPort {
                published: service.ports[i].port,
                protocol: service.ports[i].protocol,
            },
            Reject::Cpus => Filter::Cpus {
                needed: Cpus::from_millis(service.cpu),
            },
            Reject::Memory => Filter::Memory {
                needed: ByteSize(service.memory),
            },
        }
    }
}
