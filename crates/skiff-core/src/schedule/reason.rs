//! What the scheduler decided, and why a task could not be placed.

use std::fmt;

use skiff_api::{ByteSize, Constraint, ConstraintOp, Cpus, Protocol};

use crate::objects::Name;
use crate::plan::QuotaExcess;

/// The scheduler's answer for one pending task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Put the task on this node.
    Assign {
        /// The task's id.
        task: Name,
        /// The node's id.
        node: Name,
    },
    /// Leave the task pending, for this reason.
    Unplaced {
        /// The task's id.
        task: Name,
        /// Why no node could take it.
        reason: Unplaced,
    },
}

impl Decision {
    /// The task decided on.
    pub fn task(&self) -> &Name {
        match self {
            Decision::Assign { task, .. } | Decision::Unplaced { task, .. } => task,
        }
    }

    /// The node the task goes to, if it was placed.
    pub fn node(&self) -> Option<&Name> {
        match self {
            Decision::Assign { node, .. } => Some(node),
            Decision::Unplaced { .. } => None,
        }
    }
}

/// Why a task stays pending. Its [`fmt::Display`] is the message `skiff ps` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaced {
    /// Every node was rejected by some filter; how many by which, in the filters' order
    /// ([`Filter`]), each node counted once, under the first filter that rejected it.
    NoSuitableNode {
        /// How many nodes were considered (all the cluster's, or the one a pinned task names).
        nodes: u32,
        /// The filters that rejected them, with how many nodes each; only non-zero counts.
        rejected: Vec<Rejected>,
    },
    /// The task's environment has no room left in its quota, whatever the node.
    QuotaExceeded {
        /// The environment.
        env: Name,
        /// Which limit, with what the environment would reserve with the task.
        excess: QuotaExcess,
    },
    /// The task's service is not in the scheduler's input (it was deleted).
    NoSuchService,
    /// The task is pinned to a node (a global service's task) that is not in the cluster.
    NoSuchNode {
        /// The node it names.
        node: Name,
    },
}

/// How many nodes one filter rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The filter.
    pub filter: Filter,
    /// How many nodes it rejected (that no earlier filter had).
    pub nodes: u32,
}

/// One of the scheduler's filters, in the order they are applied; those that name something
/// (a constraint, a port) are one filter per thing named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The node's agent is not sending heartbeats.
    Down,
    /// The node is paused: no new tasks.
    Paused,
    /// The node is drained: no tasks.
    Drained,
    /// The node lacks a label of the environment's node selector.
    NodeSelector {
        /// The environment.
        env: Name,
    },
    /// The node does not satisfy a placement constraint.
    Constraint(Constraint),
    /// The node already runs `max_replicas_per_node` tasks of the service.
    MaxReplicasPerNode {
        /// The limit.
        max: u32,
    },
    /// A host-mode published port of the service is already in use on the node.
    HostPort {
        /// The port.
        published: u16,
        /// Its protocol.
        protocol: Protocol,
    },
    /// The node has fewer CPUs left unreserved than the task reserves.
    Cpus {
        /// What the task reserves.
        needed: Cpus,
    },
    /// The node has less memory left unreserved than the task reserves.
    Memory {
        /// What the task reserves.
        needed: ByteSize,
    },
}

/// `node.labels.zone == east`, as written in a compose file.
pub(super) struct ShowConstraint<'a>(pub(super) &'a Constraint);

impl fmt::Display for ShowConstraint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.0.operator {
            ConstraintOp::Eq => "==",
            ConstraintOp::Ne => "!=",
        };
        write!(f, "{} {op} {}", self.0.attribute, self.0.value)
    }
}

impl fmt::Display for Rejected {
    /// `3 nodes down`, `1 node not matching node.labels.zone == east`, ….
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nodes;
        write!(f, "{n} node{}", if n == 1 { "" } else { "s" })?;
        match &self.filter {
            Filter::Down => write!(f, " down"),
            Filter::Paused => write!(f, " paused"),
            Filter::Drained => write!(f, " drained"),
            Filter::NodeSelector { env } => {
                write!(f, " outside environment {env}'s node selector")
            }
            Filter::Constraint(c) => write!(f, " not matching {}", ShowConstraint(c)),
            Filter::MaxReplicasPerNode { max } => write!(
                f,
                " already running {max} task{} of the service (max_replicas_per_node)",
                if *max == 1 { "" } else { "s" }
            ),
            Filter::HostPort {
                published,
                protocol,
            } => write!(f, " with port {published}/{} in use", protocol.as_str()),
            Filter::Cpus { needed } => write!(f, " with less than {needed} CPUs unreserved"),
            Filter::Memory { needed } => write!(f, " with less than {needed} of memory unreserved"),
        }
    }
}

impl fmt::Display for Unplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unplaced::NoSuitableNode { nodes: 0, .. } => {
                write!(f, "no suitable node (the cluster has no nodes)")
            }
            Unplaced::NoSuitableNode { rejected, .. } => {
                write!(f, "no suitable node (")?;
                for (i, r) in rejected.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{r}")?;
                }
                write!(f, ")")
            }
            Unplaced::QuotaExceeded { env, excess } => {
                write!(f, "environment {env} is at its quota: {excess}")
            }
            Unplaced::NoSuchService => write!(f, "its service no longer exists"),
            Unplaced::NoSuchNode { node } => {
                write!(f, "node {node} it is pinned to is not in the cluster")
            }
        }
    }
}
