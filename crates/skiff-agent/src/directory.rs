//! The service data of the environments this node runs tasks of, as the servers send it
//! (`Endpoints` messages of the session): every service with its virtual IP, endpoint mode and
//! networks, and every task's address with whether it may get traffic. The node's virtual IPs
//! ([`Directory::vips`]) and DNS answers ([`Directory::dns_table`]) are made from it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use skiff_engine::network::isolation::{Isolation, Member};
use skiff_engine::network::vip::ServiceVip;
use skiff_proto::agent::{Endpoint, Endpoints, ServiceInfo};

use crate::dns::{ClientScope, DnsTable, DnsTableError, Target};

/// One environment's services (by "app/service") and task addresses (by task id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvData {
    /// Its services.
    pub services: BTreeMap<String, ServiceInfo>,
    /// Its tasks' addresses.
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// Every environment the servers sent, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    /// The environments.
    pub envs: BTreeMap<String, EnvData>,
}

/// The network name of a network id (`<env>/<name>`).
fn network_name(id: &str) -> &str {
    id.split_once('/').map_or(id, |(_, name)| name)
}

impl Directory {
    /// Applies one message: a full one replaces its environment (an empty one removes it), a
    /// change adds, replaces and removes entries.
    pub fn apply(&mut self, message: &Endpoints) {
        if message.full {
            self.envs.remove(&message.env);
        }
        let env = self.envs.entry(message.env.clone()).or_default();
        for service in &message.services {
            env.services
                .insert(format!("{}/{}", service.app, service.name), service.clone());
        }
        for id in &message.removed_services {
            env.services.remove(id);
        }
        for endpoint in &message.endpoints {
            env.endpoints
                .insert(endpoint.task_id.clone(), endpoint.clone());
        }
        for id in &message.removed_endpoints {
            env.endpoints.remove(id);
        }
        if env.services.is_empty() && env.endpoints.is_empty() {
            self.envs.remove(&message.env);
        }
    }

    /// The ready addresses of each service, by (env, "app/service"), in task id order.
    fn ready(&self) -> BTreeMap<(&str, String), Vec<Ipv4Addr>> {
        let mut ready: BTreeMap<(&str, String), Vec<Ipv4Addr>> = BTreeMap::new();
        for (env, data) in &self.envs {
            for e in data.endpoints.values().filter(|e| e.ready) {
                if let Ok(ip) = e.ip.parse() {
                    let key = (env.as_str(), format!("{}/{}", e.app, e.service));
                    ready.entry(key).or_default().push(ip);
                }
            }
        }
        ready
    }

    /// The node's virtual IPs: each service that has one, over its ready tasks (named
    /// `env/app/service`). Entries the servers sent malformed are left out.
    pub fn vips(&self) -> Vec<ServiceVip> {
        let ready = self.ready();
        let mut out = Vec::new();
        for (env, data) in &self.envs {
            for (id, service) in &data.services {
                let Ok(vip) = service.vip.parse::<Ipv4Addr>() else {
                    continue;
                };
                let backends = ready
                    .get(&(env.as_str(), id.clone()))
                    .cloned()
                    .unwrap_or_default();
                out.push(ServiceVip {
                    name: format!("{env}/{id}"),
                    vip,
                    backends,
                });
            }
        }
        out
    }

    /// The node's isolation: every task address is a member on its service's networks (a
    /// task whose service is unknown, on none: kept apart from every other); `pods`, the
    /// cluster's pod CIDR, makes any other container address one of no network.
    pub fn isolation(&self, pods: Vec<ipnet::Ipv4Net>) -> Isolation {
        let mut members = Vec::new();
        for data in self.envs.values() {
            for e in data.endpoints.values() {
                let Ok(address) = e.ip.parse::<Ipv4Addr>() else {
                    continue;
                };
                let networks: Vec<String> = data
                    .services
                    .get(&format!("{}/{}", e.app, e.service))
                    .map(|s| s.networks.iter().map(|n| n.id.clone()).collect())
                    .unwrap_or_default();
                // A member needs a network: one of its own, shared with no one.
                let networks = if networks.is_empty() {
                    vec![format!("task/{}", e.task_id)]
                } else {
                    networks
                };
                members.push(Member { address, networks });
            }
        }
        // One address, one entry: a task replaced in place may briefly be listed twice.
        members.sort_by_key(|m| m.address);
        members.dedup_by_key(|m| m.address);
        Isolation {
            members,
            pods,
            nodes: Vec::new(),
        }
    }

    /// The DNS table: every task address is a client scoped to its environment, app and its
    /// service's networks; every service answers with its virtual IP, or (dnsrr, or no virtual
    /// IP yet) its ready tasks' addresses; network aliases answer on their networks.
    pub fn dns_table(&self) -> Result<DnsTable, DnsTableError> {
        let ready = self.ready();
        let mut builder = DnsTable::builder();
        for (env, data) in &self.envs {
            for e in data.endpoints.values() {
                let Ok(ip) = e.ip.parse::<IpAddr>() else {
                    continue;
                };
                let mut scope = ClientScope::new(env, &e.app);
                if let Some(service) = data.services.get(&format!("{}/{}", e.app, e.service)) {
                    for network in &service.networks {
                        scope = scope.network(network_name(&network.id));
                    }
                }
                builder = builder.client(ip, scope);
            }
            for (id, service) in &data.services {
                let tasks = ready
                    .get(&(env.as_str(), id.clone()))
                    .cloned()
                    .unwrap_or_default();
                let target = match service.vip.parse::<Ipv4Addr>() {
                    Ok(vip) if !service.dnsrr => Target::Vip(vip),
                    _ => Target::Tasks(tasks),
                };
                for network in &service.networks {
                    for alias in &network.aliases {
                        builder = builder.network_alias(
                            env,
                            network_name(&network.id),
                            alias,
                            target.clone(),
                        );
                    }
                }
                builder = builder.service(env, &service.app, &service.name, target);
            }
        }
        builder.build()
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
