//! Keeps the node's service virtual IPs, isolation rules and DNS answers equal to the
//! [`Directory`] the session publishes: every change of a service or a task address reaches the
//! engine's nftables (`Engine::set_service_vips`, `Engine::set_isolation`) and the DNS server's
//! table (docs/services.md).

use std::sync::Arc;
use std::time::Duration;

use skiff_engine::network::isolation::Isolation;
use skiff_engine::network::vip::ServiceVip;
use skiff_engine::Engine;
use tokio::sync::watch;

use crate::directory::Directory;
use crate::dns::DnsServer;

/// How long a refused list waits before it is tried again when nothing changes.
const RETRY: Duration = Duration::from_secs(5);

/// Follows `directory` until it closes: the engine's virtual IPs and isolation (containers
/// of `pods`, the cluster's pod CIDR, not listed are of no network) and `dns`'s table (when
/// the node has a DNS server) follow each version. A refusal is printed and retried at the
/// next change or after [`RETRY`].
pub async fn follow(
    engine: Arc<Engine>,
    dns: Option<DnsServer>,
    cluster: Cluster,
    mut directory: watch::Receiver<Directory>,
) {
    let Cluster {
        pods,
        subnet,
        mut peers,
    } = cluster;
    let mut applied: Option<Vec<ServiceVip>> = None;
    let mut isolated: Option<Isolation> = None;
    loop {
        let current = directory.borrow_and_update().clone();
        let nodes = node_addresses(subnet, &peers.borrow_and_update());
        if let Some(dns) = &dns {
            match current.dns_table() {
                Ok(table) => dns.set_table(table),
                Err(e) => eprintln!("skiff agent: service names: {e}"),
            }
        }
        let vips = current.vips();
        let wanted = applied.is_some() || !vips.is_empty();
        if wanted && applied.as_ref() != Some(&vips) {
            let (engine, next) = (engine.clone(), vips.clone());
            match tokio::task::spawn_blocking(move || engine.set_service_vips(&next)).await {
                Ok(Ok(())) => applied = Some(vips.clone()),
                Ok(Err(e)) => eprintln!("skiff agent: service virtual IPs: {e}"),
                Err(e) => eprintln!("skiff agent: service virtual IPs: {e}"),
            }
        }
        let mut isolation = current.isolation(pods.clone());
        isolation.nodes = nodes;
        let wanted_isolation = isolated.is_some() || !isolation.is_empty();
        if wanted_isolation && isolated.as_ref() != Some(&isolation) {
            let (engine, next) = (engine.clone(), isolation.clone());
            match tokio::task::spawn_blocking(move || engine.set_isolation(&next)).await {
                Ok(Ok(())) => isolated = Some(isolation.clone()),
                Ok(Err(e)) => eprintln!("skiff agent: isolation: {e}"),
                Err(e) => eprintln!("skiff agent: isolation: {e}"),
            }
        }
        let pending = (wanted && applied.as_ref() != Some(&vips))
            || (wanted_isolation && isolated.as_ref() != Some(&isolation));
        tokio::select! {
            changed = directory.changed() => if changed.is_err() { return },
            changed = peers.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RETRY), if pending => {}
        }
    }
}

/// What the node knows of the cluster's addresses, for isolation.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's pod CIDR (none: a server that does not say).
    pub pods: Vec<ipnet::Ipv4Net>,
    /// This node's pod subnet.
    pub subnet: ipnet::Ipv4Net,
    /// The other nodes, with their pod subnets.
    pub peers: watch::Receiver<Vec<skiff_proto::agent::Peer>>,
}

/// The nodes' own addresses in their pod subnets: each subnet's first address (the overlay
/// endpoint) and second (the bridge's).
pub fn node_addresses(
    own: ipnet::Ipv4Net,
    peers: &[skiff_proto::agent::Peer],
) -> Vec<std::net::Ipv4Addr> {
    let subnets = std::iter::once(own).chain(
        peers
            .iter()
            .filter_map(|p| p.pod_subnet.parse::<ipnet::Ipv4Net>().ok()),
    );
    subnets
        .flat_map(|s| {
            let first = u32::from(s.network());
            [first.into(), (first + 1).into()]
        })
        .collect()
}
