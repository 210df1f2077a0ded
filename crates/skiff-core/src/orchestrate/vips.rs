//! Virtual IPs for services: which services need one, which must give theirs up, and which
//! address each gets — decided by the leader's orchestrator, the only writer of the field, so
//! two services never get one address (as Swarm's allocator runs on the leader alone).
//!
//! A service whose `endpoint_mode` is `vip` (the default) holds one address of the cluster's
//! service range; a `dnsrr` service holds none. An address outside the range (the range was
//! changed) or held by a service earlier in key order is replaced. A new address is the first
//! free one from a starting point drawn from the service's key, so that services of different
//! apps applied at once rarely contend for one and a service deleted and re-created tends to
//! get its address back.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use skiff_api::app::EndpointMode;

use crate::objects::{Key, Service};

/// The addresses services take their virtual IPs from: a CIDR block without its first
/// (network) and last (broadcast) addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VipRange {
    network: u32,
    prefix: u8,
}

/// Why a range cannot hold virtual IPs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VipRangeError {
    /// Fewer than two usable addresses, or a prefix longer than 32.
    #[error("service range {network}/{prefix}: give a block of /8 to /30")]
    Size {
        /// The address given.
        network: Ipv4Addr,
        /// The prefix length given.
        prefix: u8,
    },
    /// Host bits set.
    #[error("service range {network}/{prefix}: the address has bits set past the prefix; give the block's first address")]
    HostBits {
        /// The address given.
        network: Ipv4Addr,
        /// The prefix length given.
        prefix: u8,
    },
}

impl VipRange {
    /// The block `network/prefix`, from /8 to /30.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Self, VipRangeError> {
        if !(8..=30).contains(&prefix) {
            return Err(VipRangeError::Size { network, prefix });
        }
        let bits = u32::from(network);
        if bits & !(u32::MAX << (32 - prefix)) != 0 {
            return Err(VipRangeError::HostBits { network, prefix });
        }
        Ok(Self {
            network: bits,
            prefix,
        })
    }

    /// How many addresses services can take.
    pub fn capacity(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }

    /// Whether `ip` is one services can take.
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        let offset = u32::from(ip).wrapping_sub(self.network);
        (1..=self.capacity()).contains(&offset)
    }

    /// The `n`th address services can take, counting round the range.
    fn nth(&self, n: u64) -> Ipv4Addr {
        let offset = n % u64::from(self.capacity());
        Ipv4Addr::from(self.network + 1 + offset as u32)
    }
}

/// A change of one service's virtual IP.
#[derive(Debug, Clone, PartialEq)]
pub struct VipChange {
    /// The service, with its new address (or none).
    pub service: Service,
    /// The revision its record was read at.
    pub revision: u64,
}

/// What [`assign_vips`] decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VipPlan {
    /// The services whose address changes.
    pub changes: Vec<VipChange>,
    /// The services that need an address and got none: the range is full.
    pub exhausted: Vec<Key>,
}

fn key_of(service: &Service) -> Key {
    Key::Service {
        env: service.env.clone(),
        app: service.app.clone(),
        service: service.name.clone(),
    }
}

/// FNV-1a of the key's text: a stable starting point (the standard hasher is seeded).
fn start_of(key: &Key) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.to_string().bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash
}

/// The virtual IP changes `services` (each with its record's revision, in key order) need in
/// `range`.
pub fn assign_vips(services: &[(&Service, u64)], range: VipRange) -> VipPlan {
    let mut plan = VipPlan::default();
    let mut used: HashSet<Ipv4Addr> = HashSet::new();
    let mut needing = Vec::new();
    for &(service, revision) in services {
        let wants = service.spec.deploy.endpoint_mode == EndpointMode::Vip;
        match service.vip {
            Some(ip) if wants && range.holds(ip) && used.insert(ip) => {}
            Some(_) if !wants => plan.changes.push(VipChange {
                service: Service {
                    vip: None,
                    ..service.clone()
                },
                revision,
            }),
            _ if wants => needing.push((service, revision)),
            _ => {}
        }
    }
    for (service, revision) in needing {
        let key = key_of(service);
        let start = start_of(&key);
        // Up to the whole range; in practice a few steps, as long as it is far from full.
        let free = (0..range.capacity())
            .map(|step| range.nth(u64::from(start) + u64::from(step)))
            .find(|ip| !used.contains(ip));
        match free {
            Some(ip) => {
                used.insert(ip);
                plan.changes.push(VipChange {
                    service: Service {
                        vip: Some(ip),
                        ..service.clone()
                    },
                    revision,
                });
            }
            None => plan.exhausted.push(key),
        }
    }
    plan
}

#[cfg(test)]
#[path = "vips_tests.rs"]
mod tests;
