//! The overlay peers of a node: every other ready node that has a pod subnet.

use skiff_core::objects::NodeStatus;
use skiff_core::{Kind, Name, Object, State};
use skiff_proto::agent::{Peer, Peers};

/// The host part of `host:port` (`[v6]:port` → `v6`).
fn host(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The peers of `node` in `state`, in node id order.
pub fn peers(state: &State, node: &Name) -> Peers {
    let peers = state
        .list(&Kind::Node.prefix())
        .into_iter()
        .filter_map(|record| match &record.object {
            Object::Node(n) if &n.id != node && n.status == NodeStatus::Ready => Some(Peer {
                node_id: n.id.to_string(),
                address: host(&n.address).to_owned(),
                pod_subnet: n.pod_subnet.clone()?,
            }),
            _ => None,
        })
        .collect();
    Peers { peers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::fixtures::{node, put, state};

    #[test]
    fn peers_are_the_other_ready_nodes_with_a_subnet() {
        let mut s = state();
        put(
            &mut s,
            node("n1", "10.0.0.1:7401", "ready", Some("10.208.0.0/24")),
        );
        put(
            &mut s,
            node("n2", "10.0.0.2:7401", "ready", Some("10.208.1.0/24")),
        );
        put(
            &mut s,
            node("n3", "10.0.0.3:7401", "down", Some("10.208.2.0/24")),
        );
        put(&mut s, node("n4", "10.0.0.4:7401", "ready", None));
        put(
            &mut s,
            node("n5", "[fd00::5]:7401", "ready", Some("10.208.4.0/24")),
        );
        let got = peers(&s, &Name::new("n1").unwrap());
        let got: Vec<(&str, &str, &str)> = got
            .peers
            .iter()
            .map(|p| {
                (
                    p.node_id.as_str(),
                    p.address.as_str(),
                    p.pod_subnet.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("n2", "10.0.0.2", "10.208.1.0/24"),
                ("n5", "fd00::5", "10.208.4.0/24")
            ]
        );
    }
}
