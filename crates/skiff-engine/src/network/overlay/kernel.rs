//! The overlay's kernel side: reads what the kernel holds into [`Actual`] and [`NodeFacts`],
//! and carries out a plan's [`Change`]s over rtnetlink, one request each.

use rtnetlink::Handle;

use super::plan::{
    self, Actual, Change, Desired, DeviceSpec, DeviceState, Entries, Fdb, Neighbour, Route,
    RouteDev,
};
use super::{
    device_for, BridgeFacts, ForeignRoute, Mac, NodeAddress, NodeFacts, Overlay, OverlayStatus,
    OVERLAY_DEVICE, ROUTE_PROTOCOL,
};
use crate::network::netlink::{self, LinkFacts};
use crate::network::{NetworkError, NetworkOptions};

/// The kernel's state, as the overlay sees it.
struct Snapshot {
    facts: NodeFacts,
    actual: Actual,
}

async fn snapshot(h: &Handle, bridge: &str) -> Result<Snapshot, NetworkError> {
    let links = netlink::all_links(h).await?;
    let addresses = netlink::all_ipv4_addresses(h).await?;
    let routes = netlink::main_routes(h).await?;
    let link = |index: u32| links.iter().find(|l| l.index == index);
    let of_link = |index: u32| -> Vec<ipnet::Ipv4Net> {
        addresses
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, a)| *a)
            .collect()
    };
    let device = links.iter().find(|l| l.name == OVERLAY_DEVICE);
    let device_index = device.map(|d| d.index);

    let mut entries = Entries::default();
    for r in routes.iter().filter(|r| r.protocol == ROUTE_PROTOCOL) {
        let dev = match r.oif {
            Some(oif) if Some(oif) == device_index => RouteDev::Overlay,
            oif => RouteDev::Other(oif.unwrap_or(0)),
        };
        entries.routes.push(Route {
            subnet: r.dest,
            via: r.gateway,
            dev,
        });
    }
    if let Some(d) = device.filter(|d| d.kind == "vxlan") {
        for (ip, mac) in netlink::permanent_neighbours(h, d.index).await? {
            entries.neighbours.push(Neighbour { ip, mac: Mac(mac) });
        }
        for (mac, remote) in netlink::fdb_entries(h, d.index).await? {
            entries.fdb.push(Fdb {
                mac: Mac(mac),
                remote,
            });
        }
    }

    let facts = NodeFacts {
        addresses: addresses
            .iter()
            .filter(|(i, _)| Some(*i) != device_index)
            .map(|&(index, address)| NodeAddress {
                address,
                link: index,
                mtu: link(index).map_or(0, |l| l.mtu),
            })
            .collect(),
        routes: routes
            .iter()
            .filter(|r| {
                r.protocol != ROUTE_PROTOCOL && r.oif.is_none_or(|o| Some(o) != device_index)
            })
            .map(|r| ForeignRoute {
                dest: r.dest,
                dev: r
                    .oif
                    .and_then(link)
                    .map_or_else(|| "no link".to_string(), |l| l.name.clone()),
                connected: r.gateway.is_none(),
            })
            .collect(),
        bridge: links
            .iter()
            .find(|l| l.name == bridge && l.kind == "bridge")
            .map(|l| BridgeFacts {
                name: l.name.clone(),
                mtu: l.mtu,
                addresses: of_link(l.index),
            }),
    };
    let actual = Actual {
        device: device.map(|d| device_state(d, of_link(d.index))),
        entries,
    };
    Ok(Snapshot { facts, actual })
}

fn device_state(l: &LinkFacts, addresses: Vec<ipnet::Ipv4Net>) -> DeviceState {
    let v = l.vxlan.clone().unwrap_or_default();
    DeviceState {
        index: l.index,
        kind: l.kind.clone(),
        vni: v.vni,
        port: v.port,
        local: v.local,
        underlay: v.underlay,
        learning: v.learning,
        udp_csum: v.udp_csum,
        remote: v.remote,
        mtu: l.mtu,
        mac: l.mac.map(Mac),
        up: l.up,
        addresses,
    }
}

/// Makes the kernel hold `overlay`; on a failure half-way, puts back what was there.
pub(super) async fn set(
    h: &Handle,
    opts: &NetworkOptions,
    overlay: &Overlay,
) -> Result<Vec<Change>, NetworkError> {
    let before = snapshot(h, &opts.bridge).await?;
    let desired = Desired {
        device: device_for(overlay, opts, &before.facts)?,
        entries: plan::Entries::for_peers(&overlay.peers),
    };
    let changes = plan::plan(&desired, &before.actual)?;
    let index = before.actual.device.as_ref().map(|d| d.index);
    if let Err(e) = apply(h, &changes, index).await {
        restore(h, &opts.bridge, &before.actual).await;
        return Err(e);
    }
    Ok(changes)
}

/// Removes the overlay; whether there was anything to remove.
pub(super) async fn remove(h: &Handle, bridge: &str) -> Result<bool, NetworkError> {
    let now = snapshot(h, bridge).await?;
    let changes = plan::removal(&now.actual)?;
    apply(h, &changes, now.actual.device.as_ref().map(|d| d.index)).await?;
    Ok(!changes.is_empty())
}

/// The overlay as the kernel has it.
pub(super) async fn status(
    h: &Handle,
    bridge: &str,
) -> Result<Option<OverlayStatus>, NetworkError> {
    let now = snapshot(h, bridge).await?;
    Ok(now.actual.device.map(|d| OverlayStatus {
        device: OVERLAY_DEVICE.to_string(),
        vni: d.vni,
        port: d.port,
        local: d.local,
        mtu: d.mtu,
        mac: d.mac,
        up: d.up,
        addresses: d.addresses,
        peers: now.actual.entries.peers(),
    }))
}

/// Best effort: turns the kernel back into `before` after a failed apply.
async fn restore(h: &Handle, bridge: &str, before: &Actual) {
    let Ok(now) = snapshot(h, bridge).await else {
        return;
    };
    let changes = match before.device.as_ref().and_then(spec_of) {
        Some(device) => plan::plan(
            &Desired {
                device,
                entries: before.entries.clone(),
            },
            &now.actual,
        ),
        None => plan::removal(&now.actual),
    };
    if let Ok(changes) = changes {
        let index = now.actual.device.as_ref().map(|d| d.index);
        let _ = apply(h, &changes, index).await;
    }
}

/// The spec a device found in the kernel was made from, when it is a complete VXLAN device.
fn spec_of(d: &DeviceState) -> Option<DeviceSpec> {
    Some(DeviceSpec {
        vni: d.vni?,
        port: d.port?,
        local: d.local?,
        underlay: d.underlay?,
        mtu: d.mtu,
        mac: d.mac?,
        address: *d.addresses.first()?,
    })
}

/// Carries out `changes` in order; `index` is the overlay device's, if it exists.
async fn apply(h: &Handle, changes: &[Change], mut index: Option<u32>) -> Result<(), NetworkError> {
    let device = |index: Option<u32>| {
        index.ok_or_else(|| NetworkError::netlink(OVERLAY_DEVICE, "the device is missing"))
    };
    for change in changes {
        match change {
            Change::DeleteDevice { index: i } => {
                netlink::delete_link(h, *i, OVERLAY_DEVICE).await?;
                index = None;
            }
            Change::CreateDevice(spec) => {
                netlink::create_vxlan(h, OVERLAY_DEVICE, spec).await?;
                let made = netlink::link_by_name(h, OVERLAY_DEVICE).await?;
                index = made.map(|l| l.header.index);
            }
            Change::SetMtu(mtu) => netlink::set_mtu(h, device(index)?, *mtu).await?,
            Change::DelAddress(a) => netlink::del_address(h, device(index)?, *a).await?,
            Change::AddAddress(a) => netlink::add_address(h, device(index)?, *a).await?,
            Change::SetUp => netlink::set_up(h, device(index)?).await?,
            Change::DelRoute(r) => {
                let oif = match r.dev {
                    RouteDev::Overlay => index,
                    RouteDev::Other(0) => None,
                    RouteDev::Other(i) => Some(i),
                };
                netlink::del_route(h, r.subnet, oif, ROUTE_PROTOCOL).await?
            }
            Change::SetFdb { mac, remote } => {
                netlink::replace_fdb(h, device(index)?, mac.0, *remote).await?
            }
            Change::DelFdb(f) => netlink::del_fdb(h, device(index)?, f.mac.0, f.remote).await?,
            Change::SetNeighbour(n) => {
                netlink::replace_neighbour(h, device(index)?, n.ip, n.mac.0).await?
            }
            Change::SetRoute { subnet, via } => {
                netlink::replace_route(h, *subnet, *via, device(index)?, ROUTE_PROTOCOL).await?
            }
            Change::DelNeighbour(ip) => netlink::del_neighbour(h, device(index)?, *ip).await?,
        }
    }
    Ok(())
}
