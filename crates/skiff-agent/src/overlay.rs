//! Keeps the node's VXLAN overlay equal to the peer list the control plane sends: every other
//! ready node's address and pod subnet (docs/networking.md, "Across nodes").

use std::net::Ipv4Addr;
use std::sync::Arc;

use skiff_engine::network::overlay::{Overlay, Peer as OverlayPeer, DEFAULT_PORT, DEFAULT_VNI};
use skiff_engine::Engine;
use skiff_proto::agent::Peer;
use tokio::sync::watch;

/// Turns the session's peer list into the engine's overlay: peers whose address or subnet
/// cannot be read are left out (and named in the returned notes).
pub fn overlay_of(local: Ipv4Addr, peers: &[Peer]) -> (Overlay, Vec<String>) {
    let mut notes = Vec::new();
    let mut list = Vec::new();
    for peer in peers {
        let address = peer.address.parse::<Ipv4Addr>();
        let subnet = peer.pod_subnet.parse();
        match (address, subnet) {
            (Ok(address), Ok(subnet)) if address != local => {
                list.push(OverlayPeer { address, subnet })
            }
            (Ok(_), Ok(_)) => {}
            _ => notes.push(format!(
                "peer {}: address {:?} or subnet {:?} is not IPv4",
                peer.node_id, peer.address, peer.pod_subnet
            )),
        }
    }
    let overlay = Overlay {
        local,
        vni: DEFAULT_VNI,
        port: DEFAULT_PORT,
        peers: list,
    };
    (overlay, notes)
}

/// Follows `peers` until it closes, making the engine's overlay equal to each list. The
/// overlay device is made at the first non-empty list (a lone node needs none). A refusal is
/// printed and retried at the next change or every few seconds.
pub async fn follow(engine: Arc<Engine>, local: Ipv4Addr, mut peers: watch::Receiver<Vec<Peer>>) {
    let mut applied: Option<Overlay> = None;
    loop {
        let list = peers.borrow_and_update().clone();
        let (overlay, notes) = overlay_of(local, &list);
        for note in notes {
            eprintln!("skiff agent: overlay: {note}");
        }
        let wanted = applied.is_some() || !overlay.peers.is_empty();
        if wanted && applied.as_ref() != Some(&overlay) {
            let engine = engine.clone();
            let next = overlay.clone();
            let done = tokio::task::spawn_blocking(move || engine.set_overlay(&next)).await;
            match done {
                Ok(Ok(_)) => applied = Some(overlay.clone()),
                Ok(Err(e)) => eprintln!("skiff agent: overlay: {e}"),
                Err(e) => eprintln!("skiff agent: overlay: {e}"),
            }
        }
        let pending = wanted && applied.as_ref() != Some(&overlay);
        let retry = tokio::time::sleep(std::time::Duration::from_secs(5));
        tokio::select! {
            changed = peers.changed() => if changed.is_err() { return },
            _ = retry, if pending => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, address: &str, subnet: &str) -> Peer {
        Peer {
            node_id: id.into(),
            address: address.into(),
            pod_subnet: subnet.into(),
        }
    }

    #[test]
    fn peers_become_the_overlay_without_this_node_and_bad_entries() {
        let local = Ipv4Addr::new(10, 0, 0, 1);
        let (overlay, notes) = overlay_of(
            local,
            &[
                peer("n2", "10.0.0.2", "10.208.1.0/24"),
                peer("n1", "10.0.0.1", "10.208.0.0/24"),
                peer("n3", "node3.example", "10.208.2.0/24"),
                peer("n4", "10.0.0.4", "nonsense"),
            ],
        );
        assert_eq!(overlay.local, local);
        assert_eq!(
            overlay.peers,
            [OverlayPeer {
                address: Ipv4Addr::new(10, 0, 0, 2),
                subnet: "10.208.1.0/24".parse().unwrap()
            }]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("peer n3"), "{notes:?}");
    }
}
