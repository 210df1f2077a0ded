//! [`Engine::set_service_ports`]: the node's service ports (node-local ingress), kept in the
//! network state file with the published ports and carried out by the same table (see
//! [`super::service`] for the rules).

use super::firewall::{Firewall, Kernel};
use super::service::{self, ServicePort, ServicePortError};
use super::{ports, NetworkError, NetworkOptions, State};
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
        self.opts.network.check()?;
        service::check(services).map_err(NetworkError::from)?;
        self.update_network(
            services.is_empty(),
            |state, opts| replace(state, opts, services, &Kernel),
            |state| !state.service_ports.is_empty(),
        )
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
    super::retable(state, opts);
    Ok(())
}
