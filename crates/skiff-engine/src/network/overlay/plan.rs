//! The overlay as data: what the kernel should hold for a list of peers ([`Desired`]), what
//! it holds ([`Actual`]), and the ordered changes from one to the other ([`plan`],
//! [`removal`]). Pure: no kernel here, so that every case is a unit test.
//!
//! Order matters while traffic flows: a peer is added forwarding entry first, then neighbour
//! entry, then route, so that the route never points at a VTEP that cannot be resolved; it
//! is removed in the reverse order. A peer whose underlay address changes keeps its route
//! and neighbour entry and has its forwarding entry replaced in one request.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use super::{vtep_address, vtep_mac, Mac, OverlayError, Peer, PeerStatus, OVERLAY_DEVICE};

/// The overlay device Skiff wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSpec {
    /// VXLAN network identifier.
    pub vni: u32,
    /// UDP port.
    pub port: u16,
    /// Local underlay address.
    pub local: Ipv4Addr,
    /// The index of the underlay link (the one with the local address).
    pub underlay: u32,
    /// MTU.
    pub mtu: u32,
    /// Hardware address: this node's VTEP's.
    pub mac: Mac,
    /// This node's VTEP address, as a /32.
    pub address: Ipv4Net,
}

/// The overlay device as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    /// Its index.
    pub index: u32,
    /// Its kind (`vxlan` unless the name is taken by something else).
    pub kind: String,
    /// VNI.
    pub vni: Option<u32>,
    /// UDP port.
    pub port: Option<u16>,
    /// Local address.
    pub local: Option<Ipv4Addr>,
    /// Underlay link.
    pub underlay: Option<u32>,
    /// Whether it learns remote addresses from traffic.
    pub learning: Option<bool>,
    /// Whether it sends outer UDP checksums.
    pub udp_csum: Option<bool>,
    /// A default remote (Skiff sets none).
    pub remote: Option<Ipv4Addr>,
    /// MTU.
    pub mtu: u32,
    /// Hardware address.
    pub mac: Option<Mac>,
    /// Whether it is up.
    pub up: bool,
    /// Its IPv4 addresses.
    pub addresses: Vec<Ipv4Net>,
}

/// The link a route of Skiff's goes out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RouteDev {
    /// The overlay device.
    Overlay,
    /// Another link (a leftover: Skiff's routes are all on the overlay device), by index;
    /// 0 when the route names none.
    Other(u32),
}

/// A route of Skiff's: `subnet via VIA onlink dev DEV proto 83`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Destination.
    pub subnet: Ipv4Net,
    /// Gateway: the peer's VTEP address.
    pub via: Option<Ipv4Addr>,
    /// Link.
    pub dev: RouteDev,
}

/// A permanent neighbour entry on the overlay device: a VTEP's address → its hardware address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Neighbour {
    /// The VTEP's address.
    pub ip: Ipv4Addr,
    /// Its hardware address.
    pub mac: Mac,
}

/// A forwarding entry of the overlay device: a VTEP's hardware address → the underlay
/// address VXLAN packets for it are sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fdb {
    /// The VTEP's hardware address.
    pub mac: Mac,
    /// The peer's underlay address (`None`: an entry without one).
    pub remote: Option<Ipv4Addr>,
}

/// Skiff's per-peer kernel state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entries {
    /// Routes of Skiff's protocol, main table.
    pub routes: Vec<Route>,
    /// Permanent neighbour entries on the overlay device.
    pub neighbours: Vec<Neighbour>,
    /// Forwarding entries of the overlay device, in the kernel's order.
    pub fdb: Vec<Fdb>,
}

impl Entries {
    /// The entries a list of peers asks for.
    pub fn for_peers(peers: &[Peer]) -> Entries {
        let mut e = Entries::default();
        for p in peers {
            let (vtep, mac) = (vtep_address(p.subnet), vtep_mac(p.subnet));
            e.routes.push(Route {
                subnet: p.subnet,
                via: Some(vtep),
                dev: RouteDev::Overlay,
            });
            e.neighbours.push(Neighbour { ip: vtep, mac });
            e.fdb.push(Fdb {
                mac,
                remote: Some(p.address),
            });
        }
        e
    }

    /// The peers these entries describe: one per route on the overlay device, with what its
    /// gateway resolves to.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.routes
            .iter()
            .filter(|r| r.dev == RouteDev::Overlay)
            .map(|r| {
                let mac = r
                    .via
                    .and_then(|via| self.neighbours.iter().find(|n| n.ip == via).map(|n| n.mac));
                let address = mac.and_then(|mac| {
                    self.fdb
                        .iter()
                        .find(|f| f.mac == mac)
                        .and_then(|f| f.remote)
                });
                PeerStatus {
                    subnet: r.subnet,
                    vtep: r.via,
                    mac,
                    address,
                }
            })
            .collect()
    }
}

/// What Skiff wants in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The device.
    pub device: DeviceSpec,
    /// The per-peer entries.
    pub entries: Entries,
}

/// What the kernel holds of Skiff's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actual {
    /// The device named [`OVERLAY_DEVICE`], if any.
    pub device: Option<DeviceState>,
    /// The per-peer entries.
    pub entries: Entries,
}

/// One change to the kernel. Device changes act on the overlay device (the one just made,
/// after [`Change::CreateDevice`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Delete the device (with everything on it).
    DeleteDevice {
        /// Its index.
        index: u32,
    },
    /// Create the device, down.
    CreateDevice(DeviceSpec),
    /// Set its MTU.
    SetMtu(u32),
    /// Remove an address from it.
    DelAddress(Ipv4Net),
    /// Add an address to it.
    AddAddress(Ipv4Net),
    /// Set it up.
    SetUp,
    /// Delete a route of Skiff's.
    DelRoute(Route),
    /// Add a forwarding entry, or point an existing one for that hardware address elsewhere.
    SetFdb {
        /// Hardware address.
        mac: Mac,
        /// Underlay address.
        remote: Ipv4Addr,
    },
    /// Delete one remote of a forwarding entry (all of them when `remote` is `None`).
    DelFdb(Fdb),
    /// Add or replace a neighbour entry.
    SetNeighbour(Neighbour),
    /// Add or replace the route `subnet via VIA onlink` on the device.
    SetRoute {
        /// Destination.
        subnet: Ipv4Net,
        /// Gateway.
        via: Ipv4Addr,
    },
    /// Delete a neighbour entry.
    DelNeighbour(Ipv4Addr),
}

/// The changes that turn `actual` into `desired`, in the order they are to be made; none
/// when they are equal.
pub fn plan(desired: &Desired, actual: &Actual) -> Result<Vec<Change>, OverlayError> {
    let spec = &desired.device;
    let mut out = Vec::new();
    let mut have = actual.entries.clone();
    match &actual.device {
        Some(d) if d.kind != "vxlan" => return Err(taken(d)),
        Some(d) if same_device(d, spec) => {
            if d.mtu != spec.mtu {
                out.push(Change::SetMtu(spec.mtu));
            }
            for a in d.addresses.iter().filter(|&&a| a != spec.address) {
                out.push(Change::DelAddress(*a));
            }
            if !d.addresses.contains(&spec.address) {
                out.push(Change::AddAddress(spec.address));
            }
            if !d.up {
                out.push(Change::SetUp);
            }
        }
        other => {
            if let Some(d) = other {
                out.push(Change::DeleteDevice { index: d.index });
            }
            out.push(Change::CreateDevice(spec.clone()));
            out.push(Change::AddAddress(spec.address));
            out.push(Change::SetUp);
            // What was on the old device went with it.
            have.routes.retain(|r| r.dev != RouteDev::Overlay);
            have.neighbours.clear();
            have.fdb.clear();
        }
    }
    out.extend(entry_changes(&desired.entries, &have));
    Ok(out)
}

/// The changes that remove the overlay: the device (what is on it goes with it) and Skiff's
/// routes elsewhere; none when there is nothing.
pub fn removal(actual: &Actual) -> Result<Vec<Change>, OverlayError> {
    let mut out: Vec<Change> = actual
        .entries
        .routes
        .iter()
        .filter(|r| actual.device.is_none() || r.dev != RouteDev::Overlay)
        .map(|r| Change::DelRoute(*r))
        .collect();
    match &actual.device {
        Some(d) if d.kind != "vxlan" => return Err(taken(d)),
        Some(d) => out.push(Change::DeleteDevice { index: d.index }),
        None => {}
    }
    Ok(out)
}

fn taken(d: &DeviceState) -> OverlayError {
    OverlayError::DeviceTaken {
        name: OVERLAY_DEVICE.to_string(),
        kind: d.kind.clone(),
    }
}

/// Whether the device is the one wanted in everything that cannot be changed in place.
fn same_device(d: &DeviceState, spec: &DeviceSpec) -> bool {
    d.vni == Some(spec.vni)
        && d.port == Some(spec.port)
        && d.local == Some(spec.local)
        && d.underlay == Some(spec.underlay)
        && d.learning == Some(false)
        && d.udp_csum == Some(false)
        && d.remote.is_none()
        && d.mac == Some(spec.mac)
}

/// The per-peer changes, in the order described at the top of this file: stray routes go
/// first (nothing routes into an entry about to change), then forwarding entries, neighbour
/// entries and routes are set, then stray neighbour and forwarding entries go.
fn entry_changes(want: &Entries, have: &Entries) -> Vec<Change> {
    let del_routes = have
        .routes
        .iter()
        .filter(|r| !want.routes.contains(r))
        .map(|r| Change::DelRoute(*r));
    let set_routes = want
        .routes
        .iter()
        .filter(|r| !have.routes.contains(r))
        .map(|r| Change::SetRoute {
            subnet: r.subnet,
            via: r.via.expect("a desired route has a gateway"),
        });
    let set_neigh = want
        .neighbours
        .iter()
        .filter(|n| !have.neighbours.contains(n))
        .map(|n| Change::SetNeighbour(*n));
    let del_neigh = have
        .neighbours
        .iter()
        .filter(|n| !want.neighbours.iter().any(|w| w.ip == n.ip))
        .map(|n| Change::DelNeighbour(n.ip));
    let (set_fdb, del_fdb) = fdb_changes(want, have);
    del_routes
        .chain(set_fdb)
        .chain(set_neigh)
        .chain(set_routes)
        .chain(del_neigh)
        .chain(del_fdb)
        .collect()
}

/// Forwarding entries to set (with the extra remotes of wanted hardware addresses), and
/// those of hardware addresses no longer wanted.
fn fdb_changes(want: &Entries, have: &Entries) -> (Vec<Change>, Vec<Change>) {
    let mut set = Vec::new();
    for f in &want.fdb {
        let wanted = f.remote.expect("a desired forwarding entry has a remote");
        let remotes: Vec<Option<Ipv4Addr>> = have
            .fdb
            .iter()
            .filter(|h| h.mac == f.mac)
            .map(|h| h.remote)
            .collect();
        if remotes == [Some(wanted)] {
            continue;
        }
        // A replace changes the entry's first remote, unless the wanted one is among them
        // already (then it does nothing): the others are deleted one by one.
        let mut replaced = None;
        if !remotes.contains(&Some(wanted)) {
            set.push(Change::SetFdb {
                mac: f.mac,
                remote: wanted,
            });
            replaced = remotes.first().copied();
        }
        let mut skipped = false;
        for r in remotes {
            if r == Some(wanted) {
                continue;
            }
            if !skipped && replaced == Some(r) {
                skipped = true;
                continue;
            }
            set.push(Change::DelFdb(Fdb {
                mac: f.mac,
                remote: r,
            }));
        }
    }
    let mut del = Vec::new();
    let mut gone: Vec<Mac> = Vec::new();
    for h in &have.fdb {
        if !want.fdb.iter().any(|f| f.mac == h.mac) && !gone.contains(&h.mac) {
            gone.push(h.mac);
            del.push(Change::DelFdb(Fdb {
                mac: h.mac,
                remote: None,
            }));
        }
    }
    (set, del)
}

/// One line per change, as `ip`/`bridge` would say it (for logs and the CLI).
impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dev = OVERLAY_DEVICE;
        match self {
            Change::DeleteDevice { .. } => write!(f, "link del {dev}"),
            Change::CreateDevice(s) => write!(
                f,
                "link add {dev} type vxlan id {} local {} dstport {} nolearning noudpcsum mtu {} address {}",
                s.vni, s.local, s.port, s.mtu, s.mac
            ),
            Change::SetMtu(mtu) => write!(f, "link set {dev} mtu {mtu}"),
            Change::DelAddress(a) => write!(f, "addr del {a} dev {dev}"),
            Change::AddAddress(a) => write!(f, "addr add {a} dev {dev}"),
            Change::SetUp => write!(f, "link set {dev} up"),
            Change::DelRoute(r) => match r.via {
                Some(via) => write!(f, "route del {} via {via}", r.subnet),
                None => write!(f, "route del {}", r.subnet),
            },
            Change::SetFdb { mac, remote } => {
                write!(f, "fdb replace {mac} dev {dev} dst {remote}")
            }
            Change::DelFdb(Fdb { mac, remote }) => match remote {
                Some(remote) => write!(f, "fdb del {mac} dev {dev} dst {remote}"),
                None => write!(f, "fdb del {mac} dev {dev}"),
            },
            Change::SetNeighbour(n) => {
                write!(f, "neigh replace {} lladdr {} dev {dev}", n.ip, n.mac)
            }
            Change::SetRoute { subnet, via } => {
                write!(f, "route replace {subnet} via {via} dev {dev} onlink")
            }
            Change::DelNeighbour(ip) => write!(f, "neigh del {ip} dev {dev}"),
        }
    }
}
