//! The service data agents need beyond their own tasks: every service of an environment (its
//! virtual IP, endpoint mode, networks and aliases) and the address of every task of it — what
//! a node's DNS server, virtual IPs and isolation rules are made from.
//!
//! [`EndpointTables`] is kept by the change router ([`super::dispatch`]) from the same changes
//! it routes: per environment the table as agents should hold it, and the change each round
//! made to it, encoded once (`Endpoints`, carried as bytes in `ServerMessage`) and shared by
//! every session it concerns. A session sends the whole table of an environment when its node
//! starts running tasks there ([`EndpointTables::full`]), then the changes.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use prost::Message as _;
use skiff_core::objects::{DesiredState, Health, Service, Task, TaskState};
use skiff_core::{Key, Name, Object, State};
use skiff_proto::agent::{Endpoint, Endpoints, ServiceInfo, ServiceNetwork};

/// One round's change to one environment's table, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvChange {
    /// The environment.
    pub env: Name,
    /// The router's revision after the round: a session that sent the whole table at this
    /// revision or later skips it.
    pub revision: u64,
    /// The encoded `Endpoints{full: false}`.
    pub message: Bytes,
}

/// One environment as agents should hold it.
#[derive(Debug, Default, Clone)]
struct EnvTable {
    /// By "app/service".
    services: BTreeMap<String, ServiceInfo>,
    /// By task id.
    endpoints: BTreeMap<String, Endpoint>,
}

/// One round's changes to one environment: the new entries by id, `None` for removed ones.
#[derive(Debug, Default)]
struct Pending {
    services: BTreeMap<String, Option<ServiceInfo>>,
    endpoints: BTreeMap<String, Option<Endpoint>>,
}

/// Every environment's table, and the changes of the round under way.
#[derive(Debug, Default)]
pub struct EndpointTables {
    envs: HashMap<Name, EnvTable>,
    changes: HashMap<Name, Pending>,
}

/// A task's entry: it has an address while its container exists; it is ready while it runs,
/// is wanted running, and is healthy if its service has a healthcheck (not unhealthy if not).
fn endpoint_of(task: &Task, service: Option<&Service>) -> Option<Endpoint> {
    let ip = task.ip?;
    if !matches!(task.observed, TaskState::Starting | TaskState::Running) {
        return None;
    }
    let checked = service.is_some_and(|s| s.spec.healthcheck.is_some());
    let healthy = match task.health {
        Health::Healthy => true,
        Health::Unhealthy => false,
        Health::Unknown | Health::Starting => !checked,
    };
    Some(Endpoint {
        task_id: task.id.to_string(),
        app: task.app.to_string(),
        service: task.service.to_string(),
        ip: ip.to_string(),
        ready: task.observed == TaskState::Running
            && task.desired == DesiredState::Running
            && healthy,
    })
}

/// A service's entry: the networks are named `<env>/<the app's name for the network>`.
fn service_info(state: &State, service: &Service) -> ServiceInfo {
    let app = state.get(&Key::App {
        env: service.env.clone(),
        app: service.app.clone(),
    });
    let app_networks = match app.map(|r| &r.object) {
        Some(Object::App(app)) => Some(&app.spec.networks),
        _ => None,
    };
    let networks = service
        .spec
        .networks
        .iter()
        .map(|(key, attachment)| {
            let name = app_networks
                .and_then(|n| n.get(key))
                .map_or_else(|| format!("{}_{key}", service.app), |n| n.name.clone());
            ServiceNetwork {
                id: format!("{}/{name}", service.env),
                aliases: attachment.aliases.clone(),
            }
        })
        .collect();
    ServiceInfo {
        app: service.app.to_string(),
        name: service.name.to_string(),
        vip: service.vip.map(|ip| ip.to_string()).unwrap_or_default(),
        dnsrr: service.spec.deploy.endpoint_mode == skiff_api::app::EndpointMode::Dnsrr,
        networks,
    }
}

fn service_key(task: &Task) -> Key {
    Key::Service {
        env: task.env.clone(),
        app: task.app.clone(),
        service: task.service.clone(),
    }
}

impl EndpointTables {
    /// Takes the change of task `id` of environment `env`: now `task` (none: deleted).
    pub fn task(&mut self, state: &State, env: &Name, id: &str, task: Option<&Task>) {
        let entry = task.and_then(|t| {
            let service = match state.get(&service_key(t)).map(|r| &r.object) {
                Some(Object::Service(s)) => Some(s.as_ref()),
                _ => None,
            };
            endpoint_of(t, service)
        });
        let table = self.envs.entry(env.clone()).or_default();
        let changed = match &entry {
            Some(endpoint) if table.endpoints.get(id) != Some(endpoint) => {
                table.endpoints.insert(id.to_owned(), endpoint.clone());
                true
            }
            Some(_) => false,
            None => table.endpoints.remove(id).is_some(),
        };
        if changed {
            let pending = self.changes.entry(env.clone()).or_default();
            pending.endpoints.insert(id.to_owned(), entry);
        }
    }

    /// Takes the change of the service at `key`: now `service` (none: deleted).
    pub fn service(&mut self, state: &State, key: &Key, service: Option<&Service>) {
        let Key::Service {
            env,
            app,
            service: name,
        } = key
        else {
            return;
        };
        let id = format!("{app}/{name}");
        let entry = service.map(|s| service_info(state, s));
        let table = self.envs.entry(env.clone()).or_default();
        let changed = match &entry {
            Some(info) if table.services.get(&id) != Some(info) => {
                table.services.insert(id.clone(), info.clone());
                true
            }
            Some(_) => false,
            None => table.services.remove(&id).is_some(),
        };
        if changed {
            let pending = self.changes.entry(env.clone()).or_default();
            pending.services.insert(id, entry);
        }
    }

    /// The round's changes, encoded, stamped with `revision`; the round starts anew.
    pub fn take_changes(&mut self, revision: u64) -> Vec<EnvChange> {
        let mut out = Vec::new();
        for (env, pending) in self.changes.drain() {
            let mut message = Endpoints {
                env: env.to_string(),
                ..Default::default()
            };
            for (id, entry) in pending.services {
                match entry {
                    Some(info) => message.services.push(info),
                    None => message.removed_services.push(id),
                }
            }
            for (id, entry) in pending.endpoints {
                match entry {
                    Some(endpoint) => message.endpoints.push(endpoint),
                    None => message.removed_endpoints.push(id),
                }
            }
            out.push(EnvChange {
                env,
                revision,
                message: message.encode_to_vec().into(),
            });
        }
        out
    }

    /// The whole table of `env`, encoded (empty when nothing of it is known).
    pub fn full(&self, env: &Name) -> Bytes {
        let table = self.envs.get(env);
        let message = Endpoints {
            env: env.to_string(),
            full: true,
            services: table
                .map(|t| t.services.values().cloned().collect())
                .unwrap_or_default(),
            removed_services: Vec::new(),
            endpoints: table
                .map(|t| t.endpoints.values().cloned().collect())
                .unwrap_or_default(),
            removed_endpoints: Vec::new(),
        };
        message.encode_to_vec().into()
    }

    /// Forgets everything, for a rebuild from the state.
    pub fn clear(&mut self) {
        self.envs.clear();
        self.changes.clear();
    }
}

#[cfg(test)]
#[path = "endpoints_tests.rs"]
mod tests;
