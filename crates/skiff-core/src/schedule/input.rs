//! The scheduler's view of the cluster, built once from the state and kept up to date as a batch
//! is placed: every node with what is left of it, every service with its requirements and its
//! tasks per node, every environment with what its tasks reserve.

use std::net::IpAddr;

use skiff_api::{PortMode, ServiceSpec};

use super::attrs::{Attributes, Compiled, Label};
use super::hash::FxHashMap;
use super::place::Layout;
use crate::objects::{Availability, Name, NodeStatus, Quota, Task};

/// What the scheduler decides from. Build it with [`SchedulingInput::builder`] (or
/// [`SchedulingInput::from_state`]), then hand it to [`super::schedule`], which records every
/// placement it makes in it, so that a batch (or the next batch over the same input) never
/// counts a node's room twice. Rebuild it from the state when the state changed in ways the
/// scheduler did not make (a node joined, a task stopped, a plan was refused).
#[derive(Debug)]
pub struct SchedulingInput {
    /// Nodes in tie-break order: by id, or by a seeded hash of the id.
    pub(super) nodes: Vec<NodeSlot>,
    /// What scoring reads of every node, by node index, kept apart from [`NodeSlot`] so that a
    /// pass over thousands of nodes touches a few bytes of each: its tasks that are not over,
    /// of every service (its load)…
    pub(super) load: Vec<u32>,
    /// …and whether new tasks may go to it at all (ready and active).
    pub(super) open: Vec<bool>,
    /// Scratch for one service's tasks per node while its tree is built; all zero between uses.
    pub(super) scratch: Vec<u32>,
    pub(super) node_index: FxHashMap<String, u32>,
    pub(super) attrs: Attributes,
    pub(super) envs: Vec<EnvSlot>,
    pub(super) services: Vec<ServiceSlot>,
    /// Service index by `env/app/service`.
    pub(super) service_index: FxHashMap<String, u32>,
    /// Distinct (environment, constraints) pairs, with the nodes that satisfy them once asked.
    pub(super) signatures: Vec<Signature>,
    /// Distinct (signature, preferences) pairs, with their preference tree once asked.
    pub(super) layouts: Vec<LayoutSlot>,
}

/// A signature with a list of spread preferences, and the shape of their tree once asked.
#[derive(Debug)]
pub(super) struct LayoutSlot {
    pub(super) signature: u32,
    pub(super) preferences: Vec<u32>,
    pub(super) layout: Option<Layout>,
}

/// One node as the scheduler sees it.
#[derive(Debug)]
pub(super) struct NodeSlot {
    pub(super) id: Name,
    pub(super) status: NodeStatus,
    pub(super) availability: Availability,
    /// Allocatable CPU (thousandths) not reserved by its tasks; negative when over-committed
    /// before the scheduler saw it (allocatable lowered under running tasks).
    pub(super) free_cpu: i64,
    /// Allocatable memory (bytes) not reserved by its tasks.
    pub(super) free_memory: i64,
    /// Host-mode published ports its tasks hold.
    pub(super) ports: Vec<HostPort>,
}

/// A host-mode published port: it takes the port on the node the task runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HostPort {
    pub(super) protocol: skiff_api::Protocol,
    pub(super) port: u16,
    /// `None` for every address of the node.
    pub(super) ip: Option<IpAddr>,
}

impl HostPort {
    /// Whether two bindings cannot share a node.
    pub(super) fn conflicts(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.ip.is_none() || other.ip.is_none() || self.ip == other.ip)
    }

    pub(super) fn of(spec: &ServiceSpec) -> Vec<HostPort> {
        spec.ports
            .iter()
            .filter(|p| p.mode == PortMode::Host)
            .filter_map(|p| {
                Some(HostPort {
                    protocol: p.protocol,
                    port: p.published?,
                    ip: p.host_ip.filter(|ip| !ip.is_unspecified()),
                })
            })
            .collect()
    }
}

/// One environment: its node selector, its quota and what its tasks reserve.
#[derive(Debug)]
pub(super) struct EnvSlot {
    pub(super) name: Name,
    pub(super) quota: Quota,
    pub(super) selector: Vec<Label>,
    pub(super) used: Usage,
}

/// What a set of tasks reserves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Usage {
    pub(super) cpu: u64,
    pub(super) memory: u64,
    pub(super) tasks: u64,
}

/// One service: what each of its tasks needs, and where its tasks are.
#[derive(Debug)]
pub(super) struct ServiceSlot {
    pub(super) env: u32,
    pub(super) signature: u32,
    /// Its preference tree's shape, in [`SchedulingInput::layout`].
    pub(super) layout: u32,
    /// Reservation per task: CPU thousandths and bytes.
    pub(super) cpu: u64,
    pub(super) memory: u64,
    pub(super) max_per_node: Option<u32>,
    pub(super) ports: Vec<HostPort>,
    /// The spec's constraints, for explanations (compiled in the signature, same order).
    pub(super) constraints: Vec<skiff_api::Constraint>,
    /// Its tasks per node index.
    pub(super) counts: FxHashMap<u32, Counts>,
}

/// A service's tasks on one node.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    /// Tasks that are not over and that the control plane wants running: what spreading
    /// counts (a task being shut down for an update does not hold its place).
    pub(super) running: u32,
    /// Tasks that are not over, whatever their desired state: what `max_replicas_per_node`
    /// counts, since they still run.
    pub(super) occupying: u32,
}

/// An environment with a list of constraints, and the nodes that satisfy both (computed once,
/// on first use: the node selector and the constraints do not change while placing).
#[derive(Debug)]
pub(super) struct Signature {
    pub(super) env: u32,
    pub(super) constraints: Vec<Compiled>,
    pub(super) eligible: Option<Vec<u32>>,
}

impl SchedulingInput {
    /// How many nodes the input holds.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The index of a task's service, using `key` as a scratch buffer.
    pub(super) fn service_of(&self, task: &Task, key: &mut String) -> Option<usize> {
        key.clear();
        key.push_str(task.env.as_str());
        key.push('/');
        key.push_str(task.app.as_str());
        key.push('/');
        key.push_str(task.service.as_str());
        self.service_index.get(key.as_str()).map(|s| *s as usize)
    }

    /// The index of a node by id.
    pub(super) fn node_of(&self, id: &Name) -> Option<usize> {
        self.node_index.get(id.as_str()).map(|n| *n as usize)
    }

    /// Records a task of service `s` placed on node `n`.
    pub(super) fn record(&mut self, s: usize, n: usize) {
        let service = &mut self.services[s];
        let node = &mut self.nodes[n];
        node.free_cpu = node.free_cpu.saturating_sub(clamp(service.cpu));
        node.free_memory = node.free_memory.saturating_sub(clamp(service.memory));
        self.load[n] += 1;
        node.ports.extend_from_slice(&service.ports);
        let counts = service.counts.entry(n as u32).or_default();
        counts.running += 1;
        counts.occupying += 1;
        let used = &mut self.envs[service.env as usize].used;
        used.cpu = used.cpu.saturating_add(service.cpu);
        used.memory = used.memory.saturating_add(service.memory);
        used.tasks += 1;
    }

    /// The nodes that satisfy signature `sig`'s node selector and constraints, whatever their
    /// status and availability.
    pub(super) fn eligible(&mut self, sig: usize) -> &[u32] {
        if self.signatures[sig].eligible.is_none() {
            let signature = &self.signatures[sig];
            let selector = &self.envs[signature.env as usize].selector;
            let eligible = (0..self.nodes.len())
                .filter(|&n| {
                    selector.iter().all(|l| self.attrs.carries(l, n))
                        && signature.constraints.iter().all(|c| self.attrs.holds(c, n))
                })
                .map(|n| n as u32)
                .collect();
            self.signatures[sig].eligible = Some(eligible);
        }
        self.signatures[sig].eligible.as_deref().unwrap_or_default()
    }

    /// The index of service `s`'s preference tree shape, computed on first use.
    pub(super) fn layout_of(&mut self, s: usize) -> usize {
        let l = self.services[s].layout as usize;
        if self.layouts[l].layout.is_none() {
            let sig = self.layouts[l].signature as usize;
            self.eligible(sig);
            let eligible = self.signatures[sig].eligible.as_deref().unwrap_or_default();
            let layout = Layout::new(self, eligible, &self.layouts[l].preferences);
            self.layouts[l].layout = Some(layout);
        }
        l
    }

    /// A preference tree shape [`SchedulingInput::layout_of`] computed.
    pub(super) fn layout(&self, l: usize) -> &Layout {
        self.layouts[l]
            .layout
            .as_ref()
            .expect("layout_of computes the layout first")
    }
}

pub(super) fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn service_key(env: &str, app: &str, service: &Name) -> String {
    format!("{env}/{app}/{service}")
}
