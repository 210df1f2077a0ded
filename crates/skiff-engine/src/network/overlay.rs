//! The VXLAN overlay between nodes, flannel's `vxlan` backend in shape: one VXLAN device per
//! node (`skiff.vxlan`), and per peer node a route to its subnet through its VTEP, a permanent
//! neighbour entry for that VTEP and a forwarding entry sending the VTEP's hardware address to
//! the peer's underlay address.
//!
//! A peer is only its underlay address and its node subnet: its VTEP address (the subnet's
//! network address) and its VTEP hardware address ([`vtep_mac`]) are derived from the subnet,
//! so nothing else has to be exchanged between nodes. [`Engine::set_overlay`] takes the whole
//! list and makes the kernel hold exactly that list (additions, changes, removals), level-
//! triggered: the caller (later the agent, from the node list) simply hands over the current
//! list, again after a restart. The kernel is the record: nothing is kept on disk.
//!
//! The work is split so that decisions are data: [`plan`] computes the desired state and the
//! changes from what the kernel holds (pure, unit-tested); `kernel` reads the kernel into
//! that form and carries the changes out over rtnetlink.
//!
//! What Skiff owns in the kernel: the device `skiff.vxlan` and everything on it, and the
//! routes of protocol [`ROUTE_PROTOCOL`] in the main table. Any other route is never changed;
//! a peer subnet that overlaps one is refused.

mod kernel;
pub mod plan;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{netlink, NetworkError, NetworkOptions, Store};
use crate::{Engine, Error};
pub use plan::{Change, DeviceSpec};

/// The overlay device's name.
pub const OVERLAY_DEVICE: &str = "skiff.vxlan";
/// The default VXLAN network identifier.
pub const DEFAULT_VNI: u32 = 1;
/// The default UDP port: IANA's VXLAN port.
pub const DEFAULT_PORT: u16 = 4789;
/// The protocol number Skiff's overlay routes carry (`ip route show proto 83`), so that no
/// other route is ever taken for one of them.
pub const ROUTE_PROTOCOL: u8 = 83;
/// The bytes VXLAN adds to each packet on an IPv4 underlay: outer IPv4 (20), UDP (8), VXLAN
/// (8) and inner Ethernet (14) headers.
pub const VXLAN_OVERHEAD: u32 = 50;
/// The largest VXLAN network identifier (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// This node's overlay: its own underlay address and the other nodes. Its own subnet is the
/// engine's node subnet ([`NetworkOptions::subnet`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// This node's address on the underlay: VXLAN packets leave from it, peers send to it.
    pub local: Ipv4Addr,
    /// The VXLAN network identifier, the same on every node (1 to 16777215).
    #[serde(default = "default_vni")]
    pub vni: u32,
    /// The UDP port VXLAN packets are sent to and received on, the same on every node.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The other nodes.
    #[serde(default)]
    pub peers: Vec<Peer>,
}

fn default_vni() -> u32 {
    DEFAULT_VNI
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl Overlay {
    /// An overlay from `local` with the default VNI and port and no peers.
    pub fn new(local: Ipv4Addr) -> Overlay {
        Overlay {
            local,
            vni: DEFAULT_VNI,
            port: DEFAULT_PORT,
            peers: Vec::new(),
        }
    }
}

/// Another node: where it is on the underlay and the subnet its containers have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its underlay address.
    pub address: Ipv4Addr,
    /// Its node subnet.
    pub subnet: Ipv4Net,
}

/// `ADDRESS=SUBNET`, as the CLI takes it.
impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.address, self.subnet)
    }
}

impl FromStr for Peer {
    type Err = OverlayError;

    /// Parses `ADDRESS=SUBNET` (`10.0.0.2=10.1.2.0/24`).
    fn from_str(s: &str) -> Result<Peer, OverlayError> {
        let bad = |reason: &str| OverlayError::PeerSyntax {
            given: s.to_string(),
            reason: reason.to_string(),
        };
        let (address, subnet) = s
            .split_once('=')
            .ok_or_else(|| bad("no '=' between the address and the subnet"))?;
        Ok(Peer {
            address: address
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{address:?} is not an IPv4 address")))?,
            subnet: subnet
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{subnet:?} is not an IPv4 subnet (CIDR)")))?,
        })
    }
}

/// A hardware (MAC) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The hardware address of the VTEP of the node with `subnet`: `0e:73` (locally administered,
/// unicast) followed by the subnet's network address. Distinct for subnets that do not
/// overlap, which is all a valid list has.
pub fn vtep_mac(subnet: Ipv4Net) -> Mac {
    let [a, b, c, d] = subnet.network().octets();
    Mac([0x0e, 0x73, a, b, c, d])
}

/// The VTEP address of the node with `subnet`: the subnet's network address, which no
/// container or bridge uses. It sits on the overlay device as a /32, as flannel does.
pub fn vtep_address(subnet: Ipv4Net) -> Ipv4Addr {
    subnet.network()
}

/// Why an overlay was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverlayError {
    /// A peer that does not parse.
    #[error("peer {given:?}: {reason}; give ADDRESS=SUBNET, e.g. 10.0.0.2=10.1.2.0/24")]
    PeerSyntax {
        /// As given.
        given: String,
        /// What is wrong.
        reason: String,
    },
    /// A VNI out of range.
    #[error("vni {vni} (--vni): must be between 1 and {MAX_VNI}")]
    BadVni {
        /// As given.
        vni: u32,
    },
    /// Port 0.
    #[error("port {port} (--port): must be between 1 and 65535")]
    BadPort {
        /// As given.
        port: u16,
    },
    /// A local address that cannot be a tunnel endpoint.
    #[error("local address {local} (--local): must be a unicast address of this node")]
    BadLocal {
        /// As given.
        local: Ipv4Addr,
    },
    /// A local address no link of the node has.
    #[error("local address {local} (--local) is not an address of this node; give the address the other nodes reach this one at")]
    LocalNotOnNode {
        /// As given.
        local: Ipv4Addr,
    },
    /// A peer address that cannot be a tunnel endpoint.
    #[error("peer {peer} (--peer): {} is not a unicast address", peer.address)]
    BadPeerAddress {
        /// The peer.
        peer: Peer,
    },
    /// This node in its own peer list.
    #[error("peer {peer} (--peer): {} is this node's own address (--local); list only the other nodes", peer.address)]
    PeerIsLocal {
        /// The peer.
        peer: Peer,
    },
    /// Two peers with one address.
    #[error("peer {peer} (--peer): address {} is listed twice (also as {first}); list each node once", peer.address)]
    DuplicatePeer {
        /// The second one.
        peer: Peer,
        /// The first one.
        first: Peer,
    },
    /// A subnet with host bits set.
    #[error("peer {peer} (--peer): subnet {} has host bits set; did you mean {network}?", peer.subnet)]
    PeerHostBits {
        /// The peer.
        peer: Peer,
        /// The network its subnet lies in.
        network: Ipv4Net,
    },
    /// A subnet too large or too small to be a node subnet.
    #[error("peer {peer} (--peer): subnet {} must have a prefix between /8 and /30, as a node subnet does", peer.subnet)]
    PeerPrefix {
        /// The peer.
        peer: Peer,
    },
    /// A peer subnet that overlaps this node's.
    #[error("peer {peer} (--peer): its subnet overlaps this node's subnet {local} (--subnet); every node needs a subnet of its own")]
    PeerOverlapsLocal {
        /// The peer.
        peer: Peer,
        /// This node's subnet.
        local: Ipv4Net,
    },
    /// Two peers whose subnets overlap.
    #[error("peer {peer} (--peer): its subnet overlaps that of peer {other}; every node needs a subnet of its own")]
    PeersOverlap {
        /// The later one.
        peer: Peer,
        /// The earlier one.
        other: Peer,
    },
    /// A peer whose underlay address is inside the overlay.
    #[error("peer {peer} (--peer): its address {} is inside the container subnet {subnet}; give its underlay address", peer.address)]
    PeerAddressInOverlay {
        /// The peer.
        peer: Peer,
        /// The subnet it is in.
        subnet: Ipv4Net,
    },
    /// A peer subnet that overlaps a route that is not Skiff's.
    #[error("peer {peer} (--peer): its subnet overlaps the route to {route} on {dev}, which is not Skiff's; choose node subnets that are not in use")]
    PeerOverlapsRoute {
        /// The peer.
        peer: Peer,
        /// The route.
        route: Ipv4Net,
        /// Its link.
        dev: String,
    },
    /// The node's bridge serves another subnet than the engine's.
    #[error("bridge {bridge} has address {found}, not in the node subnet {subnet} (--subnet): give the subnet the bridge serves")]
    BridgeMismatch {
        /// The bridge.
        bridge: String,
        /// An address it has.
        found: Ipv4Net,
        /// The engine's node subnet.
        subnet: Ipv4Net,
    },
    /// The device name is taken by something else.
    #[error(
        "a {kind} device named {name} exists; Skiff's overlay needs that name (remove the device)"
    )]
    DeviceTaken {
        /// The name.
        name: String,
        /// What it is.
        kind: String,
    },
}

/// What the kernel says about the node, besides Skiff's own overlay state: what an overlay is
/// checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// The IPv4 addresses of the node's links.
    pub addresses: Vec<NodeAddress>,
    /// The main table's unicast routes that are neither Skiff's nor on the overlay device.
    pub routes: Vec<ForeignRoute>,
    /// The engine's bridge, if it exists.
    pub bridge: Option<BridgeFacts>,
}

/// An address of one of the node's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// The address and its prefix.
    pub address: Ipv4Net,
    /// Its link's index.
    pub link: u32,
    /// Its link's MTU.
    pub mtu: u32,
}

/// A route that is not Skiff's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRoute {
    /// Where it leads.
    pub dest: Ipv4Net,
    /// Its link's name.
    pub dev: String,
    /// Whether it is a link's own subnet (no gateway) rather than a route through a router.
    pub connected: bool,
}

/// The engine's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeFacts {
    /// Its name.
    pub name: String,
    /// Its MTU (the containers').
    pub mtu: u32,
    /// Its addresses.
    pub addresses: Vec<Ipv4Net>,
}

/// Checks an overlay on its own and against this node's subnet: the checks that need no
/// kernel. Every peer is named in the error that concerns it.
pub fn validate(overlay: &Overlay, local_subnet: Ipv4Net) -> Result<(), OverlayError> {
    if !(1..=MAX_VNI).contains(&overlay.vni) {
        return Err(OverlayError::BadVni { vni: overlay.vni });
    }
    if overlay.port == 0 {
        return Err(OverlayError::BadPort { port: overlay.port });
    }
    if !unicast(overlay.local) {
        return Err(OverlayError::BadLocal {
            local: overlay.local,
        });
    }
    for (i, &peer) in overlay.peers.iter().enumerate() {
        let earlier = &overlay.peers[..i];
        if !unicast(peer.address) {
            return Err(OverlayError::BadPeerAddress { peer });
        }
        if peer.address == overlay.local {
            return Err(OverlayError::PeerIsLocal { peer });
        }
        if let Some(&first) = earlier.iter().find(|p| p.address == peer.address) {
            return Err(OverlayError::DuplicatePeer { peer, first });
        }
        if peer.subnet.network() != peer.subnet.addr() {
            return Err(OverlayError::PeerHostBits {
                peer,
                network: peer.subnet.trunc(),
            });
        }
        if !(8..=30).contains(&peer.subnet.prefix_len()) {
            return Err(OverlayError::PeerPrefix { peer });
        }
        if overlaps(peer.subnet, local_subnet) {
            return Err(OverlayError::PeerOverlapsLocal {
                peer,
                local: local_subnet,
            });
        }
        if let Some(&other) = earlier.iter().find(|p| overlaps(p.subnet, peer.subnet)) {
            return Err(OverlayError::PeersOverlap { peer, other });
        }
    }
    for &peer in &overlay.peers {
        let subnets = std::iter::once(local_subnet).chain(overlay.peers.iter().map(|p| p.subnet));
        for subnet in subnets {
            if subnet.contains(&peer.address) {
                return Err(OverlayError::PeerAddressInOverlay { peer, subnet });
            }
        }
    }
    Ok(())
}

/// Checks an overlay against the node (its addresses, its other routes, its bridge) and
/// returns the device it asks for. `opts` are the engine's network options.
pub fn device_for(
    overlay: &Overlay,
    opts: &NetworkOptions,
    facts: &NodeFacts,
) -> Result<DeviceSpec, OverlayError> {
    validate(overlay, opts.subnet)?;
    let underlay = facts
        .addresses
        .iter()
        .find(|a| a.address.addr() == overlay.local)
        .ok_or(OverlayError::LocalNotOnNode {
            local: overlay.local,
        })?;
    for &peer in &overlay.peers {
        // A peer subnet may lie inside a broader route through a router (10.0.0.0/8 via
        // the LAN's router): the more specific route wins. It may not take a link's own
        // subnet, nor hide a route inside it, nor be a route that exists already.
        let conflicts = |r: &&ForeignRoute| {
            r.dest.prefix_len() > 0
                && overlaps(r.dest, peer.subnet)
                && (r.connected || peer.subnet.contains(&r.dest))
        };
        if let Some(route) = facts.routes.iter().find(conflicts) {
            return Err(OverlayError::PeerOverlapsRoute {
                peer,
                route: route.dest,
                dev: route.dev.clone(),
            });
        }
    }
    if let Some(bridge) = &facts.bridge {
        if let Some(&found) = bridge.addresses.iter().find(|a| a.trunc() != opts.subnet) {
            return Err(OverlayError::BridgeMismatch {
                bridge: bridge.name.clone(),
                found,
                subnet: opts.subnet,
            });
        }
    }
    // The overlay carries what the containers send: the bridge's MTU (or the one a bridge
    // will be made with), but never more than the underlay can carry once encapsulated.
    let containers = facts.bridge.as_ref().map_or(opts.mtu, |b| b.mtu);
    let mtu = containers.min(underlay.mtu.saturating_sub(VXLAN_OVERHEAD));
    Ok(DeviceSpec {
        vni: overlay.vni,
        port: overlay.port,
        local: overlay.local,
        underlay: underlay.link,
        mtu,
        mac: vtep_mac(opts.subnet),
        address: Ipv4Net::new(vtep_address(opts.subnet), 32).expect("a /32"),
    })
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast())
}

/// The overlay as the kernel has it, for `skiff network inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverlayStatus {
    /// The device's name.
    pub device: String,
    /// Its VNI.
    pub vni: Option<u32>,
    /// Its UDP port.
    pub port: Option<u16>,
    /// Its local underlay address.
    pub local: Option<Ipv4Addr>,
    /// Its MTU.
    pub mtu: u32,
    /// Its hardware address (this node's VTEP's).
    pub mac: Option<Mac>,
    /// Whether it is up.
    pub up: bool,
    /// Its addresses (this node's VTEP address).
    pub addresses: Vec<Ipv4Net>,
    /// The peers, as the routes, neighbour and forwarding entries describe them.
    pub peers: Vec<PeerStatus>,
}

/// One peer as the kernel has it: a route of Skiff's, and what its VTEP resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    /// The peer's subnet (the route's destination).
    pub subnet: Ipv4Net,
    /// Its VTEP address (the route's gateway).
    pub vtep: Option<Ipv4Addr>,
    /// The VTEP's hardware address (its neighbour entry), if there is one.
    pub mac: Option<Mac>,
    /// The peer's underlay address (the forwarding entry of that hardware address).
    pub address: Option<Ipv4Addr>,
}

impl Engine {
    /// Makes this node's overlay equal to `overlay`: creates the VXLAN device if it is
    /// missing (or makes it again when its VNI, port or local address change), and adds,
    /// changes and removes routes, neighbour and forwarding entries until the kernel holds
    /// exactly the given peers. The list is checked first: a bad one is refused with an error
    /// naming the peer, and nothing is changed. Should the kernel refuse a change half-way,
    /// what was there before is put back. Returns the changes made (none when the kernel
    /// already matched).
    pub fn set_overlay(&self, overlay: &Overlay) -> Result<Vec<Change>, Error> {
        let opts = self.opts.network.clone();
        opts.check()?;
        validate(overlay, opts.subnet).map_err(NetworkError::from)?;
        let store = Store::new(self.data_dir());
        let _lock = store.lock()?;
        let overlay = overlay.clone();
        let changes = netlink::run(move |h| async move { kernel::set(&h, &opts, &overlay).await })?;
        super::enable_forwarding();
        Ok(changes)
    }

    /// Removes the overlay: the VXLAN device (its neighbour and forwarding entries and its
    /// routes go with it) and any route of Skiff's left elsewhere. Returns whether there was
    /// anything to remove.
    pub fn remove_overlay(&self) -> Result<bool, Error> {
        let store = Store::new(self.data_dir());
        let _lock = store.lock()?;
        let bridge = self.opts.network.bridge.clone();
        Ok(netlink::run(move |h| async move {
            kernel::remove(&h, &bridge).await
        })?)
    }

    /// The overlay as the kernel has it, if there is one.
    pub fn overlay_status(&self) -> Result<Option<OverlayStatus>, Error> {
        let bridge = self.opts.network.bridge.clone();
        Ok(netlink::run(move |h| async move {
            kernel::status(&h, &bridge).await
        })?)
    }
}
