//! Keeps the node's service virtual IPs, ingress ports (the routing mesh), isolation rules and
//! DNS answers equal to the [`Directory`] the session publishes: every change of a service or
//! a task address reaches the engine's nftables (`Engine::set_service_vips`,
//! `Engine::set_service_ports`, `Engine::set_isolation`) and the DNS server's table
//! (docs/services.md).

use std::sync::Arc;
use std::time::Duration;

use skiff_engine::network::isolation::Isolation;
use skiff_engine::network::service::ServicePort;
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
    let mut vips = Applied::new("service virtual IPs", |e, v: &Vec<ServiceVip>| {
        e.set_service_vips(v)
    });
    let mut isolation = Applied::new("isolation", Engine::set_isolation);
    let mut ports = Applied::new("ingress ports", |e, p: &Vec<ServicePort>| {
        e.set_service_ports(p)
    });
    loop {
        let current = directory.borrow_and_update().clone();
        let nodes = node_addresses(subnet, &peers.borrow_and_update());
        if let Some(dns) = &dns {
            match current.dns_table() {
                Ok(table) => dns.set_table(table),
                Err(e) => eprintln!("skiff agent: service names: {e}"),
            }
        }
        vips.apply(&engine, current.vips()).await;
        let mut wanted = current.isolation(pods.clone());
        wanted.nodes = nodes;
        isolation.apply(&engine, wanted).await;
        let (wanted, conflicts) = current.service_ports();
        if ports.differs(&wanted) {
            for conflict in &conflicts {
                eprintln!("skiff agent: {conflict}");
            }
        }
        ports.apply(&engine, wanted).await;
        let pending = vips.pending() || isolation.pending() || ports.pending();
        tokio::select! {
            changed = directory.changed() => if changed.is_err() { return },
            changed = peers.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RETRY), if pending => {}
        }
    }
}

/// One node-level list of the engine, as last handed over.
struct Applied<T> {
    what: &'static str,
    set: fn(&Engine, &T) -> Result<(), skiff_engine::Error>,
    /// The last list the engine took (none before the first).
    applied: Option<T>,
    /// The last list wanted.
    wanted: Option<T>,
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Applied<T> {
    fn new(what: &'static str, set: fn(&Engine, &T) -> Result<(), skiff_engine::Error>) -> Self {
        Self {
            what,
            set,
            applied: None,
            wanted: None,
        }
    }

    /// Whether `wanted` is not what the engine has.
    fn differs(&self, wanted: &T) -> bool {
        self.applied.as_ref() != Some(wanted)
    }

    /// Hands `wanted` to the engine when it differs from what it took last (an empty list
    /// before anything was ever set is not handed over: a node without services needs no
    /// rules); a refusal is printed.
    async fn apply(&mut self, engine: &Arc<Engine>, wanted: T)
    where
        T: IsEmpty,
    {
        let needed = self.applied.is_some() || !wanted.is_empty();
        self.wanted = needed.then(|| wanted.clone());
        if !needed || !self.differs(&wanted) {
            return;
        }
        let (engine, set, next) = (engine.clone(), self.set, wanted.clone());
        match tokio::task::spawn_blocking(move || set(&engine, &next)).await {
            Ok(Ok(())) => self.applied = Some(wanted),
            Ok(Err(e)) => eprintln!("skiff agent: {}: {e}", self.what),
            Err(e) => eprintln!("skiff agent: {}: {e}", self.what),
        }
    }

    /// Whether the last list wanted is not in place (to be tried again).
    fn pending(&self) -> bool {
        self.wanted.as_ref().is_some_and(|w| self.differs(w))
    }
}

/// Whether a list has nothing in it.
trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl IsEmpty for Isolation {
    fn is_empty(&self) -> bool {
        Isolation::is_empty(self)
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
