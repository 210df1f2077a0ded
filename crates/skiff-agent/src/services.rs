//! Keeps the node's service virtual IPs and DNS answers equal to the [`Directory`] the session
//! publishes: every change of a service or a task address reaches the engine's nftables
//! (`Engine::set_service_vips`) and the DNS server's table (docs/services.md).

use std::sync::Arc;
use std::time::Duration;

use skiff_engine::network::vip::ServiceVip;
use skiff_engine::Engine;
use tokio::sync::watch;

use crate::directory::Directory;
use crate::dns::DnsServer;

/// How long a refused list waits before it is tried again when nothing changes.
const RETRY: Duration = Duration::from_secs(5);

/// Follows `directory` until it closes: the engine's virtual IPs and `dns`'s table (when the
/// node has a DNS server) follow each version. A refusal is printed and retried at the next
/// change or after [`RETRY`].
pub async fn follow(
    engine: Arc<Engine>,
    dns: Option<DnsServer>,
    mut directory: watch::Receiver<Directory>,
) {
    let mut applied: Option<Vec<ServiceVip>> = None;
    loop {
        let current = directory.borrow_and_update().clone();
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
        let pending = wanted && applied.as_ref() != Some(&vips);
        tokio::select! {
            changed = directory.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RETRY), if pending => {}
        }
    }
}
