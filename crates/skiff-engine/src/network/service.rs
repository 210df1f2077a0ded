//! Service ports (node-local ingress): one port of the node load-balanced over a service's
//! backends — pure checks and the nftables rules that carry them out, rendered into Skiff's
//! table with the published ports (see [`super::ports::render`]; the kernel side is
//! [`crate::Engine::set_service_ports`]).
//!
//! A service port is published once per node, whatever the number of the service's tasks on
//! it, and DNATs each new connection to one backend picked at random (`numgen random mod N`
//! over an anonymous map). A backend is an address and a port: the node's own containers
//! today; the containers of other nodes, reached over the overlay, are the same thing to
//! this table. A service port without backends refuses connections (a TCP reset, an ICMP
//! port unreachable) rather than letting them time out.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use super::ports::{describe, overlaps, PortError, PublishedPort};
use crate::container::{PortMapping, Protocol};

/// Most service ports on one node.
pub const MAX_SERVICE_PORTS: usize = 4096;
/// Most backends of one service port.
pub const MAX_BACKENDS: usize = 1024;
/// Longest service port name (nftables comments take 128 bytes).
pub const MAX_NAME: usize = 128;

/// A port of the node load-balanced over backends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// Whose port it is, for messages and the rule's comment (`dev/shop/web`): 1 to 128
    /// letters, digits, `-`, `_`, `.`, `/` or `:`.
    pub name: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Only on this node address; every address when absent.
    #[serde(default)]
    pub host_ip: Option<Ipv4Addr>,
    /// The node's port.
    pub published: u16,
    /// Where connections go, one picked per connection; none: connections are refused.
    #[serde(default)]
    pub backends: Vec<SocketAddrV4>,
}

impl ServicePort {
    /// The node-side part, as a mapping: what it takes of the node's ports.
    pub fn mapping(&self) -> PortMapping {
        PortMapping {
            host_ip: self.host_ip,
            host_port: self.published,
            container_port: self.published,
            protocol: self.protocol,
        }
    }
}

/// Why a list of service ports is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServicePortError {
    /// More service ports than a node takes.
    #[error("{count} service ports: a node takes at most {MAX_SERVICE_PORTS}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// A name Skiff does not take.
    #[error("service port name {name:?}: use 1 to {MAX_NAME} letters, digits, '-', '_', '.', '/' or ':'")]
    BadName {
        /// The name (at most its first 64 characters).
        name: String,
    },
    /// Too many backends.
    #[error("service port {service}: {count} backends; one port takes at most {MAX_BACKENDS}")]
    TooManyBackends {
        /// The service port.
        service: String,
        /// How many were given.
        count: usize,
    },
    /// A backend traffic cannot be sent to.
    #[error("service port {service}: backend {backend} is not a unicast address and port; give a container's address and a port from 1 to 65535")]
    BadBackend {
        /// The service port.
        service: String,
        /// The backend.
        backend: SocketAddrV4,
    },
    /// A backend given twice.
    #[error("service port {service}: backend {backend} is given twice")]
    DuplicateBackend {
        /// The service port.
        service: String,
        /// The backend.
        backend: SocketAddrV4,
    },
    /// Two service ports take the same traffic.
    #[error("service port {service}: {wanted} is also asked for by service port {other}: a host port, protocol and address can be published once")]
    Duplicate {
        /// The service port.
        service: String,
        /// Its port.
        wanted: String,
        /// The other one.
        other: String,
    },
    /// The port itself is not publishable: port 0, a bad address, held by a container, used
    /// by a program on the node, not an address of the node.
    #[error("service port {service}: {source}")]
    Port {
        /// The service port.
        service: String,
        /// What is wrong.
        source: PortError,
    },
}

/// Checks a list of service ports on its own: names, ports, addresses, backends, and no
/// traffic taken twice.
pub fn check(services: &[ServicePort]) -> Result<(), ServicePortError> {
    if services.len() > MAX_SERVICE_PORTS {
        return Err(ServicePortError::TooMany {
            count: services.len(),
        });
    }
    for (i, s) in services.iter().enumerate() {
        check_one(s)?;
        if let Some(other) = services[..i]
            .iter()
            .find(|o| overlaps(&o.mapping(), &s.mapping()))
        {
            return Err(ServicePortError::Duplicate {
                service: s.name.clone(),
                wanted: describe(&s.mapping()),
                other: other.name.clone(),
            });
        }
    }
    Ok(())
}

fn check_one(s: &ServicePort) -> Result<(), ServicePortError> {
    let name_ok = !s.name.is_empty()
        && s.name.len() <= MAX_NAME
        && s.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':'));
    if !name_ok {
        return Err(ServicePortError::BadName {
            name: s.name.chars().take(64).collect(),
        });
    }
    let port_error = |source| ServicePortError::Port {
        service: s.name.clone(),
        source,
    };
    super::ports::check(&[s.mapping()]).map_err(port_error)?;
    if s.backends.len() > MAX_BACKENDS {
        return Err(ServicePortError::TooManyBackends {
            service: s.name.clone(),
            count: s.backends.len(),
        });
    }
    for (i, b) in s.backends.iter().enumerate() {
        let ip = b.ip();
        if b.port() == 0
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_loopback()
        {
            return Err(ServicePortError::BadBackend {
                service: s.name.clone(),
                backend: *b,
            });
        }
        if s.backends[..i].contains(b) {
            return Err(ServicePortError::DuplicateBackend {
                service: s.name.clone(),
                backend: *b,
            });
        }
    }
    Ok(())
}

/// The first service port a container's published port takes too.
pub fn held_by_container<'a>(
    services: &'a [ServicePort],
    ports: &'a [PublishedPort],
) -> Option<(&'a ServicePort, &'a PublishedPort)> {
    services.iter().find_map(|s| {
        ports
            .iter()
            .find(|p| overlaps(&p.mapping, &s.mapping()))
            .map(|p| (s, p))
    })
}

/// The first of `wanted` (a container's ports, asked for) that a service port takes.
pub fn taken_by_service<'a>(
    services: &'a [ServicePort],
    wanted: &'a [PortMapping],
) -> Option<PortError> {
    wanted.iter().find_map(|w| {
        services
            .iter()
            .find(|s| overlaps(&s.mapping(), w))
            .map(|s| PortError::HeldByService {
                wanted: describe(w),
                held: describe(&s.mapping()),
                service: s.name.clone(),
            })
    })
}

/// The match part of a service port's rules: `[ip daddr ADDR ]PROTO dport PORT`.
fn matches(s: &ServicePort) -> String {
    let addr = s
        .host_ip
        .map(|ip| format!("ip daddr {ip} "))
        .unwrap_or_default();
    format!("{addr}{} dport {}", s.protocol, s.published)
}

/// The connection mark of a service port's connections: those leaving over the overlay (to a
/// backend on another node) are masqueraded, so that the backend answers through this node,
/// whose conntrack undoes the DNAT (`postrouting`, see [`super::ports::render`]).
pub const INGRESS_MARK: u32 = 0x534b;

/// The rules of the `ports` chain that DNAT the service ports with backends, one each: a
/// random pick over an anonymous map from 0..N to the backends, the connection marked
/// [`INGRESS_MARK`].
pub fn dnat_rules(services: &[ServicePort]) -> Vec<String> {
    services
        .iter()
        .filter(|s| !s.backends.is_empty())
        .map(|s| {
            let elements: Vec<String> = s
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| format!("{i} : {} . {}", b.ip(), b.port()))
                .collect();
            format!(
                "{} ct mark set {INGRESS_MARK:#x} dnat ip to numgen random mod {} map {{ {} }} comment \"{}\"",
                matches(s),
                s.backends.len(),
                elements.join(", "),
                s.name
            )
        })
        .collect()
}

/// The rules of the `refuse` chain (filter, input hook) for the service ports without
/// backends: a new connection gets a TCP reset or an ICMP port unreachable. Only new
/// connections, so that the answers to the node's own connections from that port number
/// are left alone. DNAT cannot refuse (`reject` is not allowed in a NAT chain); undNATed
/// traffic to a node address goes to the input hook, from other hosts, from containers and
/// from the node itself alike.
pub fn refuse_rules(services: &[ServicePort]) -> Vec<String> {
    services
        .iter()
        .filter(|s| s.backends.is_empty())
        .map(|s| {
            let reject = match s.protocol {
                Protocol::Tcp => "reject with tcp reset",
                Protocol::Udp => "reject",
            };
            format!(
                "ct state new {} {reject} comment \"{}\"",
                matches(s),
                s.name
            )
        })
        .collect()
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
