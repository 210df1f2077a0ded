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
//!   deleted explicitly: it goes with that namespace when the container's last process ends.

pub mod ipam;
mod netlink;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::container::record::{boot_id, read_json, ContainerRecord, Paths};
use crate::fsutil::{random_hex, read_limited, write_replace, FileLock};
use ipam::{Ipam, IpamError};

pub use netlink::CONTAINER_IFNAME;

/// The default bridge.
pub const DEFAULT_BRIDGE: &str = "skiff0";
/// The default node subnet.
pub const DEFAULT_SUBNET: &str = "10.87.0.0/16";
/// The default MTU of the bridge and the containers' interfaces: an Ethernet underlay's 1500
/// less the 50 bytes of VXLAN encapsulation, so that overlay traffic never fragments (as
/// flannel and Swarm's overlay do).
pub const DEFAULT_MTU: u32 = 1450;

/// Largest state file read.
const MAX_STATE: u64 = 16 << 20;

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
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            bridge: DEFAULT_BRIDGE.into(),
            subnet: DEFAULT_SUBNET.parse().expect("a valid subnet"),
            mtu: DEFAULT_MTU,
            masquerade: false,
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
}

/// Anything networking can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Address management.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// An interface name the kernel would not take.
    #[error("bridge name {name:?}: an interface name is 1 to 15 characters, without '/', ':' or whitespace")]
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

/// An interface name the kernel takes: 1 to 15 bytes, no '/', ':' or whitespace.
pub fn check_ifname(name: &str) -> Result<(), NetworkError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(NetworkError::BadIfname { name: name.into() })
    }
}

/// What is kept in `<data>/network/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    ipam: Ipam,
    /// The boot whose container records the allocations were last checked against; another
    /// (or none: a new or torn file) means they are checked again before the next allocation.
    #[serde(default)]
    boot_id: String,
}

impl State {
    /// Makes the allocations agree with the containers under `containers` if they were not
    /// checked in this boot (`boot`): those of removed containers go, and each record's
    /// address is taken for it.
    fn check_against_records(&mut self, containers: &Path, boot: &str) {
        if self.boot_id == boot {
            return;
        }
        self.ipam.reconcile(
            |owner| containers.join(owner).is_dir(),
            recorded_addresses(containers),
        );
        self.boot_id = boot.to_string();
    }
}

/// The addresses the records of the containers under `containers` hold, with their owners.
fn recorded_addresses(containers: &Path) -> Vec<(String, Ipv4Addr)> {
    let Ok(entries) = std::fs::read_dir(containers) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| !id.starts_with('.'))
        .filter_map(|id| {
            let record: ContainerRecord = read_json(&Paths::new(containers, &id).record())
                .ok()
                .flatten()?;
            Some((record.id, record.network?.ip))
        })
        .collect()
}

/// The node network's state files under the data directory, used under its lock.
struct Store {
    dir: PathBuf,
}

impl Store {
    fn new(data_dir: &Path) -> Store {
        Store {
            dir: data_dir.join("network"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn lock(&self) -> Result<FileLock, NetworkError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.error(&self.dir, e))?;
        let path = self.dir.join(".lock");
        FileLock::exclusive(&path).map_err(|e| self.error(&path, e))
    }

    /// The state; `None` when there is none, or when a power failure left the file torn
    /// (it is not synced): the allocations are then taken from the records again.
    fn load(&self) -> Result<Option<State>, NetworkError> {
        let path = self.path();
        match read_limited(&path, MAX_STATE) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    fn save(&self, state: &State) -> Result<(), NetworkError> {
        let path = self.path();
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| self.error(&path, e))?;
        write_replace(&path, &bytes).map_err(|e| self.error(&path, e))
    }

    fn error(&self, path: &Path, e: impl std::fmt::Display) -> NetworkError {
        NetworkError::State {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// Attaches container `id` to the node network: makes sure the bridge is there and right,
/// and allocates its address. Nothing is changed when it fails.
pub(crate) fn attach(
    data_dir: &Path,
    opts: &NetworkOptions,
    id: &str,
) -> Result<Attachment, NetworkError> {
    opts.check()?;
    let store = Store::new(data_dir);
    let _lock = store.lock()?;
    let containers = data_dir.join("containers");
    let mut state = match store.load()? {
        Some(state) => state,
        None => State {
            ipam: Ipam::new(opts.subnet)?,
            boot_id: String::new(),
        },
    };
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
    let ip = state
        .ipam
        .allocate(id, |owner| containers.join(owner).is_dir())?;
    store.save(&state)?;
    Ok(Attachment {
        bridge: opts.bridge.clone(),
        ip,
        prefix_len: opts.subnet.prefix_len(),
        gateway,
        mtu: made.mtu,
    })
}

/// Releases what container `id` holds on the node network (its address). Doing it twice, or
/// for a container that never had any, is not an error.
pub(crate) fn release(data_dir: &Path, id: &str) -> Result<(), NetworkError> {
    let store = Store::new(data_dir);
    if !store.path().exists() {
        return Ok(());
    }
    let _lock = store.lock()?;
    let Some(mut state) = store.load()? else {
        return Ok(());
    };
    if state.ipam.release(id).is_some() {
        store.save(&state)?;
    }
    Ok(())
}

/// Plugs the running container `id` (its init process `pid`, created but not started yet)
/// into the bridge its attachment names. Called by the shim.
pub fn join(attachment: &Attachment, id: &str, pid: i32) -> Result<(), NetworkError> {
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
            match netlink::plug(&host, &inner, &netns, bridge, &name, &att).await {
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
