//! The node network as it is, for `skiff network inspect`: the bridge as the kernel has it,
//! the addresses handed out, and the overlay.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use super::overlay::OverlayStatus;
use super::{netlink, Store};
use crate::{Engine, Error};

/// The node network as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkStatus {
    /// The node subnet the engine is configured with.
    pub subnet: Ipv4Net,
    /// The bridge.
    pub bridge: BridgeStatus,
    /// The subnet the address table is for (the one containers were given addresses in).
    pub allocated_subnet: Option<Ipv4Net>,
    /// Container addresses and the containers that hold them.
    pub allocations: BTreeMap<Ipv4Addr, String>,
    /// The overlay, if there is one.
    pub overlay: Option<OverlayStatus>,
}

/// The bridge as the kernel has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeStatus {
    /// Its name.
    pub name: String,
    /// Whether a bridge of that name exists (it is made with the first container).
    pub exists: bool,
    /// Its addresses.
    pub addresses: Vec<Ipv4Net>,
    /// Its MTU.
    pub mtu: Option<u32>,
}

impl Engine {
    /// The node network as it is: bridge, address table and overlay.
    pub fn network_status(&self) -> Result<NetworkStatus, Error> {
        let store = Store::new(self.data_dir());
        let state = if store.path().exists() {
            let _lock = store.lock()?;
            store.load()?
        } else {
            None
        };
        let name = self.opts.network.bridge.clone();
        let bridge = netlink::run(move |h| async move {
            Ok(match netlink::link_by_name(&h, &name).await? {
                Some(link) => BridgeStatus {
                    addresses: netlink::ipv4_addresses(&h, link.header.index).await?,
                    mtu: netlink::link_mtu(&link),
                    exists: netlink::link_kind(&link) == "bridge",
                    name,
                },
                None => BridgeStatus {
                    name,
                    exists: false,
                    addresses: Vec::new(),
                    mtu: None,
                },
            })
        })?;
        Ok(NetworkStatus {
            subnet: self.opts.network.subnet,
            bridge,
            allocated_subnet: state.as_ref().map(|s| s.ipam.subnet),
            allocations: state.map(|s| s.ipam.allocated).unwrap_or_default(),
            overlay: self.overlay_status()?,
        })
    }
}
