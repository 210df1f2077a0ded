//! Isolation between containers: which container addresses may open connections to which —
//! the pure model and checks, the nftables rules that enforce it in the data path, rendered
//! into Skiff's tables with the rest (see [`super::ports::render`]), and
//! [`Engine::set_isolation`], the kernel side. See docs/networking.md, "Isolation".
//!
//! A **member** is a container address (of this node or of another node, reached over the
//! overlay) with the networks it is on; a network id is an opaque string the agent derives
//! (`dev/shop_default`, `dev/shared-net`: the environment is part of it, so environments never
//! share a network). The rule: a new connection from member A to member B is allowed iff A and
//! B share a network; traffic of established connections always passes; traffic from or to an
//! address that is not a member (the node itself, other hosts, the DNS server on the bridge's
//! address) is not touched, nor is a connection to a published port or service port addressed
//! to a node (a published port is open to whoever reaches the node, as with Swarm's ingress).
//!
//! The rules are built for thousands of members and hundreds of networks: a set per network,
//! and one chain per distinct *combination* of networks that lists the sets of that
//! combination; a verdict map sends the source address to its combination's chain. A new
//! connection between two members thus costs a set lookup, a map lookup and one set lookup
//! per network of its source (one or two, typically), whatever the number of networks.
//!
//! Two hooks enforce it:
//! * `ip skiff`'s `isolation` chain (filter, forward): traffic routed by the node — between
//!   the bridge and the overlay, DNATed traffic to a virtual IP's backend (the check sees the
//!   real backend: a client reaches a virtual IP only if it shares a network with the
//!   backend), and, where the kernel passes bridged traffic through the IPv4 hooks
//!   (`br_netfilter`), traffic between containers of the node. Only packets that do not belong
//!   to an established connection are checked (conntrack), and refused ones get a TCP reset
//!   (TCP) or an ICMP "administratively prohibited" (the rest), so a client fails at once
//!   (but for a virtual IP where `br_netfilter` is on: the kernel sends that reset without
//!   undoing the DNAT, and the client ignores it);
//! * `bridge skiff`'s `prerouting` chain: frames a container sends to another container of
//!   the node, which the bridge passes at layer 2 and which never reach the IPv4 forward hook
//!   without `br_netfilter`. Frames addressed to the bridge itself (`meta pkttype host`: to
//!   the node, routed on — to another node, to a virtual IP, to a published port) are left to
//!   the IPv4 chain, which sees them after the DNAT; every other IPv4 frame addressed to a
//!   member is checked (broadcast frames too). The bridge family has no connection tracking
//!   and no reject on every kernel (Debian's has both as modules; the kernels of small VMs
//!   often lack them), so this check is stateless and drops: "share a network" is symmetric,
//!   so answers pass exactly when requests do. It runs before `br_netfilter` (priority -200),
//!   so it judges addresses as the container sent them — where `br_netfilter` bridges a
//!   DNATed frame to a container of the same bridge, the DNAT has not happened yet. Before
//!   that, it drops frames whose source is not the address of the container they come from
//!   (see [`ports_set`]): the rules judge source addresses, which must not be forged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::firewall::Kernel;
use super::ipam::Ipam;
use super::ports::TABLE;
use super::{netlink, wanted_table, NetworkError, NetworkOptions, State, Store};
use crate::container::record::boot_id;
use crate::{Engine, Error};

/// Most members on one node's list.
pub const MAX_MEMBERS: usize = 65536;
/// Most distinct networks on one node's list.
pub const MAX_NETWORKS: usize = 4096;
/// Most networks of one member.
pub const MAX_MEMBER_NETWORKS: usize = 64;
/// Longest network id (nftables comments take 128 bytes).
pub const MAX_NETWORK_ID: usize = 128;

/// The isolation of a node: every container address it must keep apart, with its networks.
/// No members: no isolation (no rules).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Isolation {
    /// The members, in any order.
    #[serde(default)]
    pub members: Vec<Member>,
    /// The ranges container addresses come from (the cluster's pod CIDR): an address in them
    /// that is not a member is a container on no network — another environment's, or one not
    /// yet listed — which neither opens connections to members nor gets any from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<ipnet::Ipv4Net>,
    /// The nodes' own addresses inside those ranges (each node's bridge address and overlay
    /// endpoint): a node's own connections, to containers of any network, are not its
    /// containers' and are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Ipv4Addr>,
}

/// A container address and the networks it is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The container's address (of this node or another).
    pub address: Ipv4Addr,
    /// Its networks' ids (`dev/shop_default`): 1 to 128 letters, digits, `-`, `_`, `.`, `/`
    /// or `:` each; at least one.
    pub networks: Vec<String>,
}

/// Why an isolation list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationError {
    /// More members than a node takes.
    #[error("{count} members: a node takes at most {MAX_MEMBERS}")]
    TooManyMembers {
        /// How many were given.
        count: usize,
    },
    /// More networks than a node takes.
    #[error("{count} distinct networks: a node takes at most {MAX_NETWORKS}")]
    TooManyNetworks {
        /// How many were given.
        count: usize,
    },
    /// An address that cannot be a container's.
    #[error("member {address}: not a unicast address; give the container's address")]
    BadAddress {
        /// The address.
        address: Ipv4Addr,
    },
    /// An address listed twice.
    #[error(
        "member {address} is listed twice; list each container address once, with all its networks"
    )]
    Duplicate {
        /// The address.
        address: Ipv4Addr,
    },
    /// A member on no network.
    #[error("member {address}: no networks; list the networks the container is on (at least one)")]
    NoNetworks {
        /// The address.
        address: Ipv4Addr,
    },
    /// A member on too many networks.
    #[error("member {address}: {count} networks; a container is on at most {MAX_MEMBER_NETWORKS}")]
    TooManyMemberNetworks {
        /// The address.
        address: Ipv4Addr,
        /// How many were given.
        count: usize,
    },
    /// A network id Skiff does not take.
    #[error("member {address}: network id {network:?}: use 1 to {MAX_NETWORK_ID} letters, digits, '-', '_', '.', '/' or ':'")]
    BadNetwork {
        /// The member's address.
        address: Ipv4Addr,
        /// The id (at most its first 64 characters).
        network: String,
    },
}

impl Isolation {
    /// Whether there is nothing to isolate (no rules).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Checks the list on its own: addresses, network ids, sizes; every error names the member.
    pub fn check(&self) -> Result<(), IsolationError> {
        if self.members.len() > MAX_MEMBERS {
            return Err(IsolationError::TooManyMembers {
                count: self.members.len(),
            });
        }
        let mut seen = BTreeSet::new();
        let mut networks = BTreeSet::new();
        for m in &self.members {
            let address = m.address;
            let a = address;
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
                return Err(IsolationError::BadAddress { address });
            }
            if !seen.insert(address) {
                return Err(IsolationError::Duplicate { address });
            }
            if m.networks.is_empty() {
                return Err(IsolationError::NoNetworks { address });
            }
            if m.networks.len() > MAX_MEMBER_NETWORKS {
                return Err(IsolationError::TooManyMemberNetworks {
                    address,
                    count: m.networks.len(),
                });
            }
            for n in &m.networks {
                if !network_id_ok(n) {
                    return Err(IsolationError::BadNetwork {
                        address,
                        network: n.chars().take(64).collect(),
                    });
                }
                networks.insert(n.as_str());
            }
        }
        if networks.len() > MAX_NETWORKS {
            return Err(IsolationError::TooManyNetworks {
                count: networks.len(),
            });
        }
        Ok(())
    }

    /// The same isolation in a canonical form: members by address, each one's networks
    /// sorted once each (so that a list given in another order renders the same rules).
    pub fn normalized(&self) -> Isolation {
        let mut members: Vec<Member> = self
            .members
            .iter()
            .map(|m| {
                let mut networks = m.networks.clone();
                networks.sort();
                networks.dedup();
                Member {
                    address: m.address,
                    networks,
                }
            })
            .collect();
        members.sort();
        let mut pods: Vec<ipnet::Ipv4Net> = self.pods.iter().map(|p| p.trunc()).collect();
        pods.sort();
        pods.dedup();
        let mut nodes = self.nodes.clone();
        nodes.sort();
        nodes.dedup();
        Isolation {
            members,
            pods,
            nodes,
        }
    }

    /// Whether a new connection from `from` to `to` is allowed: always, unless one is a
    /// member and the other a member or an address of [`Isolation::pods`]; then iff they share
    /// a network. (The model the rules carry out, for tests.)
    pub fn allows(&self, from: Ipv4Addr, to: Ipv4Addr) -> bool {
        let nets = |a| self.members.iter().find(|m| m.address == a);
        let pod = |a| {
            !self.nodes.contains(&a) && self.pods.iter().any(|p: &ipnet::Ipv4Net| p.contains(&a))
        };
        match (nets(from), nets(to)) {
            (Some(f), Some(t)) => f.networks.iter().any(|n| t.networks.contains(n)),
            (Some(_), None) => !pod(to),
            (None, Some(_)) => !pod(from),
            (None, None) => true,
        }
    }
}

fn network_id_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NETWORK_ID
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':'))
}

/// The nftables objects both tables declare for `iso` (checked and normalized): the sets
/// `iso_members` and `iso_net_N` (one per network, its id as the comment), a chain
/// `iso_nets_K` per combination of networks accepting a destination on one of them and
/// ending with `refuse`, and the verdict map `iso_member_nets` from each member to its
/// combination's chain.
fn declarations(iso: &Isolation, refuse: &[&str]) -> String {
    let networks: BTreeSet<&str> = iso
        .members
        .iter()
        .flat_map(|m| m.networks.iter().map(String::as_str))
        .collect();
    let index: BTreeMap<&str, usize> = networks.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let combo_of =
        |m: &Member| -> Vec<usize> { m.networks.iter().map(|n| index[n.as_str()]).collect() };
    let combos: BTreeSet<Vec<usize>> = iso.members.iter().map(combo_of).collect();
    let combo_index: BTreeMap<&Vec<usize>, usize> =
        combos.iter().enumerate().map(|(i, c)| (c, i)).collect();
    let mut s = String::new();
    set(
        &mut s,
        "iso_members",
        None,
        iso.members.iter().map(|m| m.address),
    );
    for (i, n) in networks.iter().enumerate() {
        let addrs = iso
            .members
            .iter()
            .filter(|m| m.networks.iter().any(|x| x == n))
            .map(|m| m.address);
        set(&mut s, &format!("iso_net_{i}"), Some(n), addrs);
    }
    for (k, combo) in combos.iter().enumerate() {
        let _ = writeln!(s, "\tchain iso_nets_{k} {{");
        for i in combo {
            let _ = writeln!(s, "\t\tip daddr @iso_net_{i} accept");
        }
        for r in refuse {
            let _ = writeln!(s, "\t\t{r}");
        }
        let _ = writeln!(s, "\t}}");
    }
    let elements: Vec<String> = iso
        .members
        .iter()
        .map(|m| {
            format!(
                "{} : jump iso_nets_{}",
                m.address,
                combo_index[&combo_of(m)]
            )
        })
        .collect();
    let _ = writeln!(s, "\tmap iso_member_nets {{");
    let _ = writeln!(s, "\t\ttype ipv4_addr : verdict");
    let _ = writeln!(s, "\t\telements = {{ {} }}", elements.join(", "));
    let _ = writeln!(s, "\t}}");
    s
}

/// Appends a set of addresses (no `elements` line when empty: `{ }` is a syntax error).
fn set(s: &mut String, name: &str, comment: Option<&str>, addrs: impl Iterator<Item = Ipv4Addr>) {
    let addrs: Vec<String> = addrs.map(|a| a.to_string()).collect();
    let _ = writeln!(s, "\tset {name} {{");
    let _ = writeln!(s, "\t\ttype ipv4_addr");
    if let Some(c) = comment {
        let _ = writeln!(s, "\t\tcomment \"{c}\"");
    }
    if !addrs.is_empty() {
        let _ = writeln!(s, "\t\telements = {{ {} }}", addrs.join(", "));
    }
    let _ = writeln!(s, "\t}}");
}

/// The nft script, to follow [`super::ports::render`] in the same transaction (which has
/// deleted both of Skiff's tables first), that adds `iso`'s rules to `ip skiff` and makes
/// `bridge skiff`; empty when `iso` has no members. `vips` are the node's virtual IPs: a
/// connection DNATed from one is checked, one DNATed from any other address (a published
/// port or service port of a node) is not. `local` are the node's container addresses and
/// their owners' ids (the address table): a frame from a container's bridge port must carry
/// its own address (see [`ports_set`]).
pub fn render(iso: &Isolation, vips: &[Ipv4Addr], local: &BTreeMap<Ipv4Addr, String>) -> String {
    if iso.is_empty() {
        return String::new();
    }
    let iso = iso.normalized();
    let mut s = format!("table ip {TABLE} {{\n");
    set(&mut s, "iso_vips", None, vips.iter().copied());
    pods_set(&mut s, &iso.pods);
    set(&mut s, "iso_nodes", None, iso.nodes.iter().copied());
    s.push_str(&declarations(
        &iso,
        &[
            "meta l4proto tcp reject with tcp reset",
            "reject with icmp type admin-prohibited",
        ],
    ));
    s.push_str(
        "\tchain isolation {\n\
         \t\ttype filter hook forward priority 0; policy accept;\n\
         \t\tct state established,related accept\n\
         \t\tip daddr != @iso_members ip daddr != @iso_pods accept\n\
         \t\tip daddr @iso_nodes accept\n\
         \t\tct status dnat ct original ip daddr != @iso_vips accept\n\
         \t\tip saddr vmap @iso_member_nets\n\
         \t\tip daddr != @iso_members accept\n\
         \t\tip saddr @iso_nodes accept\n\
         \t\tip saddr @iso_pods meta l4proto tcp reject with tcp reset\n\
         \t\tip saddr @iso_pods reject with icmp type admin-prohibited\n\
         \t}\n}\n",
    );
    let _ = writeln!(s, "table bridge {TABLE} {{");
    s.push_str(&ports_set(local));
    pods_set(&mut s, &iso.pods);
    s.push_str(&declarations(&iso, &["drop"]));
    s.push_str(
        "\tchain prerouting {\n\
         \t\ttype filter hook prerouting priority -200; policy accept;\n\
         \t\tiifname \"sk*\" iifname . ip saddr != @iso_ports drop\n\
         \t\tiifname \"sk*\" iifname . arp saddr ip != @iso_ports drop\n\
         \t\tmeta pkttype != host ip daddr @iso_members ip saddr vmap @iso_member_nets\n\
         \t\tmeta pkttype != host ip daddr @iso_members ip saddr @iso_pods drop\n\
         \t}\n}\n",
    );
    s
}

/// The set `iso_pods` of the ranges container addresses come from.
fn pods_set(s: &mut String, pods: &[ipnet::Ipv4Net]) {
    let _ = writeln!(s, "\tset iso_pods {{");
    let _ = writeln!(s, "\t\ttype ipv4_addr");
    let _ = writeln!(s, "\t\tflags interval");
    if !pods.is_empty() {
        let ranges: Vec<String> = pods.iter().map(ToString::to_string).collect();
        let _ = writeln!(s, "\t\telements = {{ {} }}", ranges.join(", "));
    }
    let _ = writeln!(s, "\t}}");
}

/// The set `iso_ports` of the bridge table: each container's bridge port (the host end of its
/// veth, `sk` + the first 8 characters of its id + 4 random ones: a wildcard on the first
/// ten) with the container's address. Frames from a port (`sk*`) whose IPv4 or ARP source is
/// not the address of its container are dropped, so that a container cannot pass for a
/// container of another network (raw sockets are among Docker's default capabilities, and
/// an ARP reply claiming another's address would draw the node's traffic for it).
fn ports_set(local: &BTreeMap<Ipv4Addr, String>) -> String {
    let elements = port_elements(local);
    let mut s =
        String::from("\tset iso_ports {\n\t\ttype ifname . ipv4_addr\n\t\tflags interval\n");
    if !elements.is_empty() {
        let _ = writeln!(s, "\t\telements = {{ {} }}", elements.join(", "));
    }
    s.push_str("\t}\n");
    s
}

impl Engine {
    /// Makes the node's isolation exactly `iso` (level-triggered: the whole list, replacing
    /// the last one; no members removes it). The list is checked first (a refusal names the
    /// member and changes nothing); the state file and Skiff's nftables tables are updated
    /// together (one nft transaction, with the published ports, service ports and virtual
    /// IPs); the bridge is made if it is missing.
    ///
    /// A container that is not listed is not isolated: list a container before it starts.
    pub fn set_isolation(&self, iso: &Isolation) -> Result<(), Error> {
        let opts = self.opts.network.clone();
        opts.check()?;
        iso.check().map_err(NetworkError::from)?;
        let store = Store::new(self.data_dir());
        if iso.is_empty() && !store.path().exists() {
            return Ok(());
        }
        let _lock = store.lock()?;
        let prev = match store.load()? {
            Some(state) => state,
            None => State::new(Ipam::new(opts.subnet).map_err(NetworkError::from)?),
        };
        let mut next = prev.clone();
        next.check_against_records(&self.data_dir().join("containers"), &boot_id());
        replace(&mut next, &opts, iso);
        if !next.isolation.is_empty() {
            // The table sets route_localnet on the bridge, which must exist.
            let (bridge, subnet, mtu) = (opts.bridge.clone(), opts.subnet, opts.mtu);
            let gateway = next.ipam.gateway();
            netlink::run(move |h| async move {
                netlink::ensure_bridge(&h, &bridge, subnet, gateway, mtu).await
            })?;
        }
        super::save_synced(&store, &prev, &next, &Kernel)?;
        Ok(())
    }
}

/// Puts `iso` in `state` in place of its isolation and sets the table up as it then needs
/// (the last table's settings, else `opts`).
fn replace(state: &mut State, opts: &NetworkOptions, iso: &Isolation) {
    state.isolation = iso.normalized();
    let (bridge, subnet, masquerade) = match &state.table {
        Some(t) => (t.bridge.clone(), t.subnet, t.masquerade),
        None => (opts.bridge.clone(), opts.subnet, opts.masquerade),
    };
    state.table = wanted_table(state, &bridge, subnet, masquerade);
}

/// The elements of `iso_ports` for the node's containers `local` (address → id); an id nft
/// could not take is left out.
fn port_elements(local: &BTreeMap<Ipv4Addr, String>) -> Vec<String> {
    local
        .iter()
        .filter_map(|(ip, id)| {
            let prefix = id
                .get(..8)
                .filter(|p| p.bytes().all(|b| b.is_ascii_alphanumeric()))?;
            Some(format!("\"sk{prefix}*\" . {ip}"))
        })
        .collect()
}

/// The nft script that brings the node's containers `local` into `iso_ports` of the tables
/// the kernel has, in one transaction that fails — changing nothing — when the kernel lacks
/// either table (after a reboot or a flush): what a container start needs when `iso` is set
/// and the tables are there, at a cost that does not grow with the list (see
/// [`super::restore`]). `None` when `iso` is empty.
pub fn refresh(iso: &Isolation, local: &BTreeMap<Ipv4Addr, String>) -> Option<String> {
    let first = iso.members.first()?;
    // Adding an element that is there changes nothing; adding to a missing table fails.
    let mut s = format!(
        "add element ip {TABLE} iso_members {{ {a} }}\n\
         add element bridge {TABLE} iso_members {{ {a} }}\n",
        a = first.address
    );
    let elements = port_elements(local);
    if !elements.is_empty() {
        let _ = writeln!(
            s,
            "add element bridge {TABLE} iso_ports {{ {} }}",
            elements.join(", ")
        );
    }
    Some(s)
}

#[cfg(test)]
#[path = "isolation_tests.rs"]
mod tests;
