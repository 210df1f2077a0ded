//! Container networking on a node (see `docs/networking.md`): a bridge with the node subnet's
//! gateway address, a veth pair per running container (its inner end `eth0` in the
//! container's own network namespace), addresses from a persisted IPAM table.
//!
//! Lifetimes, chosen so that nothing on the start or stop path waits for the kernel to
//! delete a device:
//! * the address is allocated at create and released at removal (so it stays the same over
//!   restarts), under `<data>/network/.lock`, in `<data>/network/state.json`. That file is
//!   not synced (a sync costs 1 to 15 ms on every create and removal): only a power failure
//!   or a kernel crash can lose its last writes, and either starts a new boot, so the first
//!   command of a boot checks the allocations against the containers' records, which hold
//!   each container's address (see `State::boot_id`);
//! * the veth pair is made by the shim for each start, between the runtime's create and start,
//!   with the container end created directly inside the container's namespace; it is never
//!   deleted explicitly: it goes with that namespace when the container's last process ends;
//! * published ports are admitted with the address, under the same lock, and carried out by
//!   Skiff's own nftables table (see [`ports`]), rendered whole from the state file at each
//!   change and at each container start (a reboot or a flush loses the kernel's copy, never
//!   the file's);
//! * service ports (node-local ingress, [`service`]) are a node-level list set whole by
//!   [`crate::Engine::set_service_ports`], kept in the same file and rendered into the same
//!   table;
//! * isolation between containers ([`isolation`]) is a node-level list set whole by
//!   [`crate::Engine::set_isolation`], kept in the same file and rendered into the same
//!   transaction (its rules in `ip skiff` and in a `bridge skiff` table).

mod firewall;
mod ingress;
pub mod ipam;
pub mod isolation;
mod netlink;
pub mod overlay;
pub mod ports;
pub mod service;
mod state;
mod status;
pub mod vip;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::container::record::boot_id;
use crate::container::PortMapping;
use crate::fsutil::random_hex;
use firewall::{Firewall, Kernel};
use ipam::{Ipam, IpamError};
use isolation::IsolationError;
use ports::{PortError, PublishedPort, Table};
use service::ServicePortError;
use state::{State, Store};
use vip::VipError;

pub use netlink::CONTAINER_IFNAME;
pub use status::{BridgeStatus, NetworkStatus};

/// The default bridge.
pub const DEFAULT_BRIDGE: &str = "skiff0";
/// The default node subnet.
pub const DEFAULT_SUBNET: &str = "10.87.0.0/16";
/// The default MTU of the bridge and the containers' interfaces: an Ethernet underlay's 1500
/// less the 50 bytes of VXLAN encapsulation, so that overlay traffic never fragments (as
/// flannel and Swarm's overlay do).
pub const DEFAULT_MTU: u32 = 1450;

/// How a node's container network is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    /// The bridge's name.
    pub bridge: String,
    /// The node subnet: the bridge takes its first address, containers the others.
    pub subnet: Ipv4Net,
    /// The MTU of a bridge the engine creates (an existing bridge keeps its own).
    pub mtu: u32,
    /// Masquerade traffic from containers that leaves the node (off by default).
    pub masquerade: bool,
    /// Give bridge containers the bridge's address as their nameserver, where the agent's DNS
    /// server answers (off by default: the node's own nameservers, minus loopback ones).
    pub gateway_dns: bool,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            bridge: DEFAULT_BRIDGE.into(),
            subnet: DEFAULT_SUBNET.parse().expect("a valid subnet"),
            mtu: DEFAULT_MTU,
            masquerade: false,
            gateway_dns: false,
        }
    }
}

impl NetworkOptions {
    /// Checks the options: a valid interface name, a usable subnet, an MTU Ethernet takes.
    pub fn check(&self) -> Result<(), NetworkError> {
        check_ifname(&self.bridge)?;
        ipam::check_subnet(self.subnet)?;
        if !(576..=65535).contains(&self.mtu) {
            return Err(NetworkError::BadMtu { mtu: self.mtu });
        }
        Ok(())
    }
}

/// A container's place on the node network, kept in its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The bridge its veth joins.
    pub bridge: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The bridge's address, its default route.
    pub gateway: Ipv4Addr,
    /// The MTU of a bridge made for it (the bridge's own otherwise).
    pub mtu: u32,
    /// The nameserver its resolv.conf names, when not the node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Ipv4Addr>,
}

/// Anything networking can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Address management.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// Published ports.
    #[error("publishing ports: {0}")]
    Ports(#[from] PortError),
    /// Service ports (node-local ingress).
    #[error(transparent)]
    ServicePorts(#[from] ServicePortError),
    /// Service virtual IPs.
    #[error("service virtual IPs: {0}")]
    Vips(#[from] VipError),
    /// Isolation between containers.
    #[error("isolation: {0}")]
    Isolation(#[from] IsolationError),
    /// The overlay between nodes.
    #[error(transparent)]
    Overlay(#[from] overlay::OverlayError),
    /// An interface name Skiff does not take.
    #[error("bridge name {name:?}: use 1 to 15 letters, digits, '-', '_' or '.'")]
    BadIfname {
        /// As given.
        name: String,
    },
    /// An MTU out of range.
    #[error("mtu {mtu}: must be between 576 and 65535")]
    BadMtu {
        /// As given.
        mtu: u32,
    },
    /// The bridge's name is taken by another kind of device.
    #[error("bridge {name}: a {kind} device of that name exists; remove it or choose another bridge name (--bridge)")]
    NotABridge {
        /// The name.
        name: String,
        /// What the device is.
        kind: String,
    },
    /// The bridge exists with another address.
    #[error("bridge {name} has address {found}, not {wanted}: give the subnet it serves (--subnet) or another bridge name (--bridge)")]
    BridgeAddress {
        /// The bridge.
        name: String,
        /// An address it has.
        found: String,
        /// The one the subnet asks for.
        wanted: String,
    },
    /// The subnet overlaps a route of another link.
    #[error("subnet {subnet} overlaps the route to {route} on {dev}; choose a subnet that is not in use (--subnet)")]
    SubnetOverlaps {
        /// The node subnet.
        subnet: Ipv4Net,
        /// The route it overlaps.
        route: Ipv4Net,
        /// That route's link.
        dev: String,
    },
    /// The subnet was changed while containers hold addresses in the old one.
    #[error("subnet {wanted}: {count} container(s) hold addresses in {current}; remove them before changing the subnet")]
    SubnetChanged {
        /// The subnet in use.
        current: Ipv4Net,
        /// The one asked for.
        wanted: Ipv4Net,
        /// How many addresses are held.
        count: usize,
    },
    /// A host-side interface name is taken (retried with another).
    #[error("link {name} already exists")]
    LinkExists {
        /// The name.
        name: String,
    },
    /// A netlink request failed.
    #[error("{op}: {message}")]
    Netlink {
        /// What was being done.
        op: String,
        /// The kernel's or the library's answer.
        message: String,
    },
    /// nft refused a script, or could not be run.
    #[error("nftables: {message}")]
    Nft {
        /// What nft said.
        message: String,
    },
    /// There is no nft binary.
    #[error("publishing ports needs nft, which is not installed (looked in /usr/sbin, /sbin and PATH): install Debian's nftables package (deploy/install-deps.sh does)")]
    NftMissing,
    /// A sysctl could not be set.
    #[error("setting {path}: {message}")]
    Sysctl {
        /// The file under /proc/sys.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The state file.
    #[error("{path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl NetworkError {
    pub(crate) fn netlink(op: impl Into<String>, e: impl std::fmt::Display) -> Self {
        NetworkError::Netlink {
            op: op.into(),
            message: e.to_string(),
        }
    }
}

/// An interface name Skiff takes: 1 to 15 letters, digits, '-', '_' or '.'. The kernel takes
/// more (anything but '/', ':' and whitespace), but the bridge's name is written into nftables
/// rules, whose quoted strings have no escapes.
pub fn check_ifname(name: &str) -> Result<(), NetworkError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(NetworkError::BadIfname { name: name.into() })
    }
}

/// Attaches container `id` (named `name`) to the node network: makes sure the bridge is there
/// and right, allocates its address and publishes its ports. Nothing is changed when it
/// fails (but a bridge it made).
pub(crate) fn attach(
    data_dir: &Path,
    opts: &NetworkOptions,
    id: &str,
    name: &str,
    publish: &[PortMapping],
) -> Result<Attachment, NetworkError> {
    opts.check()?;
    ports::check(publish)?;
    let store = Store::new(data_dir);
    let _lock = store.lock()?;
    let containers = data_dir.join("containers");
    let prev = match store.load()? {
        Some(state) => state,
        None => State::new(Ipam::new(opts.subnet)?),
    };
    let mut state = prev.clone();
    state.check_against_records(&containers, &boot_id());
    if state.ipam.subnet != opts.subnet {
        if !state.ipam.allocated.is_empty() {
            return Err(NetworkError::SubnetChanged {
                current: state.ipam.subnet,
                wanted: opts.subnet,
                count: state.ipam.allocated.len(),
            });
        }
        state.ipam = Ipam::new(opts.subnet)?;
    }
    let (bridge, subnet, mtu) = (opts.bridge.clone(), opts.subnet, opts.mtu);
    let gateway = state.ipam.gateway();
    let made = netlink::run(move |h| async move {
        netlink::ensure_bridge(&h, &bridge, subnet, gateway, mtu).await
    })?;
    enable_forwarding();
    let is_live = |owner: &str| containers.join(owner).is_dir();
    let ip = state.ipam.allocate(id, is_live)?;
    let request = Request {
        id,
        name,
        ip,
        ports: publish,
    };
    admit(&mut state, opts, &request, is_live, &Kernel)?;
    save_synced(&store, &prev, &state, &Kernel)?;
    Ok(Attachment {
        bridge: opts.bridge.clone(),
        ip,
        prefix_len: opts.subnet.prefix_len(),
        gateway,
        mtu: made.mtu,
        dns: opts.gateway_dns.then_some(gateway),
    })
}

/// Releases what container `id` holds on the node network: its address and its published
/// ports. Doing it twice, or for a container that never had any, is not an error. When the
/// ports cannot be taken out of the kernel, nothing is released (the address must not go to
/// another container while the old one's ports still lead to it): the next create, finding
/// the container's directory gone, drops its ports and rebuilds the table before its address
/// can be reclaimed.
pub(crate) fn release(data_dir: &Path, id: &str) -> Result<(), NetworkError> {
    let store = Store::new(data_dir);
    if !store.path().exists() {
        return Ok(());
    }
    let _lock = store.lock()?;
    let Some(state) = store.load()? else {
        return Ok(());
    };
    let mut next = state.clone();
    next.ipam.release(id);
    unpublish(&mut next, id);
    save_synced(&store, &state, &next, &Kernel)
}

/// Rebuilds Skiff's nftables table from the state file, if the node has one: after a reboot
/// or an operator's `nft flush ruleset` the kernel's copy is gone, the file's is not. The
/// shim calls it at each start of a container on the bridge, after plugging it in. With
/// isolation set (whose sets may hold thousands of addresses), when the kernel still has
/// Skiff's tables only the node's containers are added to the bridge table's `iso_ports`
/// (the starting container must be there before its process runs).
pub fn restore(data_dir: &Path) -> Result<(), NetworkError> {
    let store = Store::new(data_dir);
    if !store.path().exists() {
        return Ok(());
    }
    let _lock = store.lock()?;
    match store.load()? {
        Some(state) if state.table.is_some() => {
            let refreshed = isolation::refresh(&state.isolation, &state.ipam.allocated)
                .is_some_and(|script| Kernel.nft(&script).is_ok());
            if refreshed {
                return Ok(());
            }
            apply(&Kernel, &state, None)
        }
        _ => Ok(()),
    }
}

/// A container's ports, asked for at create.
struct Request<'a> {
    id: &'a str,
    name: &'a str,
    ip: Ipv4Addr,
    ports: &'a [PortMapping],
}

/// Adds the request's ports to `state` (after dropping those of containers that are gone),
/// refusing any that another container publishes or a program on the node uses, and sets
/// the table up as `opts` ask.
fn admit(
    state: &mut State,
    opts: &NetworkOptions,
    req: &Request,
    is_live: impl Fn(&str) -> bool,
    fw: &dyn Firewall,
) -> Result<(), NetworkError> {
    ports::prune(&mut state.ports, is_live);
    if let Some((wanted, held)) = ports::conflict(&state.ports, req.ports) {
        return Err(ports::in_use(wanted, held).into());
    }
    if let Some(e) = service::taken_by_service(&state.service_ports, req.ports) {
        return Err(e.into());
    }
    for m in req.ports {
        fw.probe(m)?;
    }
    state.ports.extend(req.ports.iter().map(|m| PublishedPort {
        owner: req.id.to_string(),
        name: req.name.to_string(),
        mapping: *m,
        container_ip: req.ip,
    }));
    state.table = wanted_table(state, &opts.bridge, opts.subnet, opts.masquerade);
    Ok(())
}

/// Takes container `id`'s ports out of `state`; the table stays as it was set up, or goes
/// when nothing needs it any more.
fn unpublish(state: &mut State, id: &str) {
    state.ports.retain(|p| p.owner != id);
    if let Some(t) = &state.table {
        state.table = wanted_table(state, &t.bridge, t.subnet, t.masquerade);
    }
}

/// The table `state` needs: one when a port, a service port or a virtual IP is published,
/// containers are isolated, or masquerading is asked for.
fn wanted_table(state: &State, bridge: &str, subnet: Ipv4Net, masquerade: bool) -> Option<Table> {
    ports::wanted_table(bridge, subnet, masquerade, &state.ports).or_else(|| {
        (!state.service_ports.is_empty() || !state.vips.is_empty() || !state.isolation.is_empty())
            .then(|| Table {
                bridge: bridge.to_string(),
                subnet,
                masquerade,
            })
    })
}

/// Makes the kernel's table what `next` says, then saves `next`; when either fails, the
/// kernel is put back as `prev` had it and the file is left alone.
fn save_synced(
    store: &Store,
    prev: &State,
    next: &State,
    fw: &dyn Firewall,
) -> Result<(), NetworkError> {
    if next == prev {
        return Ok(());
    }
    let kernel_changes = next.ports != prev.ports
        || next.service_ports != prev.service_ports
        || next.vips != prev.vips
        || next.isolation != prev.isolation
        || next.table != prev.table;
    if kernel_changes {
        if let Err(e) = apply(fw, next, prev.table.as_ref()) {
            let _ = apply(fw, prev, next.table.as_ref());
            return Err(e);
        }
    }
    store.save(next).inspect_err(|_| {
        if kernel_changes {
            let _ = apply(fw, prev, next.table.as_ref());
        }
    })
}

/// Sets the kernel up as `state` says: its table (or none) and `route_localnet` on its
/// bridge, off on `old`'s bridge when that was another.
fn apply(fw: &dyn Firewall, state: &State, old: Option<&Table>) -> Result<(), NetworkError> {
    let old_bridge = old.map(|t| t.bridge.as_str());
    match &state.table {
        Some(table) => {
            let vips: Vec<Ipv4Addr> = state.vips.iter().map(|v| v.vip).collect();
            let mut script = ports::render(table, &state.ports, &state.service_ports, &state.vips);
            script.push_str(&isolation::render(
                &state.isolation,
                &vips,
                &state.ipam.allocated,
            ));
            fw.nft(&script)?;
            // After the table: its guard chain must be there before loopback is routable.
            fw.route_localnet(&table.bridge, true)?;
            if let Some(b) = old_bridge.filter(|b| *b != table.bridge) {
                let _ = fw.route_localnet(b, false);
            }
        }
        None => {
            // Before the table goes, with its guard chain.
            if let Some(b) = old_bridge {
                fw.route_localnet(b, false)?;
            }
            fw.nft(&ports::removal())?;
        }
    }
    Ok(())
}

/// Plugs the running container `id` (its init process `pid`, created but not started yet)
/// into the bridge its attachment names. With `hairpin`, frames may leave the bridge port
/// they came in by, so that the container reaches its own published ports through the
/// node's address (the DNAT sends them straight back). Called by the shim.
pub fn join(
    attachment: &Attachment,
    id: &str,
    pid: i32,
    hairpin: bool,
) -> Result<(), NetworkError> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let netns =
        File::open(&ns_path).map_err(|e| NetworkError::netlink(format!("opening {ns_path}"), e))?;
    let inner = netns
        .try_clone()
        .map_err(|e| NetworkError::netlink(format!("opening {ns_path}"), e))?;
    let att = attachment.clone();
    let prefix = id.get(..8).unwrap_or(id).to_string();
    netlink::run_in(Some(inner), move |host, inner| async move {
        let inner = inner.expect("asked for a handle in the container");
        let subnet = Ipv4Net::new(att.gateway, att.prefix_len)
            .map_err(|e| NetworkError::netlink("attachment", e))?
            .trunc();
        // The bridge is gone after a reboot or an operator's `ip link del`: made again.
        let bridge =
            netlink::ensure_bridge(&host, &att.bridge, subnet, att.gateway, att.mtu).await?;
        let mut attempt = 0;
        loop {
            // `sk` + 8 characters of the id + 4 random ones: unique on the node, and a
            // previous run's pair, which the kernel may still be tearing down, is never
            // in the way.
            let name = format!("sk{prefix}{}", random_hex(2));
            match netlink::plug(&host, &inner, &netns, bridge, &name, &att, hairpin).await {
                Err(NetworkError::LinkExists { .. }) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    })
}

/// Turns on IPv4 forwarding in the calling thread's network namespace: published ports and
/// the overlay route through the node. Best effort: a read-only /proc/sys leaves it as it is.
fn enable_forwarding() {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() != "1") {
        let _ = std::fs::write(path, "1");
    }
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
