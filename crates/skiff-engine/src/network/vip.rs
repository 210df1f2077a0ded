//! Service virtual IPs: an address that stands for a service, whose connections are spread
//! over the service's backends — pure checks and the nftables rules that carry them out,
//! rendered into Skiff's table with the published ports (see [`super::ports::render`]), and
//! [`Engine::set_service_vips`], the kernel side.
//!
//! As Swarm's VIP (IPVS on a firewall mark, every port), a virtual IP takes every port and
//! protocol: the first packet of each new connection to it is DNATed to one backend picked at
//! random (`numgen random mod N` over an anonymous map), the port kept, so a client calling
//! `web:8080` reaches a task listening on 8080. Later packets follow the connection's conntrack
//! entry. The rules sit in the prerouting hook (containers of the node) and the output hook
//! (the node itself); a backend on another node is reached over the overlay like any other
//! container address. A virtual IP without backends refuses new connections (a TCP reset or an
//! ICMP unreachable, in the forward and output filter hooks) rather than letting them time
//! out. Every node carries the virtual IPs of the services its containers may call: the
//! address exists on no interface, it is only ever a destination rewritten on the way out.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::firewall::Kernel;
use super::ipam::Ipam;
use super::{netlink, wanted_table, NetworkError, State, Store};
use crate::container::record::boot_id;
use crate::{Engine, Error};

/// Most virtual IPs on one node.
pub const MAX_VIPS: usize = 4096;
/// Most backends of one virtual IP.
pub const MAX_VIP_BACKENDS: usize = 1024;
/// Longest virtual IP name (nftables comments take 128 bytes).
pub const MAX_VIP_NAME: usize = 128;

/// A service's virtual IP and where its connections go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVip {
    /// Whose address it is, for messages and the rule's comment (`dev/shop/web`): 1 to 128
    /// letters, digits, `-`, `_`, `.`, `/` or `:`.
    pub name: String,
    /// The virtual address.
    pub vip: Ipv4Addr,
    /// The task addresses new connections go to, one picked per connection; none: new
    /// connections are refused.
    #[serde(default)]
    pub backends: Vec<Ipv4Addr>,
}

/// Why a list of virtual IPs is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VipError {
    /// More virtual IPs than a node takes.
    #[error("{count} virtual IPs: a node takes at most {MAX_VIPS}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// A name Skiff does not take.
    #[error("virtual IP name {name:?}: use 1 to {MAX_VIP_NAME} letters, digits, '-', '_', '.', '/' or ':'")]
    BadName {
        /// The name (at most its first 64 characters).
        name: String,
    },
    /// An address that cannot be a virtual IP.
    #[error(
        "virtual IP {name}: {vip} is not a unicast address; give an address of the service range"
    )]
    BadAddress {
        /// The virtual IP's name.
        name: String,
        /// The address.
        vip: Ipv4Addr,
    },
    /// Two entries with one address.
    #[error("virtual IP {name}: {vip} is also the address of {other}; each service has its own")]
    Duplicate {
        /// The virtual IP's name.
        name: String,
        /// The address.
        vip: Ipv4Addr,
        /// The other entry's name.
        other: String,
    },
    /// Too many backends.
    #[error("virtual IP {name}: {count} backends; one takes at most {MAX_VIP_BACKENDS}")]
    TooManyBackends {
        /// The virtual IP's name.
        name: String,
        /// How many were given.
        count: usize,
    },
    /// A backend traffic cannot be sent to, or given twice.
    #[error("virtual IP {name}: backend {backend} is not a unicast address or is given twice; give each task's address once")]
    BadBackend {
        /// The virtual IP's name.
        name: String,
        /// The backend.
        backend: Ipv4Addr,
    },
}

fn unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}

/// Checks a list of virtual IPs on its own: names, addresses, backends, no address twice.
pub fn check(vips: &[ServiceVip]) -> Result<(), VipError> {
    if vips.len() > MAX_VIPS {
        return Err(VipError::TooMany { count: vips.len() });
    }
    let mut seen = std::collections::HashMap::new();
    for v in vips {
        let name_ok = !v.name.is_empty()
            && v.name.len() <= MAX_VIP_NAME
            && v.name.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':')
            });
        if !name_ok {
            return Err(VipError::BadName {
                name: v.name.chars().take(64).collect(),
            });
        }
        if !unicast(v.vip) {
            return Err(VipError::BadAddress {
                name: v.name.clone(),
                vip: v.vip,
            });
        }
        if let Some(other) = seen.insert(v.vip, &v.name) {
            return Err(VipError::Duplicate {
                name: v.name.clone(),
                vip: v.vip,
                other: other.clone(),
            });
        }
        if v.backends.len() > MAX_VIP_BACKENDS {
            return Err(VipError::TooManyBackends {
                name: v.name.clone(),
                count: v.backends.len(),
            });
        }
        for (i, b) in v.backends.iter().enumerate() {
            if !unicast(*b) || v.backends[..i].contains(b) {
                return Err(VipError::BadBackend {
                    name: v.name.clone(),
                    backend: *b,
                });
            }
        }
    }
    Ok(())
}

/// The rules of the `vips` chain (jumped to from the prerouting and output NAT hooks): one per
/// virtual IP with backends, DNATing to one of them picked at random, the port kept.
pub fn dnat_rules(vips: &[ServiceVip]) -> Vec<String> {
    vips.iter()
        .filter(|v| !v.backends.is_empty())
        .map(|v| {
            let elements: Vec<String> = v
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| format!("{i} : {b}"))
                .collect();
            format!(
                "ip daddr {} dnat ip to numgen random mod {} map {{ {} }} comment \"{}\"",
                v.vip,
                v.backends.len(),
                elements.join(", "),
                v.name
            )
        })
        .collect()
}

/// The rules of the `vip_refuse` chain (filter; forward and output hooks) for the virtual IPs
/// without backends: a new connection gets a TCP reset or an ICMP unreachable.
pub fn refuse_rules(vips: &[ServiceVip]) -> Vec<String> {
    vips.iter()
        .filter(|v| v.backends.is_empty())
        .flat_map(|v| {
            [
                format!(
                    "ct state new ip daddr {} meta l4proto tcp reject with tcp reset comment \"{}\"",
                    v.vip, v.name
                ),
                format!(
                    "ct state new ip daddr {} reject comment \"{}\"",
                    v.vip, v.name
                ),
            ]
        })
        .collect()
}

impl Engine {
    /// Makes the node's bridge (with the gateway address) if it is missing, and returns the
    /// gateway address: where the agent's DNS server listens.
    pub fn ensure_bridge(&self) -> Result<Ipv4Addr, Error> {
        let opts = self.opts.network.clone();
        opts.check()?;
        let gateway = Ipam::new(opts.subnet)
            .map_err(NetworkError::from)?
            .gateway();
        let (bridge, subnet, mtu) = (opts.bridge.clone(), opts.subnet, opts.mtu);
        netlink::run(move |h| async move {
            netlink::ensure_bridge(&h, &bridge, subnet, gateway, mtu).await
        })?;
        Ok(gateway)
    }

    /// Makes the node's virtual IPs exactly `vips` (level-triggered: the whole list, replacing
    /// the last one; an empty list removes them all). The list is checked first (a refusal
    /// names the entry and changes nothing); the state file and Skiff's nftables table are
    /// updated together (one nft transaction); the bridge is made if it is missing.
    pub fn set_service_vips(&self, vips: &[ServiceVip]) -> Result<(), Error> {
        let opts = self.opts.network.clone();
        opts.check()?;
        check(vips).map_err(NetworkError::from)?;
        let store = Store::new(self.data_dir());
        if vips.is_empty() && !store.path().exists() {
            return Ok(());
        }
        let _lock = store.lock()?;
        let prev = match store.load()? {
            Some(state) => state,
            None => State::new(Ipam::new(opts.subnet).map_err(NetworkError::from)?),
        };
        let mut next = prev.clone();
        next.check_against_records(&self.data_dir().join("containers"), &boot_id());
        let mut sorted = vips.to_vec();
        sorted.sort();
        next.vips = sorted;
        let (bridge, subnet, masquerade) = match &next.table {
            Some(t) => (t.bridge.clone(), t.subnet, t.masquerade),
            None => (opts.bridge.clone(), opts.subnet, opts.masquerade),
        };
        next.table = wanted_table(&next, &bridge, subnet, masquerade);
        if !next.vips.is_empty() {
            let (bridge, subnet, mtu) = (opts.bridge.clone(), opts.subnet, opts.mtu);
            let gateway = next.ipam.gateway();
            netlink::run(move |h| async move {
                netlink::ensure_bridge(&h, &bridge, subnet, gateway, mtu).await
            })?;
            super::enable_forwarding();
        }
        super::save_synced(&store, &prev, &next, &Kernel)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "vip_tests.rs"]
mod tests;
