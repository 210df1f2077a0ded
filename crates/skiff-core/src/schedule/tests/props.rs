//! Property: whatever the cluster and the batch, no decision breaks a filter. Checked by an
//! oracle written from the objects alone, without the scheduler's interned tables.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use skiff_api::SpreadPreference;
use skiff_api::{ByteSize, Constraint, ConstraintOp, Cpus, PortMode, PortSpec, Protocol};

use super::*;
use crate::schedule::Unplaced;

/// Constraints a service may draw.
const CONSTRAINTS: [(&str, ConstraintOp, &str); 7] = [
    ("node.labels.zone", ConstraintOp::Eq, "a"),
    ("node.labels.zone", ConstraintOp::Ne, "b"),
    ("node.labels.rack", ConstraintOp::Eq, "R1"),
    ("node.id", ConstraintOp::Ne, "n1"),
    ("node.hostname", ConstraintOp::Eq, "n2.example"),
    ("node.labels.pool", ConstraintOp::Eq, "x"),
    ("node.role", ConstraintOp::Eq, "worker"),
];

const PORTS: [(u16, Protocol); 3] = [
    (80, Protocol::Tcp),
    (81, Protocol::Tcp),
    (80, Protocol::Udp),
];

#[derive(Debug, Clone)]
struct NodeGen {
    zone: u8,
    rack: u8,
    pool: bool,
    status: u8,
    cpus: u64,
    memory: u64,
}

#[derive(Debug, Clone)]
struct ServiceGen {
    prod: bool,
    constraints: Vec<usize>,
    preferences: Vec<bool>,
    max_per_node: Option<u32>,
    cpus: Option<u64>,
    memory: Option<u64>,
    ports: Vec<usize>,
}

#[derive(Debug, Clone)]
struct TaskGen {
    service: usize,
    node: usize,
    state: u8,
}

#[derive(Debug, Clone)]
struct Scenario {
    nodes: Vec<NodeGen>,
    services: Vec<ServiceGen>,
    existing: Vec<TaskGen>,
    /// (service, pinned node: `None` for a replica, an index past the nodes for a missing one)
    pending: Vec<(usize, Option<usize>)>,
    selector: bool,
    quota: (Option<u64>, Option<u64>, Option<u32>),
    seed: Option<u64>,
}

fn node_gen() -> impl Strategy<Value = NodeGen> {
    (0..4u8, 0..3u8, any::<bool>(), 0..10u8, 0..9u64, 0..9u64).prop_map(
        |(zone, rack, pool, status, cpus, memory)| NodeGen {
            zone,
            rack,
            pool,
            status,
            cpus: cpus * 500,
            memory: memory << 29,
        },
    )
}

fn service_gen() -> impl Strategy<Value = ServiceGen> {
    (
        any::<bool>(),
        prop::collection::vec(0..CONSTRAINTS.len(), 0..3),
        prop::collection::vec(any::<bool>(), 0..3),
        prop::option::of(1..3u32),
        prop::option::of(0..5u64),
        prop::option::of(0..5u64),
        prop::collection::vec(0..PORTS.len(), 0..2),
    )
        .prop_map(
            |(prod, constraints, preferences, max_per_node, cpus, memory, ports)| ServiceGen {
                prod,
                constraints,
                preferences,
                max_per_node,
                cpus: cpus.map(|c| c * 500),
                memory: memory.map(|m| m << 29),
                ports,
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(node_gen(), 0..10),
        prop::collection::vec(service_gen(), 1..5),
    )
        .prop_flat_map(|(nodes, services)| {
            let (n, s) = (nodes.len().max(1), services.len());
            (
                Just(nodes),
                Just(services),
                prop::collection::vec(
                    (0..s, 0..n, 0..4u8).prop_map(|(service, node, state)| TaskGen {
                        service,
                        node,
                        state,
                    }),
                    0..12,
                ),
                prop::collection::vec((0..s, prop::option::weighted(0.2, 0..n + 1)), 0..25),
                any::<bool>(),
                (
                    prop::option::weighted(0.3, 0..20u64),
                    prop::option::weighted(0.3, 0..20u64),
                    prop::option::weighted(0.3, 0..15u32),
                ),
                prop::option::of(any::<u64>()),
            )
        })
        .prop_map(
            |(nodes, services, existing, pending, selector, quota, seed)| Scenario {
                nodes,
                services,
                existing,
                pending,
                selector,
                quota: (quota.0.map(|c| c * 500), quota.1.map(|m| m << 29), quota.2),
                seed,
            },
        )
}

fn port(i: usize) -> PortSpec {
    PortSpec {
        target: 8000,
        published: Some(PORTS[i].0),
        protocol: PORTS[i].1,
        host_ip: None,
        mode: PortMode::Host,
        name: None,
        app_protocol: None,
    }
}

/// The cluster and the pending tasks a scenario describes.
fn build(s: &Scenario) -> (Cluster, Vec<Task>) {
    let mut c = Cluster::with_nodes(s.nodes.iter().enumerate().map(|(i, g)| {
        let mut n = node(&format!("n{}", i + 1), &[]);
        if g.zone < 3 {
            n.labels
                .insert("zone".into(), ["a", "b", "c"][g.zone as usize].into());
        }
        if g.rack < 2 {
            // Upper and lower case: constraints compare without case.
            n.labels
                .insert("rack".into(), ["r1", "R1"][g.rack as usize].into());
        }
        if g.pool {
            n.labels.insert("pool".into(), "x".into());
        }
        n.status = if g.status == 0 {
            NodeStatus::Down
        } else {
            NodeStatus::Ready
        };
        n.availability = match g.status {
            1 => Availability::Pause,
            2 => Availability::Drain,
            _ => Availability::Active,
        };
        n.allocatable.cpus = Cpus::from_millis(g.cpus);
        n.allocatable.memory = ByteSize(g.memory);
        n
    }));
    c.envs.push(environment("prod"));
    if s.selector {
        c.envs[1].node_selector.insert("pool".into(), "x".into());
    }
    c.envs[0].quota = Quota {
        max_cpus: s.quota.0.map(Cpus::from_millis),
        max_memory: s.quota.1.map(ByteSize),
        max_tasks: s.quota.2,
    };
    c.seed = s.seed;
    for (i, g) in s.services.iter().enumerate() {
        let mut spec = web_spec("");
        let placement = &mut spec.deploy.placement;
        placement.constraints = g
            .constraints
            .iter()
            .map(|&k| Constraint {
                attribute: CONSTRAINTS[k].0.into(),
                operator: CONSTRAINTS[k].1,
                value: CONSTRAINTS[k].2.into(),
            })
            .collect();
        placement.preferences = g
            .preferences
            .iter()
            .map(|zone| SpreadPreference {
                spread: if *zone {
                    "node.labels.zone"
                } else {
                    "node.labels.rack"
                }
                .into(),
            })
            .collect();
        placement.max_replicas_per_node = g.max_per_node;
        spec.deploy.resources.reservations.cpus = g.cpus.map(Cpus::from_millis);
        spec.deploy.resources.reservations.memory = g.memory.map(ByteSize);
        spec.ports = g.ports.iter().map(|&p| port(p)).collect();
        spec.ports.dedup();
        c.service_in(if g.prod { "prod" } else { "dev" }, &format!("s{i}"), spec);
    }
    for t in &s.existing {
        if s.nodes.is_empty() {
            break;
        }
        c.running(&format!("s{}", t.service), &format!("n{}", t.node + 1));
        let last = c.tasks.last_mut().unwrap();
        match t.state {
            0 => last.observed = TaskState::Complete,
            1 => last.desired = DesiredState::Shutdown,
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for (i, (service, pin)) in s.pending.iter().enumerate() {
        let svc = format!("s{service}");
        let mut t = c.pending(&svc, 1).remove(0);
        t.id = name(&format!("p{i}"));
        if let Some(pin) = pin {
            t.slot = Slot::Node(name(&format!("n{}", pin + 1)));
        }
        pending.push(t);
    }
    (c, pending)
}

/// The oracle's reading of a constraint.
fn holds(node: &Node, c: &Constraint) -> bool {
    let value = match c.attribute.as_str() {
        "node.id" => Some(node.id.to_string()),
        "node.hostname" => Some(node.name.clone()),
        "node.role" => Some("worker".to_owned()),
        a => node
            .labels
            .get(a.trim_start_matches("node.labels."))
            .cloned(),
    };
    let equal = value.is_some_and(|v| v.to_lowercase() == c.value.to_lowercase());
    equal == (c.operator == ConstraintOp::Eq)
}

#[derive(Default, Clone, Copy)]
struct Use {
    cpu: u64,
    memory: u64,
    tasks: u64,
}

/// What the oracle adds up: per node, per environment, per (node, service), and the host
/// ports per node (with whether a new task holds it).
#[derive(Default)]
struct Tally {
    on_node: BTreeMap<String, Use>,
    in_env: BTreeMap<String, Use>,
    replicas: BTreeMap<(String, String), u32>,
    ports: BTreeMap<String, Vec<(u16, Protocol, bool)>>,
}

impl Tally {
    fn add(&mut self, spec: &ServiceSpec, t: &Task, node: &str, new: bool) {
        let r = spec.deploy.resources.reservations;
        let (cpu, memory) = (
            r.cpus.map_or(0, |c| c.millis()),
            r.memory.map_or(0, |m| m.0),
        );
        for u in [
            self.on_node.entry(node.to_owned()).or_default(),
            self.in_env.entry(t.env.to_string()).or_default(),
        ] {
            u.cpu += cpu;
            u.memory += memory;
            u.tasks += 1;
        }
        *self
            .replicas
            .entry((node.to_owned(), t.service.to_string()))
            .or_default() += 1;
        for p in &spec.ports {
            self.ports.entry(node.to_owned()).or_default().push((
                p.published.unwrap(),
                p.protocol,
                new,
            ));
        }
    }
}

/// Checks every decision against the filters, from the objects; `Err` says what broke.
fn check(c: &Cluster, pending: &[Task], decisions: &[Decision]) -> Result<(), String> {
    if decisions.len() != pending.len() {
        return Err("one decision per task".into());
    }
    let spec_of = |t: &Task| {
        c.services
            .iter()
            .find(|s| s.name == t.service)
            .map(|s| &s.spec)
    };
    let mut tally = Tally::default();
    for t in c.tasks.iter().filter(|t| !t.observed.is_terminal()) {
        tally.add(
            spec_of(t).unwrap(),
            t,
            t.node.as_ref().unwrap().as_str(),
            false,
        );
    }
    let mut placed = Vec::new();
    for (t, d) in pending.iter().zip(decisions) {
        if d.task() != &t.id {
            return Err(format!("decision {d:?} for task {}", t.id));
        }
        match d {
            Decision::Unplaced {
                reason: Unplaced::NoSuitableNode { nodes, rejected },
                ..
            } => {
                if rejected.iter().map(|r| r.nodes).sum::<u32>() != *nodes {
                    return Err(format!("counts do not add up: {d:?}"));
                }
            }
            Decision::Unplaced { .. } => {}
            Decision::Assign { node, .. } => {
                let n = c
                    .nodes
                    .iter()
                    .find(|n| n.id == *node)
                    .ok_or("no such node")?;
                let spec = spec_of(t).ok_or("no such service")?;
                let env = c.envs.iter().find(|e| e.name == t.env).unwrap();
                if let Slot::Node(pin) = &t.slot {
                    if pin != node {
                        return Err(format!("{} pinned to {pin} went to {node}", t.id));
                    }
                }
                if n.status != NodeStatus::Ready || n.availability != Availability::Active {
                    return Err(format!("{} on unavailable {node}", t.id));
                }
                if !env
                    .node_selector
                    .iter()
                    .all(|(k, v)| n.labels.get(k) == Some(v))
                {
                    return Err(format!("{} on {node} outside the selector", t.id));
                }
                let constraints = &spec.deploy.placement.constraints;
                if let Some(broken) = constraints.iter().find(|k| !holds(n, k)) {
                    return Err(format!("{} on {node} breaks {broken:?}", t.id));
                }
                tally.add(spec, t, node.as_str(), true);
                placed.push((t, n, spec, env));
            }
        }
    }
    for (t, n, spec, env) in placed {
        let node = n.id.as_str();
        let r = spec.deploy.resources.reservations;
        let (cpu, memory) = (
            r.cpus.map_or(0, |c| c.millis()),
            r.memory.map_or(0, |m| m.0),
        );
        let u = tally.on_node[node];
        if cpu > 0 && u.cpu > n.allocatable.cpus.millis() {
            return Err(format!("{node} over-committed in CPU"));
        }
        if memory > 0 && u.memory > n.allocatable.memory.0 {
            return Err(format!("{node} over-committed in memory"));
        }
        if let Some(max) = spec.deploy.placement.max_replicas_per_node {
            if tally.replicas[&(node.to_owned(), t.service.to_string())] > max {
                return Err(format!("{node} runs more than {max} of {}", t.service));
            }
        }
        let here = tally.ports.get(node).map_or(&[][..], Vec::as_slice);
        for (i, a) in here.iter().enumerate() {
            for b in &here[i + 1..] {
                if (a.2 || b.2) && a.0 == b.0 && a.1 == b.1 {
                    return Err(format!("{node}: port {}/{:?} twice", a.0, a.1));
                }
            }
        }
        let used = tally.in_env[env.name.as_str()];
        let q = env.quota;
        if q.max_tasks.is_some_and(|m| used.tasks > u64::from(m))
            || (cpu > 0 && q.max_cpus.is_some_and(|m| used.cpu > m.millis()))
            || (memory > 0 && q.max_memory.is_some_and(|m| used.memory > m.0))
        {
            return Err(format!("environment {} over its quota", env.name));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_decision_breaks_a_filter(s in scenario()) {
        let (c, pending) = build(&s);
        let decisions = c.schedule(&pending);
        if let Err(why) = check(&c, &pending, &decisions) {
            prop_assert!(false, "{why}\n{decisions:#?}");
        }
        prop_assert_eq!(c.schedule(&pending), decisions);
    }
}

#[test]
fn the_generator_places_and_refuses() {
    // A sanity check on the property's reach: some scenarios place tasks, some do not.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut placed, mut unplaced) = (0, 0);
    for _ in 0..200 {
        let s = scenario().new_tree(&mut runner).unwrap().current();
        let (c, pending) = build(&s);
        for d in c.schedule(&pending) {
            match d {
                Decision::Assign { .. } => placed += 1,
                Decision::Unplaced { .. } => unplaced += 1,
            }
        }
    }
    assert!(
        placed > 200 && unplaced > 100,
        "{placed} placed, {unplaced} unplaced"
    );
}
