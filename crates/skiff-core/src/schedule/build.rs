//! Building a [`SchedulingInput`] from the cluster's objects: nodes in tie-break order, their
//! attributes interned, services compiled to signatures and layouts, and every task that holds
//! a node counted against it, its service and its environment.

use skiff_api::ServiceSpec;

use super::attrs::{Attributes, Compiled};
use super::hash::{hash_str, FxHashMap};
use super::input::{clamp, service_key, EnvSlot, HostPort, LayoutSlot, NodeSlot, SchedulingInput};
use super::input::{ServiceSlot, Signature, Usage};
use crate::objects::{App, Availability, DesiredState, Environment, Kind, Name, Node};
use crate::objects::{NodeStatus, Object, Quota, Service, Task};
use crate::state::State;

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
            if task.desired == DesiredState::Running {
                counts.running += 1;
            }
        }
    }
}
