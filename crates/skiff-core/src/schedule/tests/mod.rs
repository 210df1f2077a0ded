//! Table tests of the scheduler: small clusters built by hand, decisions checked as data.

mod filters;
mod props;
mod reasons;
mod scoring;
mod state;

use std::collections::BTreeMap;

use skiff_api::{ByteSize, Cpus, ServiceSpec};

use super::{schedule, Decision, SchedulingInput};
use crate::objects::*;

pub(super) use crate::test_support::{app_spec, name};

/// The spec of service `web` of a compose file holding only it; `deploy` is its YAML body,
/// indented by 6 spaces, or empty.
fn web_spec(deploy: &str) -> ServiceSpec {
    let yaml = format!(
        "services:\n  web:\n    image: busybox\n{}",
        if deploy.is_empty() {
            String::new()
        } else {
            format!("    deploy:\n{deploy}")
        }
    );
    app_spec(&yaml).services.remove("web").unwrap()
}

/// A ready, active node with 4 CPUs and 8 GiB, and these labels.
fn node(id: &str, labels: &[(&str, &str)]) -> Node {
    let resources = NodeResources {
        cpus: Cpus::from_millis(4_000),
        memory: ByteSize(8 << 30),
    };
    Node {
        id: name(id),
        name: format!("{id}.example"),
        address: format!("{id}:7946"),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        capacity: resources,
        allocatable: resources,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        pod_subnet: None,
        last_heartbeat: None,
    }
}

/// An environment without selector or quota.
fn environment(env: &str) -> Environment {
    Environment {
        name: name(env),
        quota: Quota::default(),
        node_selector: BTreeMap::new(),
    }
}

/// A small cluster: nodes, environments, services and their tasks.
#[derive(Debug, Default, Clone)]
struct Cluster {
    nodes: Vec<Node>,
    envs: Vec<Environment>,
    apps: Vec<App>,
    services: Vec<Service>,
    tasks: Vec<Task>,
    seed: Option<u64>,
}

impl Cluster {
    fn with_nodes(nodes: impl IntoIterator<Item = Node>) -> Self {
        Self {
            nodes: nodes.into_iter().collect(),
            envs: vec![environment("dev")],
            ..Self::default()
        }
    }

    /// `count` plain nodes `n1`, `n2`, ….
    fn plain(count: usize) -> Self {
        Self::with_nodes((1..=count).map(|i| node(&format!("n{i}"), &[])))
    }

    fn node_mut(&mut self, id: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id.as_str() == id).unwrap()
    }

    /// Adds service `svc` of app `shop` in `dev` at spec revision 1.
    fn service(&mut self, svc: &str, spec: ServiceSpec) -> &mut Self {
        self.service_in("dev", svc, spec)
    }

    fn service_in(&mut self, env: &str, svc: &str, spec: ServiceSpec) -> &mut Self {
        self.services.push(Service {
            env: name(env),
            app: name("shop"),
            name: name(svc),
            spec_revision: 1,
            spec,
            vip: None,
            rollout: None,
        });
        self
    }

    /// Adds a running task of `svc` on `node`.
    fn running(&mut self, svc: &str, node: &str) -> &mut Self {
        let mut t = task(svc, self.tasks.len() + 1);
        t.env = self
            .services
            .iter()
            .find(|s| s.name.as_str() == svc)
            .map_or(name("dev"), |s| s.env.clone());
        t.node = Some(name(node));
        t.observed = TaskState::Running;
        self.tasks.push(t);
        self
    }

    fn input(&self) -> SchedulingInput {
        let mut builder = SchedulingInput::builder()
            .nodes(&self.nodes)
            .environments(&self.envs)
            .apps(&self.apps)
            .services(&self.services)
            .tasks(&self.tasks);
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        builder.build()
    }

    /// `count` pending tasks of `svc`, numbered after the tasks the cluster has.
    fn pending(&self, svc: &str, count: usize) -> Vec<Task> {
        let env = self
            .services
            .iter()
            .find(|s| s.name.as_str() == svc)
            .map_or(name("dev"), |s| s.env.clone());
        (0..count)
            .map(|i| {
                let mut t = task(svc, self.tasks.len() + 1 + i);
                t.id = name(&format!("{svc}-p{}", i + 1));
                t.env = env.clone();
                t
            })
            .collect()
    }

    /// Schedules `pending` over a fresh input.
    fn schedule(&self, pending: &[Task]) -> Vec<Decision> {
        let refs: Vec<&Task> = pending.iter().collect();
        schedule(&mut self.input(), &refs)
    }
}

/// A pending task of `svc` (app `shop`, environment `dev`), replica `slot`.
fn task(svc: &str, slot: usize) -> Task {
    Task {
        id: name(&format!("{svc}-{slot}")),
        env: name("dev"),
        app: name("shop"),
        service: name(svc),
        slot: Slot::Replica(slot as u32),
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
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
    }
}

/// The node of each decision, or `-` for an unplaced task.
fn nodes_of(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .map(|d| d.node().map_or("-".to_owned(), |n| n.to_string()))
        .collect()
}

/// How many tasks went to each node.
fn per_node(decisions: &[Decision]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for d in decisions {
        if let Some(n) = d.node() {
            *out.entry(n.to_string()).or_default() += 1;
        }
    }
    out
}

/// The reason text of each unplaced decision.
fn reasons(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Unplaced { reason, .. } => Some(reason.to_string()),
            Decision::Assign { .. } => None,
        })
        .collect()
}
