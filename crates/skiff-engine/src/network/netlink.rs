//! The kernel side of a node's network, over rtnetlink: the bridge, and the veth pair that
//! plugs a container's network namespace into it.
//!
//! Every call runs on a thread of its own with a current-thread tokio runtime, so it works the
//! same from the synchronous shim, from a CLI command and from inside the agent's runtime, and
//! so that `setns` into a container's namespace (to open a netlink socket there) never touches
//! the caller's threads.

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures_util::future::join;
use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use nix::sched::{setns, CloneFlags};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use super::NetworkError;

/// The name of the container's end of its veth pair.
pub const CONTAINER_IFNAME: &str = "eth0";

/// Runs `f` with a netlink handle in the calling thread's network namespace.
pub(crate) fn run<T, F, Fut>(f: F) -> Result<T, NetworkError>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, NetworkError>>,
{
    run_in(None, move |host, _| f(host))
}

/// Runs `f` with a handle in the caller's network namespace and, when `inner` (a
/// `/proc/PID/ns/net` file) is given, one in that namespace too.
pub(crate) fn run_in<T, F, Fut>(inner: Option<File>, f: F) -> Result<T, NetworkError>
where
    T: Send + 'static,
    F: FnOnce(Handle, Option<Handle>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, NetworkError>>,
{
    // A new thread starts in the network namespace of the thread that creates it.
    let thread = std::thread::Builder::new()
        .name("skiff-netlink".into())
        .spawn(move || -> Result<T, NetworkError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| NetworkError::netlink("starting a netlink runtime", e))?;
            rt.block_on(async move {
                let (conn, host, _) = rtnetlink::new_connection()
                    .map_err(|e| NetworkError::netlink("opening a netlink socket", e))?;
                tokio::spawn(conn);
                let inner = match inner {
                    None => None,
                    Some(ns) => {
                        let own = File::open("/proc/thread-self/ns/net")
                            .map_err(|e| NetworkError::netlink("opening this thread's netns", e))?;
                        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
                            NetworkError::netlink("entering the container's network namespace", e)
                        })?;
                        // The socket belongs to the namespace it is opened in.
                        let opened = rtnetlink::new_connection();
                        setns(&own, CloneFlags::CLONE_NEWNET).map_err(|e| {
                            NetworkError::netlink("returning to the host's network namespace", e)
                        })?;
                        let (conn, handle, _) = opened.map_err(|e| {
                            NetworkError::netlink("opening a netlink socket in the container", e)
                        })?;
                        tokio::spawn(conn);
                        Some(handle)
                    }
                };
                f(host, inner).await
            })
        })
        .map_err(|e| NetworkError::netlink("starting a netlink thread", e))?;
    thread
        .join()
        .unwrap_or_else(|_| Err(NetworkError::netlink("netlink thread", "it panicked")))
}

/// The negative errno of a netlink error, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// A delete's outcome, where the kernel saying the object is already gone (`absent` errnos)
/// counts as done: deletes are idempotent.
fn deleted(
    result: Result<(), rtnetlink::Error>,
    absent: &[i32],
    op: impl FnOnce() -> String,
) -> Result<(), NetworkError> {
    match result {
        Err(e) if !errno(&e).is_some_and(|n| absent.contains(&n)) => {
            Err(NetworkError::netlink(op(), e))
        }
        _ => Ok(()),
    }
}

fn nl(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetworkError {
    let op = op.into();
    move |e| NetworkError::netlink(op, e)
}

/// A link by name, if it exists.
pub(crate) async fn link_by_name(
    handle: &Handle,
    name: &str,
) -> Result<Option<LinkMessage>, NetworkError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(NetworkError::netlink(format!("looking up link {name}"), e)),
    }
}

/// A link's kind (`bridge`, `veth`, `vxlan`…), `device` for one without.
pub(crate) fn link_kind(link: &LinkMessage) -> String {
    for attr in &link.attributes {
        if let LinkAttribute::LinkInfo(infos) = attr {
            for info in infos {
                if let LinkInfo::Kind(kind) = info {
                    return match kind {
                        InfoKind::Other(s) => s.clone(),
                        k => k.to_string(),
                    };
                }
            }
        }
    }
    "device".to_string()
}

/// A link's MTU.
pub(crate) fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

/// The IPv4 addresses (with prefixes) on a link.
pub(crate) async fn ipv4_addresses(
    handle: &Handle,
    index: u32,
) -> Result<Vec<Ipv4Net>, NetworkError> {
    let msgs: Vec<AddressMessage> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing addresses"))?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.family == AddressFamily::Inet && m.header.index == index)
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip))
                | AddressAttribute::Address(IpAddr::V4(ip)) => {
                    Ipv4Net::new(*ip, m.header.prefix_len).ok()
                }
                _ => None,
            })
        })
        .collect())
}

/// The IPv4 unicast routes of the main table: destination and output link index.
pub(crate) async fn ipv4_routes(handle: &Handle) -> Result<Vec<(Ipv4Net, u32)>, NetworkError> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(query)
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing routes"))?;
    Ok(routes
        .iter()
        .filter(|r| r.header.kind == RouteType::Unicast && r.header.table == 254)
        .filter_map(|r| {
            let dest = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            let oif = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            })?;
            let net = Ipv4Net::new(
                dest.unwrap_or(Ipv4Addr::UNSPECIFIED),
                r.header.destination_prefix_length,
            )
            .ok()?;
            Some((net, oif))
        })
        .collect())
}

/// A link's name by index (for messages).
pub(crate) async fn link_name(handle: &Handle, index: u32) -> String {
    let mut links = handle.link().get().match_index(index).execute();
    match links.try_next().await {
        Ok(Some(link)) => link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("link {index}")),
        _ => format!("link {index}"),
    }
}

/// What [`ensure_bridge`] found or made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bridge {
    pub index: u32,
    pub mtu: u32,
}

/// Makes sure the bridge `name` exists, is up and has `gateway` in `subnet`: created if
/// missing, left alone if it is right; a non-bridge device of that name, a bridge with another
/// address, or a subnet that overlaps a route of another link is an error.
pub(crate) async fn ensure_bridge(
    handle: &Handle,
    name: &str,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    mtu: u32,
) -> Result<Bridge, NetworkError> {
    let link = match link_by_name(handle, name).await? {
        Some(link) => link,
        None => {
            check_overlap(handle, subnet, None).await?;
            // A MAC address of its own: a bridge without one takes the lowest of its ports'
            // and changes it as containers come and go, which leaves the containers' ARP
            // entries for the gateway pointing at a port that may be gone (seconds without
            // a way out) and makes a veth's creation change the bridge's address, with the
            // notifications and neighbour flushes that go with it.
            let msg = LinkBridge::new(name)
                .address(mac_of(gateway).to_vec())
                .up()
                .build();
            match handle.link().add(msg).execute().await {
                Ok(()) => {
                    // Set after creation, through the driver (which only acts on a change), so
                    // that the bridge keeps it instead of following its ports'.
                    if let Some(link) = link_by_name(handle, name).await? {
                        let set = LinkUnspec::new_with_index(link.header.index)
                            .mtu(mtu)
                            .build();
                        handle
                            .link()
                            .set(set)
                            .execute()
                            .await
                            .map_err(nl(format!("setting the MTU of {name}")))?;
                    }
                }
                // Made meanwhile by another engine command.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(NetworkError::netlink(format!("creating bridge {name}"), e)),
            }
            link_by_name(handle, name).await?.ok_or_else(|| {
                NetworkError::netlink(format!("creating bridge {name}"), "it vanished")
            })?
        }
    };
    let kind = link_kind(&link);
    if kind != "bridge" {
        return Err(NetworkError::NotABridge {
            name: name.to_string(),
            kind,
        });
    }
    let index = link.header.index;
    let wanted = Ipv4Net::new(gateway, subnet.prefix_len()).expect("prefix checked");
    let addresses = ipv4_addresses(handle, index).await?;
    if !addresses.contains(&wanted) {
        if let Some(other) = addresses.first() {
            return Err(NetworkError::BridgeAddress {
                name: name.to_string(),
                found: other.to_string(),
                wanted: wanted.to_string(),
            });
        }
        check_overlap(handle, subnet, Some(index)).await?;
        match handle
            .address()
            .add(index, IpAddr::V4(gateway), subnet.prefix_len())
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => {
                return Err(NetworkError::netlink(
                    format!("adding {wanted} to {name}"),
                    e,
                ))
            }
        }
    }
    if !link.header.flags.contains(LinkFlags::Up) {
        let msg = LinkUnspec::new_with_index(index).up().build();
        handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl(format!("setting {name} up")))?;
    }
    Ok(Bridge {
        index,
        mtu: link_mtu(&link).unwrap_or(mtu),
    })
}

/// The MAC address of the interface with address `ip` (the bridge, a container's eth0):
/// locally administered, unicast, and the same for the same address, so that the
/// neighbours' ARP entries stay right when a container restarts on a new veth or a deleted
/// bridge is made again (as the CNI bridge plugin's `0a:58:` addresses do).
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x73, a, b, c, d]
}

/// Fails when `subnet` overlaps a route through a link other than `own`.
pub(crate) async fn check_overlap(
    handle: &Handle,
    subnet: Ipv4Net,
    own: Option<u32>,
) -> Result<(), NetworkError> {
    for (route, oif) in ipv4_routes(handle).await? {
        if route.prefix_len() == 0 || Some(oif) == own {
            continue;
        }
        if route.contains(&subnet.network()) || subnet.contains(&route.network()) {
            return Err(NetworkError::SubnetOverlaps {
                subnet,
                route,
                dev: link_name(handle, oif).await,
            });
        }
    }
    Ok(())
}

/// Plugs the network namespace `netns` into the bridge: a veth pair whose host end (named
/// `host_ifname`) joins the bridge and whose other end is created inside the namespace as
/// `eth0`, with the attachment's address, the bridge's MTU, loopback up and a default route
/// through the gateway. Nothing is undone on failure: the pair lives in the container's namespace and
/// goes away with it.
pub(crate) async fn plug(
    host: &Handle,
    inner: &Handle,
    netns: &File,
    bridge: Bridge,
    host_ifname: &str,
    att: &super::Attachment,
    hairpin: bool,
) -> Result<(), NetworkError> {
    // One queue each way on both ends, said up front: a veth is made with one per CPU and,
    // when not told, the kernel cuts each end down to one after registering it, which
    // waits for an RCU grace period twice under the RTNL lock (about 0.5 ms each here).
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(CONTAINER_IFNAME.to_string())
        .address(mac_of(att.ip).to_vec())
        .mtu(bridge.mtu)
        .setns_by_fd(netns.as_raw_fd())
        .append_extra_attribute(LinkAttribute::NumTxQueues(1))
        .append_extra_attribute(LinkAttribute::NumRxQueues(1))
        // Not `up` here: a veth end cannot be opened before its pair is complete (ENOTCONN).
        .build();
    let veth = LinkVeth::new(host_ifname, CONTAINER_IFNAME)
        .set_info_data(rtnetlink::packet_route::link::InfoData::Veth(
            rtnetlink::packet_route::link::InfoVeth::Peer(peer),
        ))
        .mtu(bridge.mtu)
        .controller(bridge.index)
        .append_extra_attribute(LinkAttribute::NumTxQueues(1))
        .append_extra_attribute(LinkAttribute::NumRxQueues(1))
        .up()
        .build();
    host.link()
        .add(veth)
        .execute()
        .await
        .map_err(|e| match errno(&e) {
            Some(libc::EEXIST) => NetworkError::LinkExists {
                name: host_ifname.to_string(),
            },
            _ => NetworkError::netlink(format!("creating veth {host_ifname}"), e),
        })?;
    if hairpin {
        // A bridge port setting: it can only be set once the veth is on the bridge.
        let port = link_by_name(host, host_ifname)
            .await?
            .ok_or_else(|| NetworkError::netlink(format!("veth {host_ifname}"), "it vanished"))?;
        // RTM_NEWLINK: RTM_SETLINK ignores bridge port settings without a word.
        host.link()
            .set_port(LinkBridgePort::new(port.header.index).hairpin(true).build())
            .execute()
            .await
            .map_err(nl(format!("setting hairpin mode on {host_ifname}")))?;
    }
    let (ip, prefix, gateway) = (att.ip, att.prefix_len, att.gateway);
    // Requests that do not depend on each other go out together: loopback up (named, so it
    // needs no lookup) with the lookup of eth0; then eth0's address with eth0 up.
    let lo_up = async {
        inner
            .link()
            .set(LinkUnspec::new_with_name("lo").up().build())
            .execute()
            .await
            .map_err(nl("setting lo up in the container"))
    };
    let (lo, eth0) = join(lo_up, link_by_name(inner, CONTAINER_IFNAME)).await;
    lo?;
    let eth0 =
        eth0?.ok_or_else(|| NetworkError::netlink("container eth0", "it was not created"))?;
    let add_address = async {
        inner
            .address()
            .add(eth0.header.index, IpAddr::V4(ip), prefix)
            .execute()
            .await
            .map_err(nl(format!("adding {ip}/{prefix} to the container's eth0")))
    };
    let eth0_up = async {
        inner
            .link()
            .set(LinkUnspec::new_with_index(eth0.header.index).up().build())
            .execute()
            .await
            .map_err(nl("setting eth0 up in the container"))
    };
    let (added, up) = join(add_address, eth0_up).await;
    added?;
    up?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gateway)
        .output_interface(eth0.header.index)
        .build();
    inner
        .route()
        .add(route)
        .execute()
        .await
        .map_err(nl(format!("adding the default route via {gateway}")))?;
    Ok(())
}

// The overlay's kernel objects (see `overlay.rs`): links, addresses, routes, neighbour and FDB
// entries, each read as plain data and changed one request at a time. A delete of something
// already gone is not an error, so that applying a plan twice, or after a partial failure, is
// harmless.

/// What the overlay needs to know of a link.
#[derive(Debug, Clone)]
pub(crate) struct LinkFacts {
    pub index: u32,
    pub name: String,
    pub kind: String,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
    pub up: bool,
    /// The VXLAN attributes, for a VXLAN device.
    pub vxlan: Option<VxlanFacts>,
}

/// A VXLAN device's settings, as the kernel reports them.
#[derive(Debug, Clone, Default)]
pub(crate) struct VxlanFacts {
    pub vni: Option<u32>,
    pub port: Option<u16>,
    pub local: Option<Ipv4Addr>,
    pub underlay: Option<u32>,
    pub learning: Option<bool>,
    pub udp_csum: Option<bool>,
    pub remote: Option<Ipv4Addr>,
}

pub(crate) fn link_facts(link: &LinkMessage) -> LinkFacts {
    use rtnetlink::packet_route::link::{InfoData, InfoVxlan};
    let mut facts = LinkFacts {
        index: link.header.index,
        name: String::new(),
        kind: link_kind(link),
        mtu: link_mtu(link).unwrap_or(0),
        mac: None,
        up: link.header.flags.contains(LinkFlags::Up),
        vxlan: None,
    };
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(n) => facts.name = n.clone(),
            LinkAttribute::Address(a) => facts.mac = a.as_slice().try_into().ok(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Data(InfoData::Vxlan(attrs)) = info {
                        let mut v = VxlanFacts::default();
                        for a in attrs {
                            match a {
                                InfoVxlan::Id(id) => v.vni = Some(*id),
                                InfoVxlan::Port(p) => v.port = Some(*p),
                                InfoVxlan::Local(ip) => v.local = Some(*ip),
                                InfoVxlan::Link(i) => v.underlay = Some(*i),
                                InfoVxlan::Learning(l) => v.learning = Some(*l),
                                InfoVxlan::UDPCsum(c) => v.udp_csum = Some(*c),
                                InfoVxlan::Group(ip) => v.remote = Some(*ip),
                                _ => {}
                            }
                        }
                        facts.vxlan = Some(v);
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

/// Every link of the namespace.
pub(crate) async fn all_links(handle: &Handle) -> Result<Vec<LinkFacts>, NetworkError> {
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing links"))?;
    Ok(links.iter().map(link_facts).collect())
}

/// Every IPv4 address of the namespace, with its link's index.
pub(crate) async fn all_ipv4_addresses(
    handle: &Handle,
) -> Result<Vec<(u32, Ipv4Net)>, NetworkError> {
    let msgs: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing addresses"))?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.family == AddressFamily::Inet)
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => {
                    Some((m.header.index, Ipv4Net::new(*ip, m.header.prefix_len).ok()?))
                }
                _ => None,
            })
        })
        .collect())
}

/// A route of the main table, as the overlay sees it.
#[derive(Debug, Clone)]
pub(crate) struct RouteFacts {
    pub dest: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub protocol: u8,
}

/// The IPv4 unicast routes of the main table, with their gateway and protocol.
pub(crate) async fn main_routes(handle: &Handle) -> Result<Vec<RouteFacts>, NetworkError> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(query)
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing routes"))?;
    Ok(routes
        .iter()
        .filter(|r| r.header.kind == RouteType::Unicast && r.header.table == 254)
        .filter_map(|r| {
            let mut dest = Ipv4Addr::UNSPECIFIED;
            let (mut gateway, mut oif) = (None, None);
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => dest = *ip,
                    RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    _ => {}
                }
            }
            Some(RouteFacts {
                dest: Ipv4Net::new(dest, r.header.destination_prefix_length).ok()?,
                gateway,
                oif,
                protocol: r.header.protocol.into(),
            })
        })
        .collect())
}

/// Creates a VXLAN device, down, with its MTU and hardware address.
pub(crate) async fn create_vxlan(
    handle: &Handle,
    name: &str,
    spec: &super::overlay::DeviceSpec,
) -> Result<(), NetworkError> {
    let msg = rtnetlink::LinkVxlan::new(name, spec.vni)
        .local(spec.local)
        .dev(spec.underlay)
        .port(spec.port)
        .learning(false)
        // RFC 7348: the outer UDP checksum SHOULD be zero over IPv4 (the inner packets carry
        // their own); measured a few percent faster on veth underlays.
        .udp_csum(false)
        .mtu(spec.mtu)
        .address(spec.mac.0.to_vec())
        .build();
    handle.link().add(msg).execute().await.map_err(|e| {
        let hint = match errno(&e) {
            Some(libc::EEXIST) => {
                ": another VXLAN device on this node uses that VNI and port; choose another --vni or --port, or remove it"
            }
            Some(libc::EADDRINUSE) => ": the UDP port is in use; choose another --port",
            _ => "",
        };
        NetworkError::netlink(
            format!(
                "creating VXLAN device {name} (vni {}, local {}, port {})",
                spec.vni, spec.local, spec.port
            ),
            format!("{e}{hint}"),
        )
    })
}

/// Deletes a link; one already gone is not an error.
pub(crate) async fn delete_link(
    handle: &Handle,
    index: u32,
    name: &str,
) -> Result<(), NetworkError> {
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(NetworkError::netlink(format!("deleting {name}"), e)),
    }
}

/// Sets a link's MTU.
pub(crate) async fn set_mtu(handle: &Handle, index: u32, mtu: u32) -> Result<(), NetworkError> {
    let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
    handle
        .link()
        .set(msg)
        .execute()
        .await
        .map_err(nl(format!("setting MTU {mtu} on link {index}")))
}

/// Sets a link up.
pub(crate) async fn set_up(handle: &Handle, index: u32) -> Result<(), NetworkError> {
    let msg = LinkUnspec::new_with_index(index).up().build();
    handle
        .link()
        .set(msg)
        .execute()
        .await
        .map_err(nl(format!("setting link {index} up")))
}

/// Adds an address to a link; one it has already is not an error.
pub(crate) async fn add_address(
    handle: &Handle,
    index: u32,
    addr: Ipv4Net,
) -> Result<(), NetworkError> {
    match handle
        .address()
        .add(index, IpAddr::V4(addr.addr()), addr.prefix_len())
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(NetworkError::netlink(
            format!("adding {addr} to link {index}"),
            e,
        )),
    }
}

/// Removes an address from a link; one it no longer has is not an error.
pub(crate) async fn del_address(
    handle: &Handle,
    index: u32,
    addr: Ipv4Net,
) -> Result<(), NetworkError> {
    let msg = rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new()
        .index(index)
        .address(addr.addr(), addr.prefix_len())
        .build();
    deleted(
        handle.address().del(msg).execute().await,
        &[libc::EADDRNOTAVAIL, libc::ENODEV],
        || format!("removing {addr} from link {index}"),
    )
}

/// Adds or replaces the route `dest via gateway onlink dev oif proto protocol`.
pub(crate) async fn replace_route(
    handle: &Handle,
    dest: Ipv4Net,
    gateway: Ipv4Addr,
    oif: u32,
    protocol: u8,
) -> Result<(), NetworkError> {
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dest.network(), dest.prefix_len())
        .gateway(gateway)
        .output_interface(oif)
        .onlink()
        .protocol(protocol.into())
        .build();
    handle
        .route()
        .add(msg)
        .replace()
        .execute()
        .await
        .map_err(nl(format!("adding the route to {dest} via {gateway}")))
}

/// Deletes the route to `dest` of protocol `protocol` (the kernel matches on the protocol, so
/// another owner's route to the same place is never removed); one already gone is not an error.
pub(crate) async fn del_route(
    handle: &Handle,
    dest: Ipv4Net,
    oif: Option<u32>,
    protocol: u8,
) -> Result<(), NetworkError> {
    let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dest.network(), dest.prefix_len())
        .protocol(protocol.into());
    if let Some(oif) = oif {
        builder = builder.output_interface(oif);
    }
    deleted(
        handle.route().del(builder.build()).execute().await,
        &[libc::ESRCH, libc::ENOENT, libc::ENODEV],
        || format!("deleting the route to {dest}"),
    )
}

/// The permanent IPv4 neighbour entries of a link: address and hardware address.
pub(crate) async fn permanent_neighbours(
    handle: &Handle,
    index: u32,
) -> Result<Vec<(Ipv4Addr, [u8; 6])>, NetworkError> {
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourState,
    };
    let msgs: Vec<_> = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Inet)
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing neighbour entries"))?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.ifindex == index && m.header.state == NeighbourState::Permanent)
        .filter_map(|m| {
            let mut ip = None;
            let mut mac = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => ip = Some(*v),
                    NeighbourAttribute::LinkLayerAddress(l) => mac = l.as_slice().try_into().ok(),
                    _ => {}
                }
            }
            Some((ip?, mac?))
        })
        .collect())
}

/// Adds or replaces the permanent neighbour entry `ip lladdr mac` on a link.
pub(crate) async fn replace_neighbour(
    handle: &Handle,
    index: u32,
    ip: Ipv4Addr,
    mac: [u8; 6],
) -> Result<(), NetworkError> {
    handle
        .neighbours()
        .add(index, IpAddr::V4(ip))
        .link_layer_address(&mac)
        .replace()
        .execute()
        .await
        .map_err(nl(format!("adding the neighbour entry for {ip}")))
}

/// Deletes the neighbour entry of `ip` on a link; one already gone is not an error.
pub(crate) async fn del_neighbour(
    handle: &Handle,
    index: u32,
    ip: Ipv4Addr,
) -> Result<(), NetworkError> {
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourMessage,
    };
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.ifindex = index;
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
    deleted(
        handle.neighbours().del(msg).execute().await,
        &[libc::ENOENT, libc::ENODEV],
        || format!("deleting the neighbour entry for {ip}"),
    )
}

/// The forwarding database of a VXLAN device: hardware address and remote, in the kernel's
/// order (a hardware address may have several remotes; the first is the one a replace changes).
pub(crate) async fn fdb_entries(
    handle: &Handle,
    index: u32,
) -> Result<Vec<([u8; 6], Option<Ipv4Addr>)>, NetworkError> {
    use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};
    let msgs: Vec<_> = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing forwarding entries"))?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.ifindex == index)
        .filter_map(|m| {
            let mut dst = None;
            let mut mac = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => dst = Some(*v),
                    // In a bridge-family message the library cannot tell the address's
                    // family: a VXLAN remote over IPv4 comes as its four bytes.
                    NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                        dst = <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
                    }
                    NeighbourAttribute::LinkLayerAddress(l) => mac = l.as_slice().try_into().ok(),
                    _ => {}
                }
            }
            Some((mac?, dst))
        })
        .collect())
}

/// Adds the permanent forwarding entry `mac dst remote` on a VXLAN device, or points the
/// existing entry of `mac` at `remote` (in one step: traffic is never without an entry).
pub(crate) async fn replace_fdb(
    handle: &Handle,
    index: u32,
    mac: [u8; 6],
    remote: Ipv4Addr,
) -> Result<(), NetworkError> {
    use rtnetlink::packet_route::neighbour::NeighbourFlags;
    handle
        .neighbours()
        .add_bridge(index, &mac)
        .flags(NeighbourFlags::Own)
        .destination(IpAddr::V4(remote))
        .replace()
        .execute()
        .await
        .map_err(nl(format!(
            "adding the forwarding entry {} → {remote}",
            super::overlay::Mac(mac)
        )))
}

/// Deletes the forwarding entry `mac dst remote` (all of `mac`'s when `remote` is `None`) of
/// a VXLAN device; one already gone is not an error.
pub(crate) async fn del_fdb(
    handle: &Handle,
    index: u32,
    mac: [u8; 6],
    remote: Option<Ipv4Addr>,
) -> Result<(), NetworkError> {
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
    };
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    if let Some(remote) = remote {
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                remote,
            )));
    }
    deleted(
        handle.neighbours().del(msg).execute().await,
        &[libc::ENOENT, libc::ENODEV],
        || format!("deleting the forwarding entry {}", super::overlay::Mac(mac)),
    )
}
