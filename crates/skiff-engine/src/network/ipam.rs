//! IP address management for one node subnet: pure logic over plain data (the caller loads
//! and saves it, see [`super::state`]).
//!
//! The first host address is the bridge's gateway; containers get the others. Addresses are
//! handed out in turn, continuing after the last one given (as Docker's and the CNI
//! host-local IPAM do), so an address just released — whose old veth the kernel may still be
//! tearing down — is the last to be reused.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Why a subnet or an allocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Host bits set (`10.1.0.5/24`).
    #[error("subnet {given}: host bits are set; did you mean {network}?")]
    HostBits {
        /// As given.
        given: Ipv4Net,
        /// The network it lies in.
        network: Ipv4Net,
    },
    /// Too small for a gateway and a container, or too large to be a node subnet.
    #[error("subnet {subnet}: the prefix must be between /8 and /30 (a gateway and at least one container)")]
    BadPrefix {
        /// As given.
        subnet: Ipv4Net,
    },
    /// Every address is taken.
    #[error("subnet {subnet} is exhausted: all {count} container addresses are in use; remove containers or use a larger subnet")]
    Exhausted {
        /// The subnet.
        subnet: Ipv4Net,
        /// How many addresses containers can have in it.
        count: u64,
    },
}

/// The allocations of one subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    /// The node subnet.
    pub subnet: Ipv4Net,
    /// Address → owner (a container id).
    pub allocated: BTreeMap<Ipv4Addr, String>,
    /// The address handed out last.
    pub last: Option<Ipv4Addr>,
}

impl Ipam {
    /// An empty allocation table for `subnet`, which must be a network address with a prefix
    /// from /8 to /30.
    pub fn new(subnet: Ipv4Net) -> Result<Ipam, IpamError> {
        check_subnet(subnet)?;
        Ok(Ipam {
            subnet,
            allocated: BTreeMap::new(),
            last: None,
        })
    }

    /// The bridge's address: the subnet's first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        gateway(self.subnet)
    }

    /// How many addresses containers can have.
    pub fn capacity(&self) -> u64 {
        u64::from(u32::from(last_host(self.subnet))) - u64::from(u32::from(first_host(self.subnet)))
            + 1
    }

    /// The address `owner` holds, if any.
    pub fn address_of(&self, owner: &str) -> Option<Ipv4Addr> {
        self.allocated
            .iter()
            .find(|(_, o)| o.as_str() == owner)
            .map(|(ip, _)| *ip)
    }

    /// An address for `owner`: the one it already holds, else the next free one after the
    /// last handed out. When none is free, allocations whose owner `is_live` says is gone
    /// (a container removed while its engine crashed) are reclaimed first.
    pub fn allocate(
        &mut self,
        owner: &str,
        is_live: impl Fn(&str) -> bool,
    ) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = self.address_of(owner) {
            return Ok(ip);
        }
        let ip = match self.next_free() {
            Some(ip) => ip,
            None => {
                self.allocated.retain(|_, o| is_live(o));
                self.next_free().ok_or(IpamError::Exhausted {
                    subnet: self.subnet,
                    count: self.capacity(),
                })?
            }
        };
        self.allocated.insert(ip, owner.to_string());
        self.last = Some(ip);
        Ok(ip)
    }

    /// Releases what `owner` holds; the address it had, if any.
    pub fn release(&mut self, owner: &str) -> Option<Ipv4Addr> {
        let ip = self.address_of(owner)?;
        self.allocated.remove(&ip);
        Some(ip)
    }

    /// Brings the table in line with the containers that exist, after its last writes may
    /// have been lost (it is not synced, see [`super`]): allocations whose owner `is_live`
    /// says is gone are dropped, and each address in `held` (owner and address, from the
    /// containers' records, which the starts use) is taken for its owner when it is a
    /// container address of the subnet.
    pub fn reconcile(
        &mut self,
        is_live: impl Fn(&str) -> bool,
        held: impl IntoIterator<Item = (String, Ipv4Addr)>,
    ) {
        self.allocated.retain(|_, o| is_live(o));
        let hosts = u32::from(first_host(self.subnet))..=u32::from(last_host(self.subnet));
        for (owner, ip) in held {
            if hosts.contains(&u32::from(ip)) {
                self.allocated.retain(|_, o| *o != owner);
                self.allocated.insert(ip, owner);
            }
        }
    }

    fn next_free(&self) -> Option<Ipv4Addr> {
        let first = u32::from(first_host(self.subnet));
        let last = u32::from(last_host(self.subnet));
        if self.allocated.len() as u64 >= self.capacity() {
            return None;
        }
        let start = match self.last.map(u32::from) {
            Some(l) if l >= first && l < last => l + 1,
            _ => first,
        };
        (start..=last)
            .chain(first..start)
            .map(Ipv4Addr::from)
            .find(|ip| !self.allocated.contains_key(ip))
    }
}

/// Checks that `subnet` can be a node subnet.
pub fn check_subnet(subnet: Ipv4Net) -> Result<(), IpamError> {
    if subnet.addr() != subnet.network() {
        return Err(IpamError::HostBits {
            given: subnet,
            network: subnet.trunc(),
        });
    }
    if !(8..=30).contains(&subnet.prefix_len()) {
        return Err(IpamError::BadPrefix { subnet });
    }
    Ok(())
}

/// The gateway (bridge) address of a subnet: its first host address.
pub fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 2)
}

fn last_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
}

#[cfg(test)]
#[path = "ipam_tests.rs"]
mod tests;
