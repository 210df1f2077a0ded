//! Benchmark: the scheduler alone places 100,000 tasks of 300 services on 5,000 nodes, with
//! constraints, spread preferences, reservations, `max_replicas_per_node` and host ports, on one
//! thread; target at least 50,000 placements per second. Every decision is then checked
//! against the filters by an independent count from the objects.
//!
//! Run: `cargo bench -p skiff-core --bench scheduler`
//! (NODES, TASKS, SERVICES change the sizes; RUNS the number of timed runs, 5 by default;
//! BATCH the size of the batches of the second measurement, 1,000 by default.)
//!
//! The cluster: nodes in 5 zones of 50 racks, labelled `zone`, `rack`, `tier` (web 50 %, app
//! 30 %, db 20 %), `disk` (ssd on 30 %) and `pool`; 16 CPUs/64 GiB or 32 CPUs/128 GiB; 1 % down,
//! 1 % drained, 0.5 % paused. Environment `prod` selects `pool=main` (95 % of the nodes). The
//! services: 20 large (2,000 replicas) and 280 of 50–380, constraints on tier, disk and zone,
//! spread over zone (60 %), zone then rack (20 %) or nothing, reserving 0.1–0.5 CPU and
//! 128 MiB–1 GiB.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use skiff_api::{
    AppSpec, ByteSize, Constraint, ConstraintOp, Cpus, PortMode, PortSpec, Protocol, ServiceSpec,
    SpreadPreference,
};
use skiff_core::objects::{
    Availability, DesiredState, Environment, Health, Name, Node, NodeResources, NodeStatus, Quota,
    Service, Slot, Task, TaskState, Timestamp,
};
use skiff_core::schedule::{schedule, Decision, SchedulingInput};

const TARGET: f64 = 50_000.0;

fn main() {
    let nodes_n = env_or("NODES", 5_000);
    let tasks_n = env_or("TASKS", 100_000);
    let services_n = env_or("SERVICES", 300);
    let runs = env_or("RUNS", 5);
    let batch = env_or("BATCH", 1_000).max(1);

    let cluster = Cluster::generate(nodes_n, services_n, tasks_n);
    println!(
        "cluster: {} nodes, {} services, {} pending tasks",
        cluster.nodes.len(),
        cluster.services.len(),
        cluster.pending.len()
    );
    let pending: Vec<&Task> = cluster.pending.iter().collect();

    let mut one_batch = Vec::new();
    let mut builds = Vec::new();
    let mut decisions = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut input = cluster.input();
        builds.push(start.elapsed());
        let start = Instant::now();
        decisions = schedule(&mut input, &pending);
        one_batch.push(start.elapsed());
    }
    let placed = decisions.iter().filter(|d| d.node().is_some()).count();
    report("one batch of all tasks", &one_batch, placed, Some(TARGET));
    println!(
        "  building the input from the objects: median {:.1} ms",
        median(&builds).as_secs_f64() * 1e3
    );

    let mut batched = Vec::new();
    let mut batched_decisions = Vec::new();
    for _ in 0..runs {
        let mut input = cluster.input();
        let start = Instant::now();
        batched_decisions.clear();
        for chunk in pending.chunks(batch) {
            batched_decisions.extend(schedule(&mut input, chunk));
        }
        batched.push(start.elapsed());
    }
    let placed_batched = batched_decisions
        .iter()
        .filter(|d| d.node().is_some())
        .count();
    report(
        &format!("batches of {batch} over one input"),
        &batched,
        placed_batched,
        None,
    );

    summarize(&decisions);
    cluster.spread_report(&decisions);
    let mut failed = false;
    for (what, got) in [("one batch", &decisions), ("batches", &batched_decisions)] {
        match cluster.check(got) {
            Ok(()) => println!("check ({what}): every placement respects every filter"),
            Err(why) => {
                println!("check ({what}) FAILED: {why}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn report(what: &str, times: &[Duration], placed: usize, target: Option<f64>) {
    let m = median(times);
    let rate = placed as f64 / m.as_secs_f64();
    let verdict = match target {
        Some(t) if rate >= t => format!(" (target ≥ {t:.0}/s: met)"),
        Some(t) => format!(" (target ≥ {t:.0}/s: NOT met)"),
        None => String::new(),
    };
    println!(
        "{what}: {placed} placed in {:.1} ms (median of {}, best {:.1} ms): {rate:.0} placements/s{verdict}",
        m.as_secs_f64() * 1e3,
        times.len(),
        times.iter().min().unwrap().as_secs_f64() * 1e3,
    );
}

/// Counts the unplaced tasks by reason text (the first few).
fn summarize(decisions: &[Decision]) {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for d in decisions {
        if let Decision::Unplaced { reason, .. } = d {
            *reasons.entry(reason.to_string()).or_default() += 1;
        }
    }
    let unplaced: usize = reasons.values().sum();
    println!(
        "unplaced: {unplaced} tasks, {} distinct reasons",
        reasons.len()
    );
    for (reason, count) in reasons.iter().take(5) {
        println!("  {count} × {reason}");
    }
}

/// A small deterministic generator (splitmix64): the benchmark is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

fn name(text: &str) -> Name {
    Name::new(text).expect("valid name")
}

struct Cluster {
    nodes: Vec<Node>,
    envs: Vec<Environment>,
    services: Vec<Service>,
    pending: Vec<Task>,
}

impl Cluster {
    fn generate(nodes: usize, services: usize, tasks: usize) -> Self {
        let mut rng = Rng(42);
        let nodes: Vec<Node> = (0..nodes).map(|i| node(i, &mut rng)).collect();
        let envs = vec![
            Environment {
                name: name("prod"),
                quota: Quota::default(),
                node_selector: [("pool".to_owned(), "main".to_owned())].into(),
            },
            Environment {
                name: name("dev"),
                quota: Quota {
                    max_cpus: Some(Cpus::from_millis(40_000_000)),
                    max_memory: None,
                    max_tasks: Some(1_000_000),
                },
                node_selector: BTreeMap::new(),
            },
        ];
        let base = base_spec();
        let replicas = replica_counts(services, tasks, &mut rng);
        let mut all = Vec::new();
        let mut pending = Vec::new();
        for (i, count) in replicas.into_iter().enumerate() {
            let env = if i % 3 == 0 { "dev" } else { "prod" };
            let service = Service {
                env: name(env),
                app: name(&format!("app{}", i / 10)),
                name: name(&format!("svc{i}")),
                spec_revision: 1,
                spec: service_spec(&base, i, count, &mut rng),
                vip: None,
                rollout: None,
            };
            for slot in 1..=count {
                pending.push(task(&service, slot as u32));
            }
            all.push(service);
        }
        // Interleave the services a little, as a controller's batch would mix them.
        let mut order: Vec<usize> = (0..pending.len()).collect();
        order.sort_by_key(|&i| (i % 7, i));
        let pending = order.into_iter().map(|i| pending[i].clone()).collect();
        Self {
            nodes,
            envs,
            services: all,
            pending,
        }
    }

    fn input(&self) -> SchedulingInput {
        SchedulingInput::builder()
            .nodes(&self.nodes)
            .environments(&self.envs)
            .services(&self.services)
            .build()
    }

    /// Whether a node may take tasks of `service` at all (the static filters, from the objects).
    fn admits(&self, service: &Service, node: &Node) -> bool {
        let env = self.envs.iter().find(|e| e.name == service.env).unwrap();
        node.status == NodeStatus::Ready
            && node.availability == Availability::Active
            && env
                .node_selector
                .iter()
                .all(|(k, v)| node.labels.get(k) == Some(v))
            && service.spec.deploy.placement.constraints.iter().all(|c| {
                let label = c.attribute.trim_start_matches("node.labels.");
                let equal = node
                    .labels
                    .get(label)
                    .is_some_and(|v| v.eq_ignore_ascii_case(&c.value));
                equal == (c.operator == ConstraintOp::Eq)
            })
    }

    /// How evenly the services that spread over zones did: for each, the most tasks in one of
    /// its zones (those with a node it may use) less the fewest.
    fn spread_report(&self, decisions: &[Decision]) {
        let zone_of: BTreeMap<&str, &str> = self
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.labels["zone"].as_str()))
            .collect();
        let mut per_zone: BTreeMap<(&str, &str), BTreeMap<&str, u32>> = BTreeMap::new();
        for (task, decision) in self.pending.iter().zip(decisions) {
            if let Some(node) = decision.node() {
                *per_zone
                    .entry((task.app.as_str(), task.service.as_str()))
                    .or_default()
                    .entry(zone_of[node.as_str()])
                    .or_default() += 1;
            }
        }
        let mut imbalance: BTreeMap<u32, usize> = BTreeMap::new();
        for service in &self.services {
            let prefs = &service.spec.deploy.placement.preferences;
            if prefs.first().is_none_or(|p| p.spread != "node.labels.zone") {
                continue;
            }
            let mut zones: BTreeMap<&str, u32> = self
                .nodes
                .iter()
                .filter(|n| self.admits(service, n))
                .map(|n| (zone_of[n.id.as_str()], 0))
                .collect();
            if let Some(placed) = per_zone.get(&(service.app.as_str(), service.name.as_str())) {
                for (zone, count) in placed {
                    *zones.entry(zone).or_default() += count;
                }
            }
            let (max, min) = (zones.values().max(), zones.values().min());
            if let (Some(max), Some(min)) = (max, min) {
                *imbalance.entry(max - min).or_default() += 1;
            }
        }
        let text: Vec<String> = imbalance
            .iter()
            .map(|(d, n)| format!("{n} off by {d}"))
            .collect();
        println!(
            "zone spread (most tasks in a zone less fewest, per service spreading over zones): {}",
            text.join(", ")
        );
    }

    /// Checks every placement against the filters by counting from the objects.
    fn check(&self, decisions: &[Decision]) -> Result<(), String> {
        let nodes: BTreeMap<&str, &Node> = self.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let services: BTreeMap<(&str, &str), &Service> = self
            .services
            .iter()
            .map(|s| ((s.app.as_str(), s.name.as_str()), s))
            .collect();
        let mut cpu: BTreeMap<&str, u64> = BTreeMap::new();
        let mut memory: BTreeMap<&str, u64> = BTreeMap::new();
        let mut per_service: BTreeMap<(&str, &str, &str), u32> = BTreeMap::new();
        let mut ports: BTreeMap<(&str, u16), u32> = BTreeMap::new();
        for (task, decision) in self.pending.iter().zip(decisions) {
            if decision.task() != &task.id {
                return Err(format!("decision for {} is {decision:?}", task.id));
            }
            let Some(node_id) = decision.node() else {
                continue;
            };
            let node = nodes[node_id.as_str()];
            let service = services[&(task.app.as_str(), task.service.as_str())];
            let env = self.envs.iter().find(|e| e.name == service.env).unwrap();
            let spec = &service.spec;
            if node.status != NodeStatus::Ready || node.availability != Availability::Active {
                return Err(format!("{} on unavailable node {node_id}", task.id));
            }
            if !env
                .node_selector
                .iter()
                .all(|(k, v)| node.labels.get(k) == Some(v))
            {
                return Err(format!(
                    "{} on {node_id} outside {}'s selector",
                    task.id, env.name
                ));
            }
            for c in &spec.deploy.placement.constraints {
                let label = c.attribute.trim_start_matches("node.labels.");
                let equal = node
                    .labels
                    .get(label)
                    .is_some_and(|v| v.eq_ignore_ascii_case(&c.value));
                if equal != (c.operator == ConstraintOp::Eq) {
                    return Err(format!("{} on {node_id} breaks {c:?}", task.id));
                }
            }
            let r = spec.deploy.resources.reservations;
            *cpu.entry(node_id.as_str()).or_default() += r.cpus.map_or(0, |c| c.millis());
            *memory.entry(node_id.as_str()).or_default() += r.memory.map_or(0, |m| m.0);
            let here = per_service
                .entry((node_id.as_str(), task.app.as_str(), task.service.as_str()))
                .or_default();
            *here += 1;
            if let Some(max) = spec.deploy.placement.max_replicas_per_node {
                if *here > max {
                    return Err(format!(
                        "{node_id} runs more than {max} of {}",
                        task.service
                    ));
                }
            }
            for p in &spec.ports {
                let used = ports
                    .entry((node_id.as_str(), p.published.unwrap()))
                    .or_default();
                *used += 1;
                if *used > 1 {
                    return Err(format!(
                        "{node_id}: port {} taken twice",
                        p.published.unwrap()
                    ));
                }
            }
        }
        for (id, used) in &cpu {
            if *used > nodes[id].allocatable.cpus.millis() {
                return Err(format!(
                    "{id}: {used} CPU thousandths reserved, more than it has"
                ));
            }
        }
        for (id, used) in &memory {
            if *used > nodes[id].allocatable.memory.0 {
                return Err(format!("{id}: {used} bytes reserved, more than it has"));
            }
        }
        Ok(())
    }
}

fn node(i: usize, rng: &mut Rng) -> Node {
    let zone = i % 5;
    let rack = (i / 5) % 50;
    let tier = match rng.below(10) {
        0..=4 => "web",
        5..=7 => "app",
        _ => "db",
    };
    let big = rng.chance(300);
    let resources = NodeResources {
        cpus: Cpus::from_millis(if big { 32_000 } else { 16_000 }),
        memory: ByteSize(if big { 128 } else { 64 } << 30),
    };
    let mut labels = BTreeMap::new();
    labels.insert("zone".to_owned(), format!("z{zone}"));
    labels.insert("rack".to_owned(), format!("z{zone}-r{rack}"));
    labels.insert("tier".to_owned(), tier.to_owned());
    labels.insert(
        "disk".to_owned(),
        if rng.chance(300) { "ssd" } else { "hdd" }.to_owned(),
    );
    labels.insert(
        "pool".to_owned(),
        if rng.chance(950) { "main" } else { "spare" }.to_owned(),
    );
    let roll = rng.below(1000);
    Node {
        id: name(&format!("node-{i:05}")),
        name: format!("host-{i:05}"),
        address: format!("10.{}.{}.{}:7946", i >> 16, (i >> 8) & 255, i & 255),
        labels,
        capacity: resources,
        allocatable: resources,
        availability: match roll {
            0..=9 => Availability::Drain,
            10..=14 => Availability::Pause,
            _ => Availability::Active,
        },
        status: if (15..25).contains(&roll) {
            NodeStatus::Down
        } else {
            NodeStatus::Ready
        },
        pod_subnet: None,
        last_heartbeat: None,
    }
}

/// `services` replica counts adding up to `tasks`: 20 large services of 2 % each of the tasks,
/// the rest spread unevenly over the others.
fn replica_counts(services: usize, tasks: usize, rng: &mut Rng) -> Vec<usize> {
    let large = 20.min(services / 10);
    let large_each = tasks / 50;
    let mut counts = vec![large_each; large];
    let rest = tasks - large * large_each;
    let others = services - large;
    let weights: Vec<u64> = (0..others).map(|_| 50 + rng.below(330)).collect();
    let total: u64 = weights.iter().sum();
    let mut given = 0;
    for w in &weights {
        let c = (rest as u64 * w / total) as usize;
        counts.push(c);
        given += c;
    }
    if let Some(last) = counts.last_mut() {
        *last += rest - given;
    }
    counts
}

/// A minimal service spec, through its JSON form.
fn base_spec() -> ServiceSpec {
    let app: AppSpec = serde_json::from_value(serde_json::json!({
        "name": "bench", "environment": "prod",
        "services": {"web": {
            "image": "busybox",
            "networks": {"default": {}},
            "deploy": {
                "mode": {"replicated": {"replicas": 1}},
                "restart_policy": {"condition": "any", "delay": "5s"},
                "update_config": {"parallelism": 1, "delay": "0s", "order": "stop-first",
                    "failure_action": "pause", "monitor": "5s", "max_failure_ratio": 0.0},
                "rollback_config": {"parallelism": 1, "delay": "0s", "order": "stop-first",
                    "failure_action": "pause", "monitor": "5s", "max_failure_ratio": 0.0}
            }
        }}
    }))
    .expect("a valid spec");
    app.services["web"].clone()
}

fn constraint(attribute: &str, op: ConstraintOp, value: &str) -> Constraint {
    Constraint {
        attribute: attribute.to_owned(),
        operator: op,
        value: value.to_owned(),
    }
}

fn service_spec(base: &ServiceSpec, i: usize, replicas: usize, rng: &mut Rng) -> ServiceSpec {
    use ConstraintOp::{Eq, Ne};
    let mut spec = base.clone();
    let placement = &mut spec.deploy.placement;
    placement.constraints = match i % 8 {
        0..=2 => vec![constraint("node.labels.tier", Eq, "web")],
        3..=4 => vec![constraint("node.labels.tier", Eq, "app")],
        5 => vec![
            constraint("node.labels.tier", Eq, "db"),
            constraint("node.labels.disk", Eq, "ssd"),
        ],
        6 => vec![
            constraint("node.labels.tier", Ne, "db"),
            constraint("node.labels.zone", Ne, "z4"),
        ],
        _ => vec![],
    };
    let spread = |attr: &str| SpreadPreference {
        spread: attr.to_owned(),
    };
    placement.preferences = match rng.below(10) {
        0..=5 => vec![spread("node.labels.zone")],
        6 | 7 => vec![spread("node.labels.zone"), spread("node.labels.rack")],
        _ => vec![],
    };
    // The large services spread only; small ones sometimes cap or publish a host port.
    if replicas <= 400 && rng.chance(100) {
        placement.max_replicas_per_node = Some(2);
    }
    if replicas <= 400 && i % 8 != 5 && rng.chance(50) {
        spec.ports = vec![PortSpec {
            target: 8080,
            published: Some(9000 + (i % 40) as u16),
            protocol: Protocol::Tcp,
            host_ip: None,
            mode: PortMode::Host,
            name: None,
            app_protocol: None,
        }];
    }
    let reservations = &mut spec.deploy.resources.reservations;
    reservations.cpus = Some(Cpus::from_millis(100 + 100 * rng.below(5)));
    reservations.memory = Some(ByteSize((128 + 128 * rng.below(8)) << 20));
    spec
}

fn task(service: &Service, slot: u32) -> Task {
    Task {
        id: name(&format!("{}-{}-{slot}", service.app, service.name)),
        env: service.env.clone(),
        app: service.app.clone(),
        service: service.name.clone(),
        slot: Slot::Replica(slot),
        spec_revision: 1,
        desired: DesiredState::Running,
        node: None,
        observed: TaskState::Pending,
        message: String::new(),
        container_id: None,
        ip: None,
        exit_code: None,
        restart_count: 0,
        health: Health::Unknown,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}
