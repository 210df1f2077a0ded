//! Published ports: which mappings a node holds, whether a new one may join them, and the
//! nftables ruleset that carries them out — pure functions over plain data (the kernel side
//! is in [`super::firewall`]).
//!
//! The ruleset is Skiff's own table, `ip skiff`, rendered whole from the state file and
//! swapped in by one nft transaction (see [`render`]): per-container data lives only in the
//! table's maps, so adding or removing a container never needs a rule handle, and a table
//! lost to a reboot or an operator's `nft flush ruleset` is rebuilt exactly.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::overlay::OVERLAY_DEVICE;
use super::service::{self, ServicePort};
use super::vip::{self, ServiceVip};
use crate::container::{PortMapping, Protocol};

/// The nftables table Skiff owns (family `ip`); nothing else is ever touched.
pub const TABLE: &str = "skiff";

/// Most ports one container may publish (a range such as `1-65535` is a slip, not a plan).
pub const MAX_PER_CONTAINER: usize = 4096;

/// Why a port cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Port 0 on either side.
    #[error("{mapping}: port 0 is not a port; host and container ports are 1 to 65535")]
    ZeroPort {
        /// The mapping.
        mapping: String,
    },
    /// A host address that cannot receive traffic for one node.
    #[error("{mapping}: {ip} is not a unicast address; publish on one of the node's addresses, or give none to publish on every address")]
    BadHostIp {
        /// The mapping.
        mapping: String,
        /// The address.
        ip: Ipv4Addr,
    },
    /// Two mappings of one request would take the same port.
    #[error("{first} and {second} are both asked for: a host port, protocol and address can be published once")]
    Duplicate {
        /// The first one.
        first: String,
        /// The one that clashes with it.
        second: String,
    },
    /// More ports than a container may publish.
    #[error("{count} published ports: a container publishes at most {MAX_PER_CONTAINER}")]
    TooMany {
        /// How many were asked for.
        count: usize,
    },
    /// Another container publishes the port.
    #[error("{wanted} conflicts with {held}, published by container {name} ({id}): choose another host port, or remove that container")]
    InUse {
        /// The mapping asked for.
        wanted: String,
        /// The one held.
        held: String,
        /// The holder's name.
        name: String,
        /// The holder's id (12 characters).
        id: String,
    },
    /// A service port (node-local ingress) takes the port.
    #[error(
        "{wanted} conflicts with {held}, the service port of {service}: choose another host port"
    )]
    HeldByService {
        /// The mapping asked for.
        wanted: String,
        /// The service port's.
        held: String,
        /// The service port's name.
        service: String,
    },
    /// A program on the node listens on the port.
    #[error("{wanted}: a program on the node already uses this port ({message}); choose another host port")]
    Busy {
        /// The mapping asked for.
        wanted: String,
        /// What binding it said.
        message: String,
    },
    /// The host address is not one of the node's.
    #[error("{wanted}: {ip} is not an address of this node; publish on one of its addresses, or give none to publish on every address")]
    NotLocal {
        /// The mapping asked for.
        wanted: String,
        /// The address.
        ip: Ipv4Addr,
    },
}

/// A port published on the node, as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedPort {
    /// The container's id.
    pub owner: String,
    /// The container's name, for messages.
    pub name: String,
    /// The mapping.
    pub mapping: PortMapping,
    /// The container's address, where traffic goes.
    pub container_ip: Ipv4Addr,
}

/// How Skiff's table is set up, besides its elements; kept in the state file so that a
/// release or a restore renders the table the last create asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The bridge containers are on.
    pub bridge: String,
    /// The node subnet.
    pub subnet: Ipv4Net,
    /// Masquerade container traffic that leaves the node.
    pub masquerade: bool,
}

/// `8080/tcp`, `127.0.0.1:8080/udp`: how messages name a published port.
pub fn describe(m: &PortMapping) -> String {
    match m.host_ip {
        Some(ip) => format!("{ip}:{}/{}", m.host_port, m.protocol),
        None => format!("{}/{}", m.host_port, m.protocol),
    }
}

/// Checks a container's mappings on their own: ports 1 to 65535, unicast host addresses, no
/// port asked for twice, not too many.
pub fn check(mappings: &[PortMapping]) -> Result<(), PortError> {
    if mappings.len() > MAX_PER_CONTAINER {
        return Err(PortError::TooMany {
            count: mappings.len(),
        });
    }
    for (i, m) in mappings.iter().enumerate() {
        if m.host_port == 0 || m.container_port == 0 {
            return Err(PortError::ZeroPort {
                mapping: format!("{}:{}", describe(m), m.container_port),
            });
        }
        if let Some(ip) = m.host_ip {
            if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
                return Err(PortError::BadHostIp {
                    mapping: describe(m),
                    ip,
                });
            }
        }
        if let Some(first) = mappings[..i].iter().find(|o| overlaps(o, m)) {
            return Err(PortError::Duplicate {
                first: describe(first),
                second: describe(m),
            });
        }
    }
    Ok(())
}

/// Whether two mappings would take the same traffic: the same protocol and host port, and an
/// address in common (no address means every address).
pub fn overlaps(a: &PortMapping, b: &PortMapping) -> bool {
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && match (a.host_ip, b.host_ip) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// The first of `wanted` that a port already published takes, with its holder.
pub fn conflict<'a>(
    held: &'a [PublishedPort],
    wanted: &'a [PortMapping],
) -> Option<(&'a PortMapping, &'a PublishedPort)> {
    wanted.iter().find_map(|w| {
        held.iter()
            .find(|h| overlaps(&h.mapping, w))
            .map(|h| (w, h))
    })
}

/// The error for `wanted` taken by `held`.
pub fn in_use(wanted: &PortMapping, held: &PublishedPort) -> PortError {
    PortError::InUse {
        wanted: describe(wanted),
        held: describe(&held.mapping),
        name: held.name.clone(),
        id: held.owner.get(..12).unwrap_or(&held.owner).to_string(),
    }
}

/// The table a node needs: one when a port is published or masquerading is asked for.
pub fn wanted_table(
    bridge: &str,
    subnet: Ipv4Net,
    masquerade: bool,
    ports: &[PublishedPort],
) -> Option<Table> {
    (masquerade || !ports.is_empty()).then(|| Table {
        bridge: bridge.to_string(),
        subnet,
        masquerade,
    })
}

/// The nft script that removes Skiff's tables if they are there: `ip skiff` and `bridge
/// skiff`, which only isolation uses (see [`super::isolation`]). Declaring an empty table
/// first makes the delete succeed either way, in one transaction.
pub fn removal() -> String {
    format!(
        "table ip {TABLE} {{}}\ndelete table ip {TABLE}\n\
         table bridge {TABLE} {{}}\ndelete table bridge {TABLE}\n"
    )
}

/// The nft script that replaces Skiff's table with the one `table`, `ports` and `services`
/// describe, in one transaction: other tables are never named, and the kernel applies all of
/// it or none.
///
/// * `prerouting` (traffic arriving at the node) and `output` (the node's own traffic) send
///   packets addressed to one of the node's own addresses to `ports`, which DNATs them: a
///   rule per service port with backends (see [`service::dnat_rules`]), then through the
///   maps: `*_addr` for ports published on one address, `*_any` for every address;
/// * `refuse` (only when a service port has no backends) rejects new connections to those;
/// * `postrouting` masquerades what a container must not see with its real source: a
///   container reaching a published port through the node (hairpin: the answer would
///   otherwise go straight back over the bridge) and the node's own loopback traffic
///   (`127.0.0.1:PORT`), and, when asked for, container traffic leaving the node;
/// * `guard` drops loopback addresses arriving from the bridge: `route_localnet`, which lets
///   the node's loopback traffic reach containers, would otherwise let containers reach the
///   node's loopback services.
pub fn render(
    table: &Table,
    ports: &[PublishedPort],
    services: &[ServicePort],
    vips: &[ServiceVip],
) -> String {
    let (bridge, subnet) = (&table.bridge, table.subnet);
    let mut s = removal();
    let _ = writeln!(s, "table ip {TABLE} {{");
    for proto in [Protocol::Tcp, Protocol::Udp] {
        let of = |any: bool| {
            ports
                .iter()
                .filter(move |p| p.mapping.protocol == proto && p.mapping.host_ip.is_none() == any)
        };
        map(
            &mut s,
            &format!("{proto}_any"),
            "inet_service",
            of(true).map(|p| {
                format!(
                    "{} : {} . {}",
                    p.mapping.host_port, p.container_ip, p.mapping.container_port
                )
            }),
        );
        map(
            &mut s,
            &format!("{proto}_addr"),
            "ipv4_addr . inet_service",
            of(false).map(|p| {
                format!(
                    "{} . {} : {} . {}",
                    p.mapping.host_ip.expect("only addressed ports"),
                    p.mapping.host_port,
                    p.container_ip,
                    p.mapping.container_port
                )
            }),
        );
    }
    let mut ports_chain = service::dnat_rules(services);
    for proto in [Protocol::Tcp, Protocol::Udp] {
        ports_chain.push(format!(
            "dnat ip to ip daddr . {proto} dport map @{proto}_addr"
        ));
        ports_chain.push(format!("dnat ip to {proto} dport map @{proto}_any"));
    }
    chain(&mut s, "ports", None, &ports_chain);
    let mut local = Vec::new();
    if !vips.is_empty() {
        chain(&mut s, "vips", None, &vip::dnat_rules(vips));
        // A virtual IP is on no interface: never `type local`.
        local.push("jump vips".to_string());
    }
    local.push("fib daddr type local jump ports".to_string());
    chain(
        &mut s,
        "prerouting",
        Some("type nat hook prerouting priority -100; policy accept;"),
        &local,
    );
    chain(
        &mut s,
        "output",
        Some("type nat hook output priority -100; policy accept;"),
        &local,
    );
    let mut post = vec![
        format!("oifname \"{bridge}\" ct status dnat ip saddr {subnet} masquerade"),
        format!("oifname \"{bridge}\" ip saddr 127.0.0.0/8 masquerade"),
    ];
    if table.masquerade {
        // Traffic to other nodes' containers keeps its address: the overlay routes it back.
        post.push(format!("oifname \"{OVERLAY_DEVICE}\" accept"));
        post.push(format!(
            "ip saddr {subnet} oifname != \"{bridge}\" masquerade"
        ));
    }
    chain(
        &mut s,
        "postrouting",
        Some("type nat hook postrouting priority 100; policy accept;"),
        &post,
    );
    chain(
        &mut s,
        "guard",
        Some("type filter hook prerouting priority -150; policy accept;"),
        &[
            format!("iifname \"{bridge}\" ip saddr 127.0.0.0/8 drop"),
            format!("iifname \"{bridge}\" ip daddr 127.0.0.0/8 drop"),
        ],
    );
    let vip_refuse = vip::refuse_rules(vips);
    if !vip_refuse.is_empty() {
        chain(&mut s, "vip_refuse", None, &vip_refuse);
        for hook in ["forward", "output"] {
            chain(
                &mut s,
                &format!("vip_refuse_{hook}"),
                Some(&format!(
                    "type filter hook {hook} priority 0; policy accept;"
                )),
                &["jump vip_refuse".to_string()],
            );
        }
    }
    let refuse = service::refuse_rules(services);
    if !refuse.is_empty() {
        chain(
            &mut s,
            "refuse",
            Some("type filter hook input priority 0; policy accept;"),
            &refuse,
        );
    }
    s.push_str("}\n");
    s
}

/// Appends a map declaration with its elements.
fn map(s: &mut String, name: &str, key: &str, elements: impl Iterator<Item = String>) {
    let elements: Vec<String> = elements.collect();
    let _ = writeln!(s, "\tmap {name} {{");
    let _ = writeln!(s, "\t\ttype {key} : ipv4_addr . inet_service");
    if !elements.is_empty() {
        // An empty `elements = { }` is a syntax error.
        let _ = writeln!(s, "\t\telements = {{ {} }}", elements.join(", "));
    }
    let _ = writeln!(s, "\t}}");
}

/// Appends a chain with its rules.
fn chain(s: &mut String, name: &str, base: Option<&str>, rules: &[String]) {
    let _ = writeln!(s, "\tchain {name} {{");
    if let Some(base) = base {
        let _ = writeln!(s, "\t\t{base}");
    }
    for rule in rules {
        let _ = writeln!(s, "\t\t{rule}");
    }
    let _ = writeln!(s, "\t}}");
}

/// Drops the entries whose owner `is_live` says is gone (a container directory removed
/// behind the engine's back, or a `--rm` shim that could not reach nft); how many went.
pub fn prune(ports: &mut Vec<PublishedPort>, is_live: impl Fn(&str) -> bool) -> usize {
    let owners: BTreeSet<String> = ports
        .iter()
        .map(|p| p.owner.clone())
        .filter(|o| !is_live(o))
        .collect();
    let before = ports.len();
    ports.retain(|p| !owners.contains(&p.owner));
    before - ports.len()
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;
