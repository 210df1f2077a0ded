//! [`Engine::set_service_ports`]: the node's service ports (node-local ingress), kept in the
//! network state file with the published ports and carried out by the same table (see
//! [`super::service`] for the rules).

use super::firewall::{Firewall, Kernel};
use super::ipam::Ipam;
use super::service::{self, ServicePort, ServicePortError};
use super::{netlink, ports, wanted_table, NetworkError, NetworkOptions, State, Store};
use crate::container::record::boot_id;
use crate::{Engine, Error};

impl Engine {
    /// Makes the node's service ports exactly `services` (level-triggered: the whole list,
    /// replacing the last one; an empty list removes them all). Each publishes one port of
    /// the node and sends each new connection to one of its backends, picked at random;
    /// one without backends refuses connections. The list is checked first, then against
    /// the ports containers publish and, for ports not already a service port's, against
    /// the programs listening on the node: a refusal names the service port and what holds
    /// the port, and changes nothing. The state file and Skiff's nftables table are updated
    /// together (one nft transaction); the bridge is made if it is missing.
    pub fn set_service_ports(&self, services: &[ServicePort]) -> Result<(), Error> {
        let opts = self.opts.network.clone();
        opts.check()?;
        service::check(services).map_err(NetworkError::from)?;
        let store = Store::new(self.data_dir());
        if services.is_empty() && !store.path().exists() {
            return Ok(());
        }
        let _lock = store.lock()?;
        let prev = match store.load()? {
            Some(state) => state,
            None => State::new(Ipam::new(opts.subnet).map_err(NetworkError::from)?),
        };
        let mut next = prev.clone();
        next.check_against_records(&self.data_dir().join("containers"), &boot_id());
        replace(&mut next, &opts, services, &Kernel)?;
        if !next.service_ports.is_empty() {
            let (bridge, subnet, mtu) = (opts.bridge.clone(), opts.subnet, opts.mtu);
            let gateway = next.ipam.gateway();
            netlink::run(move |h| async move {
                netlink::ensure_bridge(&h, &bridge, subnet, gateway, mtu).await
            })?;
            super::enable_forwarding();
        }
        super::save_synced(&store, &prev, &next, &Kernel)?;
        Ok(())
    }
}

/// Puts `services` in `state` in place of its service ports, refusing any that a container
/// publishes or, when new, a program on the node uses; sets the table up as it then needs
/// (the last table's settings, else `opts`).
pub(super) fn replace(
    state: &mut State,
    opts: &NetworkOptions,
    services: &[ServicePort],
    fw: &dyn Firewall,
) -> Result<(), NetworkError> {
    if let Some((s, held)) = service::held_by_container(services, &state.ports) {
        return Err(ServicePortError::Port {
            service: s.name.clone(),
            source: ports::in_use(&s.mapping(), held),
        }
        .into());
    }
    for s in services {
        let known = state
            .service_ports
            .iter()
            .any(|o| o.mapping() == s.mapping());
        if !known {
            fw.probe(&s.mapping())
                .map_err(|source| ServicePortError::Port {
                    service: s.name.clone(),
                    source,
                })?;
        }
    }
    let mut services = services.to_vec();
    services.sort_by(|a, b| {
        (&a.name, a.protocol, a.published, a.host_ip).cmp(&(
            &b.name,
            b.protocol,
            b.published,
            b.host_ip,
        ))
    });
    state.service_ports = services;
    let (bridge, subnet, masquerade) = match &state.table {
        Some(t) => (t.bridge.clone(), t.subnet, t.masquerade),
        None => (opts.bridge.clone(), opts.subnet, opts.masquerade),
    };
    state.table = wanted_table(state, &bridge, subnet, masquerade);
    Ok(())
}
