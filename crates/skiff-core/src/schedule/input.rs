//! The scheduler's view of the cluster, built once from the state and kept up to date as a batch
//! is placed: every node with what is left of it, every service with its requirements and its
//! tasks per node, every environment with what its tasks reserve.

use std::net::IpAddr;

use skiff_api::{PortMode, ServiceSpec};

use super::attrs::{Attributes, Compiled, Label};
use super::hash::{hash_str, FxHashMap};
use super::place::Layout;
use crate::objects::{App, Availability, Environment, Kind, Name, Node, NodeStatus, Object};
use crate::objects::{Quota, Service, Task};
use crate::state::State;

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
    node_index: FxHashMap<String, u32>,
    pub(super) attrs: Attributes,
    pub(super) envs: Vec<EnvSlot>,
    pub(super) services: Vec<ServiceSlot>,
    /// Service index by `env/app/service`.
    service_index: FxHashMap<String, u32>,
    /// Distinct (environment, constraints) pairs, with the nodes that satisfy them once asked.
    pub(super) signatures: Vec<Signature>,
    /// Distinct (signature, preferences) pairs, with their preference tree once asked.
    layouts: Vec<LayoutSlot>,
}

/// A signature with a list of spread preferences, and the shape of their tree once asked.
#[derive(Debug)]
struct LayoutSlot {
    signature: u32,
    preferences: Vec<u32>,
    layout: Option<Layout>,
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

    fn of(spec: &ServiceSpec) -> Vec<HostPort> {
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
    layout: u32,
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

/// Collects the objects a [`SchedulingInput`] is built from.
#[derive(Debug, Default)]
pub struct InputBuilder<'a> {
    seed: Option<u64>,
    nodes: Vec<&'a Node>,
    envs: Vec<&'a Environment>,
    apps: Vec<&'a App>,
    services: Vec<&'a Service>,
    tasks: Vec<&'a Task>,
}

impl<'a> InputBuilder<'a> {
    /// Breaks ties between equally good nodes by a hash of their id seeded with `seed`
    /// instead of by their id, so that repeated rounds do not all favour the same first nodes.
    /// The result is as deterministic as without: the same seed, the same decisions.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The cluster's nodes.
    pub fn nodes(mut self, nodes: impl IntoIterator<Item = &'a Node>) -> Self {
        self.nodes.extend(nodes);
        self
    }

    /// The environments (node selectors and quotas); a service whose environment is not given
    /// has neither.
    pub fn environments(mut self, envs: impl IntoIterator<Item = &'a Environment>) -> Self {
        self.envs.extend(envs);
        self
    }

    /// The apps, whose spec history gives the reservations and ports of tasks that still run
    /// an earlier spec revision of their service.
    pub fn apps(mut self, apps: impl IntoIterator<Item = &'a App>) -> Self {
        self.apps.extend(apps);
        self
    }

    /// The services pending tasks may belong to.
    pub fn services(mut self, services: impl IntoIterator<Item = &'a Service>) -> Self {
        self.services.extend(services);
        self
    }

    /// The tasks; those assigned to a node and not over count against it. Unassigned ones
    /// are ignored here (pass the ones to place to [`super::schedule`]).
    pub fn tasks(mut self, tasks: impl IntoIterator<Item = &'a Task>) -> Self {
        self.tasks.extend(tasks);
        self
    }

    /// Builds the input.
    pub fn build(mut self) -> SchedulingInput {
        match self.seed {
            None => self.nodes.sort_by(|a, b| a.id.cmp(&b.id)),
            Some(seed) => self
                .nodes
                .sort_by_cached_key(|n| (hash_str(n.id.as_str(), seed), n.id.clone())),
        }
        self.nodes.dedup_by(|a, b| a.id == b.id);
        let mut input = SchedulingInput {
            nodes: self.nodes.iter().map(|n| NodeSlot::new(n)).collect(),
            load: vec![0; self.nodes.len()],
            open: self
                .nodes
                .iter()
                .map(|n| n.status == NodeStatus::Ready && n.availability == Availability::Active)
                .collect(),
            scratch: vec![0; self.nodes.len()],
            node_index: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.id.as_str().to_owned(), i as u32))
                .collect(),
            attrs: Attributes::default(),
            envs: Vec::new(),
            services: Vec::new(),
            service_index: FxHashMap::default(),
            signatures: Vec::new(),
            layouts: Vec::new(),
        };
        let mut env_index = FxHashMap::default();
        for env in &self.envs {
            let selector = env
                .node_selector
                .iter()
                .map(|(k, v)| input.attrs.compile_label(k, v, &self.nodes))
                .collect();
            env_index.insert(env.name.clone(), input.envs.len() as u32);
            input.envs.push(EnvSlot {
                name: env.name.clone(),
                quota: env.quota,
                selector,
                used: Usage::default(),
            });
        }
        let mut signatures = FxHashMap::default();
        let mut layouts = FxHashMap::default();
        for service in &self.services {
            let env = *env_index.entry(service.env.clone()).or_insert_with(|| {
                input.envs.push(EnvSlot {
                    name: service.env.clone(),
                    quota: Quota::default(),
                    selector: Vec::new(),
                    used: Usage::default(),
                });
                input.envs.len() as u32 - 1
            });
            input.add_service(service, env, &self.nodes, &mut signatures, &mut layouts);
        }
        let specs = Specs::new(&self.apps, &self.services);
        for task in &self.tasks {
            input.count_task(task, &specs, &env_index);
        }
        input
    }
}

impl NodeSlot {
    fn new(node: &Node) -> Self {
        Self {
            id: node.id.clone(),
            status: node.status,
            availability: node.availability,
            free_cpu: i64::try_from(node.allocatable.cpus.millis()).unwrap_or(i64::MAX),
            free_memory: i64::try_from(node.allocatable.memory.0).unwrap_or(i64::MAX),
            ports: Vec::new(),
        }
    }
}

/// Finds the spec a task was made from: its service's, or an earlier one in its app's history.
struct Specs<'a> {
    apps: FxHashMap<(&'a str, &'a str), &'a App>,
    services: FxHashMap<(&'a str, &'a str, &'a str), &'a Service>,
}

impl<'a> Specs<'a> {
    fn new(apps: &[&'a App], services: &[&'a Service]) -> Self {
        Self {
            apps: apps
                .iter()
                .map(|a| ((a.env.as_str(), a.name.as_str()), *a))
                .collect(),
            services: services
                .iter()
                .map(|s| ((s.env.as_str(), s.app.as_str(), s.name.as_str()), *s))
                .collect(),
        }
    }

    /// The spec of `task`'s revision if it is known, else its service's current spec. A task
    /// whose app is gone altogether reserves nothing here: nothing says what it reserved.
    fn of(&self, task: &Task) -> Option<&'a ServiceSpec> {
        let service =
            self.services
                .get(&(task.env.as_str(), task.app.as_str(), task.service.as_str()));
        if let Some(s) = service.filter(|s| s.spec_revision == task.spec_revision) {
            return Some(&s.spec);
        }
        let app = self.apps.get(&(task.env.as_str(), task.app.as_str()));
        let from_app = app.and_then(|app| {
            let spec = if app.spec_revision == task.spec_revision {
                Some(&app.spec)
            } else {
                app.history
                    .iter()
                    .find(|h| h.spec_revision == task.spec_revision)
                    .map(|h| &h.spec)
            };
            spec?.services.get(task.service.as_str())
        });
        from_app.or(service.map(|s| &s.spec))
    }
}

impl SchedulingInput {
    /// Starts an input from plain objects.
    pub fn builder<'a>() -> InputBuilder<'a> {
        InputBuilder::default()
    }

    /// An input over everything `state` holds: its nodes, environments, apps, services and
    /// tasks.
    pub fn from_state(state: &State) -> Self {
        let records = |kind: Kind| state.list(&kind.prefix());
        let (nodes, envs, apps, services, tasks) = (
            records(Kind::Node),
            records(Kind::Environment),
            records(Kind::App),
            records(Kind::Service),
            records(Kind::Task),
        );
        let builder = Self::builder()
            .nodes(nodes.iter().filter_map(|r| match &r.object {
                Object::Node(n) => Some(n),
                _ => None,
            }))
            .environments(envs.iter().filter_map(|r| match &r.object {
                Object::Environment(e) => Some(e),
                _ => None,
            }))
            .apps(apps.iter().filter_map(|r| match &r.object {
                Object::App(a) => Some(a),
                _ => None,
            }))
            .services(services.iter().filter_map(|r| match &r.object {
                Object::Service(s) => Some(s.as_ref()),
                _ => None,
            }))
            .tasks(tasks.iter().filter_map(|r| match &r.object {
                Object::Task(t) => Some(t),
                _ => None,
            }));
        builder.build()
    }

    /// How many nodes the input holds.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn add_service(
        &mut self,
        service: &Service,
        env: u32,
        nodes: &[&Node],
        signatures: &mut FxHashMap<(u32, Vec<Compiled>), u32>,
        layouts: &mut FxHashMap<(u32, Vec<u32>), u32>,
    ) {
        let placement = &service.spec.deploy.placement;
        let compiled: Vec<Compiled> = placement
            .constraints
            .iter()
            .map(|c| self.attrs.compile(c, nodes))
            .collect();
        let next = self.signatures.len() as u32;
        let signature = *signatures.entry((env, compiled.clone())).or_insert(next);
        if signature == next {
            self.signatures.push(Signature {
                env,
                constraints: compiled,
                eligible: None,
            });
        }
        let preferences: Vec<u32> = placement
            .preferences
            .iter()
            .map(|p| self.attrs.intern(&p.spread, nodes))
            .collect();
        let next = self.layouts.len() as u32;
        let layout = *layouts
            .entry((signature, preferences.clone()))
            .or_insert(next);
        if layout == next {
            self.layouts.push(LayoutSlot {
                signature,
                preferences,
                layout: None,
            });
        }
        let reserved = service.spec.deploy.resources.reservations;
        let key = service_key(service.env.as_str(), service.app.as_str(), &service.name);
        self.service_index.insert(key, self.services.len() as u32);
        self.services.push(ServiceSlot {
            env,
            signature,
            layout,
            cpu: reserved.cpus.map_or(0, |c| c.millis()),
            memory: reserved.memory.map_or(0, |m| m.0),
            max_per_node: placement.max_replicas_per_node,
            ports: HostPort::of(&service.spec),
            constraints: placement.constraints.clone(),
            counts: FxHashMap::default(),
        });
    }

    /// Counts a task that holds a node (assigned and not over) against its node, its service
    /// and its environment.
    fn count_task(&mut self, task: &Task, specs: &Specs<'_>, env_index: &FxHashMap<Name, u32>) {
        let Some(node) = &task.node else {
            return;
        };
        if task.observed.is_terminal() {
            return;
        }
        let spec = specs.of(task);
        let reserved = spec.map(|s| s.deploy.resources.reservations);
        let cpu = reserved.and_then(|r| r.cpus).map_or(0, |c| c.millis());
        let memory = reserved.and_then(|r| r.memory).map_or(0, |m| m.0);
        if let Some(env) = env_index.get(&task.env) {
            let used = &mut self.envs[*env as usize].used;
            used.cpu = used.cpu.saturating_add(cpu);
            used.memory = used.memory.saturating_add(memory);
            used.tasks += 1;
        }
        let Some(n) = self.node_index.get(node.as_str()).copied() else {
            return;
        };
        let slot = &mut self.nodes[n as usize];
        slot.free_cpu = slot.free_cpu.saturating_sub(clamp(cpu));
        slot.free_memory = slot.free_memory.saturating_sub(clamp(memory));
        self.load[n as usize] += 1;
        if let Some(spec) = spec {
            slot.ports.extend(HostPort::of(spec));
        }
        let key = service_key(task.env.as_str(), task.app.as_str(), &task.service);
        if let Some(s) = self.service_index.get(&key) {
            let counts = self.services[*s as usize].counts.entry(n).or_default();
            counts.occupying += 1;
            if task.desired == crate::objects::DesiredState::Running {
                counts.running += 1;
            }
        }
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

fn service_key(env: &str, app: &str, service: &Name) -> String {
    format!("{env}/{app}/{service}")
}
