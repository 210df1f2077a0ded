//! Ingress-mode ports on this node: the service ports the node publishes, computed from the
//! desired set and the containers (pure). A service with a task on the node publishes each
//! of its ingress ports once, balanced over the node's running tasks of the service — the
//! healthy ones, when the service has a healthcheck — and refusing connections while it has
//! none. The routing mesh (issue 8) will add the tasks of other nodes as backends, and
//! publish the ports on every node.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use skiff_api::app::PortMode;
use skiff_engine::network::service::ServicePort;

use crate::desired::{DesiredSet, DesiredTask, Want};
use crate::reconcile::{ContainerState, ContainerView};
use crate::translate::{port, LABEL_TASK};

/// The service ports of the node, and the ingress ports left out because another service
/// took the same port first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngressPlan {
    /// The service ports, by name then port: what to hand the engine.
    pub ports: Vec<ServicePort>,
    /// One message per port left out, naming both services.
    pub conflicts: Vec<String>,
}

/// The name of a task's service port: `env/app/service`.
pub fn service_name(task: &DesiredTask) -> String {
    format!("{}/{}/{}", task.env, task.app, task.service)
}

/// The node's service ports: for each service with a task wanted running here, its
/// ingress-mode ports, each with the tasks whose container runs (with an address) and
/// `ready` says may take traffic (healthy, when there is a healthcheck) as backends, at the
/// port their own spec names (tasks of two spec revisions may differ during an update).
/// Ports the engine cannot publish are left out (the task fails on them at translation);
/// two services on the same port: the first by name keeps it.
pub fn plan(
    set: &DesiredSet,
    observed: &[ContainerView],
    ready: impl Fn(&DesiredTask) -> bool,
) -> IngressPlan {
    // (name, protocol, host_ip, published) → backends
    let mut by_key: BTreeMap<_, Vec<SocketAddrV4>> = BTreeMap::new();
    for task in set.tasks.values().filter(|t| t.want == Want::Running) {
        let backend = backend_ip(task, observed).filter(|_| ready(task));
        for (i, spec) in task.spec.ports.iter().enumerate() {
            if spec.mode != PortMode::Ingress {
                continue;
            }
            let Ok(m) = port(task, i, spec) else { continue };
            let key = (service_name(task), m.protocol, m.host_ip, m.host_port);
            let backends = by_key.entry(key).or_default();
            if let Some(ip) = backend {
                let b = SocketAddrV4::new(ip, m.container_port);
                if !backends.contains(&b) {
                    backends.push(b);
                }
            }
        }
    }
    let mut out = IngressPlan::default();
    for ((name, protocol, host_ip, published), mut backends) in by_key {
        backends.sort();
        let port = ServicePort {
            name,
            protocol,
            host_ip,
            published,
            backends,
        };
        let taken = out
            .ports
            .iter()
            .find(|o| skiff_engine::network::ports::overlaps(&o.mapping(), &port.mapping()));
        match taken {
            Some(o) if o.name != port.name => out.conflicts.push(format!(
                "ingress port {}/{} of {} is not published: {} publishes it",
                port.published, port.protocol, port.name, o.name
            )),
            // One service naming a port twice (a spec error): the first entry wins.
            Some(_) => {}
            None => out.ports.push(port),
        }
    }
    out
}

/// The address of the task's running container, if it has one.
fn backend_ip(task: &DesiredTask, observed: &[ContainerView]) -> Option<Ipv4Addr> {
    observed
        .iter()
        .find(|c| c.state == ContainerState::Running && c.labels.get(LABEL_TASK) == Some(&task.id))
        .and_then(|c| c.ip.as_deref())
        .and_then(|ip| ip.parse().ok())
}

#[cfg(test)]
#[path = "ingress_tests.rs"]
mod tests;
