//! Table tests of the orchestrator and the node monitor: small worlds built by hand, plans
//! checked as one line per change.

mod global;
mod nodes;
mod props;
mod replicated;
mod rollout;
mod rollout_sim;
mod txn;

use skiff_api::ServiceSpec;

use super::{reconcile, Action, OrchestratorInput, OrchestratorPlan, StoredTask};
use crate::objects::*;

pub(super) use crate::test_support::{app_spec, name};

/// The spec of service `web` with `image` and `deploy` (YAML body indented by 6, or empty).
fn spec(image: &str, deploy: &str) -> ServiceSpec {
    app_spec(&compose(image, deploy))
        .services
        .remove("web")
        .unwrap()
}

fn compose(image: &str, deploy: &str) -> String {
    let deploy = if deploy.is_empty() {
        String::new()
    } else {
        format!("    deploy:\n{deploy}")
    };
    format!("services:\n  web:\n    image: {image}\n{deploy}")
}

fn replicas(n: u32) -> String {
    format!("      replicas: {n}\n")
}

/// A ready, active node.
fn node(id: &str) -> Node {
    Node {
        id: name(id),
        name: id.to_owned(),
        address: format!("{id}:7946"),
        labels: Default::default(),
        capacity: NodeResources::default(),
        allocatable: NodeResources::default(),
        availability: Availability::Active,
        status: NodeStatus::Ready,
        pod_subnet: None,
        last_heartbeat: None,
    }
}

/// A task of service `web` of app `shop` in `dev`: pending, wanted running, on no node, at spec
/// revision 1, created at `created` ms.
fn task(id: &str, slot: Slot, created: u64) -> Task {
    Task {
        id: name(id),
        env: name("dev"),
        app: name("shop"),
        service: name("web"),
        slot,
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
        created_at: Timestamp(created),
        updated_at: Timestamp(created),
    }
}

fn r(n: u32) -> Slot {
    Slot::Replica(n)
}

fn on(id: &str) -> Slot {
    Slot::Node(name(id))
}

/// Shorthands to shape a task.
trait Shape: Sized {
    fn at(self, node: &str, observed: TaskState) -> Self;
    fn wants(self, desired: DesiredState) -> Self;
    fn rev(self, spec_revision: u64) -> Self;
}

impl Shape for Task {
    fn at(mut self, node: &str, observed: TaskState) -> Self {
        self.node = Some(name(node));
        self.observed = observed;
        self
    }
    fn wants(mut self, desired: DesiredState) -> Self {
        self.desired = desired;
        self
    }
    fn rev(mut self, spec_revision: u64) -> Self {
        self.spec_revision = spec_revision;
        self
    }
}

/// A small world: one environment `dev`, app `shop` (with its spec history), its services,
/// nodes and tasks (each stored at revision 10 + its index).
struct World {
    now: u64,
    env: Environment,
    apps: Vec<App>,
    services: Vec<Service>,
    nodes: Vec<Node>,
    tasks: Vec<Task>,
}

impl World {
    /// Service `web` at spec revision 1 with `spec`, on `nodes` plain nodes `n1`, `n2`, ….
    fn new(spec: ServiceSpec, nodes: usize) -> Self {
        let mut app_spec = app_spec("services:\n  web:\n    image: busybox\n");
        app_spec.services.insert("web".into(), spec.clone());
        World {
            now: 100_000,
            env: Environment {
                name: name("dev"),
                quota: Quota::default(),
                node_selector: Default::default(),
            },
            apps: vec![App::new(name("dev"), name("shop"), app_spec, 1)],
            services: vec![Service {
                env: name("dev"),
                app: name("shop"),
                name: name("web"),
                spec_revision: 1,
                spec,
                vip: None,
                rollout: None,
            }],
            nodes: (1..=nodes).map(|i| node(&format!("n{i}"))).collect(),
            tasks: Vec::new(),
        }
    }

    /// Applies a new spec of `web` (the app keeps the old one in its history).
    fn respec(mut self, spec: ServiceSpec) -> Self {
        let app = &mut self.apps[0];
        let mut app_spec = app.spec.clone();
        app_spec.services.insert("web".into(), spec.clone());
        let next = app.spec_revision + 1;
        app.push_spec(app_spec, next);
        self.services[0].spec = spec;
        self.services[0].spec_revision = next;
        self
    }

    fn tasks(mut self, tasks: impl IntoIterator<Item = Task>) -> Self {
        self.tasks.extend(tasks);
        self
    }

    fn node_mut(&mut self, id: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id.as_str() == id).unwrap()
    }

    fn input(&self) -> OrchestratorInput<'_> {
        OrchestratorInput {
            now: Timestamp(self.now),
            services: self.services.iter().map(|s| (s, 1)).collect(),
            apps: self.apps.iter().map(|a| (a, 2)).collect(),
            envs: vec![&self.env],
            nodes: self.nodes.iter().collect(),
            tasks: self
                .tasks
                .iter()
                .enumerate()
                .map(|(i, task)| StoredTask {
                    task,
                    revision: 10 + i as u64,
                })
                .collect(),
        }
    }

    fn reconcile(&self) -> OrchestratorPlan {
        let mut n = 0;
        reconcile(&self.input(), &mut || {
            n += 1;
            name(&format!("new{n}"))
        })
    }

    /// The plan, one line per change.
    fn plan(&self) -> Vec<String> {
        describe(&self.reconcile())
    }
}

/// One line per change: `create new1 web r1: missing slot`, `update a shutdown rev 1: node
/// down`, `delete a: history cleanup`.
fn describe(plan: &OrchestratorPlan) -> Vec<String> {
    plan.changes()
        .map(|c| match &c.action {
            Action::Create(t) => format!("create {} {}: {}", t.id, slot(&t.slot), c.reason),
            Action::Update { task, .. } => format!(
                "update {} {:?} rev {}: {}",
                task.id, task.desired, task.spec_revision, c.reason
            )
            .to_lowercase(),
            Action::Delete { id, .. } => format!("delete {id}: {}", c.reason),
            Action::Service { service, .. } => format!(
                "service {} rev {}: {}",
                service.name,
                service.spec_revision,
                service
                    .rollout
                    .as_ref()
                    .map_or("no rollout".into(), rollout)
            ),
            Action::App { app, .. } => format!("app rev {}: {}", app.spec_revision, c.reason),
        })
        .collect()
}

/// `updating 1>2 updated 2 failed 0 [r1 ready@100000, r2] next@100500`.
fn rollout(r: &Rollout) -> String {
    let watching: Vec<String> = r
        .watching
        .iter()
        .map(|w| match w.ready_at {
            Some(t) => format!("{} ready@{}", slot(&w.slot), t.0),
            None => slot(&w.slot),
        })
        .collect();
    let mut line = format!(
        "{} {}>{} updated {} failed {} [{}]",
        r.state.as_str(),
        r.from_revision,
        r.to_revision,
        r.updated,
        r.failures,
        watching.join(", ")
    );
    if let Some(t) = r.next_batch_at {
        line.push_str(&format!(" next@{}", t.0));
    }
    line
}

fn slot(slot: &Slot) -> String {
    match slot {
        Slot::Replica(n) => format!("r{n}"),
        Slot::Node(id) => format!("n:{id}"),
    }
}

/// Checks each case's plan, naming the failing case.
fn check(cases: Vec<(&str, World, &[&str])>) {
    for (case, world, want) in cases {
        assert_eq!(world.plan(), want, "case: {case}");
    }
}
