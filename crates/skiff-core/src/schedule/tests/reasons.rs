//! Why a task stays pending, as data and as the text `skiff ps` shows.

use skiff_api::{ByteSize, Constraint, ConstraintOp, Cpus, Protocol};

use super::*;
use crate::plan::QuotaExcess;
use crate::schedule::{Filter, Rejected, Unplaced};

#[test]
fn each_node_counts_once_under_the_first_filter_that_rejects_it() {
    let mut c = Cluster::plain(9); // n9 lacks the selector's label
    c.node_mut("n1").status = NodeStatus::Down;
    c.node_mut("n2").status = NodeStatus::Down;
    c.node_mut("n2").availability = Availability::Drain; // down comes first
    c.node_mut("n3").availability = Availability::Pause;
    c.node_mut("n4").availability = Availability::Drain;
    for id in ["n5", "n6", "n7", "n8"] {
        c.node_mut(id).labels.insert("pool".into(), "dev".into());
    }
    c.node_mut("n4").labels.insert("pool".into(), "dev".into());
    c.envs[0].node_selector.insert("pool".into(), "dev".into());
    c.node_mut("n6").labels.insert("zone".into(), "west".into());
    c.node_mut("n7").allocatable.memory = ByteSize(1 << 20);
    c.node_mut("n8").allocatable.cpus = Cpus::from_millis(100);
    c.node_mut("n8").allocatable.memory = ByteSize(1 << 20); // CPU comes first
    let mut spec =
        web_spec("      placement:\n        constraints: [\"node.labels.zone != west\"]\n");
    spec.deploy.resources.reservations.cpus = Some(Cpus::from_millis(500));
    spec.deploy.resources.reservations.memory = Some(ByteSize(64 << 20));
    c.service("web", spec);
    c.running("web", "n5");
    c.services[0].spec.deploy.placement.max_replicas_per_node = Some(1);
    let got = c.schedule(&c.pending("web", 1));
    let Decision::Unplaced { reason, .. } = &got[0] else {
        panic!("{got:?}")
    };
    let rejected = |filter, nodes| Rejected { filter, nodes };
    assert_eq!(
        *reason,
        Unplaced::NoSuitableNode {
            nodes: 9,
            rejected: vec![
                rejected(Filter::Down, 2),
                rejected(Filter::Paused, 1),
                rejected(Filter::Drained, 1),
                rejected(Filter::NodeSelector { env: name("dev") }, 1),
                rejected(
                    Filter::Constraint(Constraint {
                        attribute: "node.labels.zone".into(),
                        operator: ConstraintOp::Ne,
                        value: "west".into()
                    }),
                    1
                ),
                rejected(Filter::MaxReplicasPerNode { max: 1 }, 1),
                rejected(
                    Filter::Cpus {
                        needed: Cpus::from_millis(500)
                    },
                    1
                ),
                rejected(
                    Filter::Memory {
                        needed: ByteSize(64 << 20)
                    },
                    1
                ),
            ]
        }
    );
    assert_eq!(
        reason.to_string(),
        "no suitable node (2 nodes down; 1 node paused; 1 node drained; \
         1 node outside environment dev's node selector; 1 node not matching node.labels.zone != west; \
         1 node already running 1 task of the service (max_replicas_per_node); \
         1 node with less than 0.5 CPUs unreserved; \
         1 node with less than 64MiB of memory unreserved)"
    );
}

#[test]
fn the_rest_of_the_phrases() {
    let text = |filter, nodes| Rejected { filter, nodes }.to_string();
    assert_eq!(
        text(Filter::NodeSelector { env: name("prod") }, 3),
        "3 nodes outside environment prod's node selector"
    );
    assert_eq!(
        text(
            Filter::HostPort {
                published: 8080,
                protocol: Protocol::Udp
            },
            1
        ),
        "1 node with port 8080/udp in use"
    );
    assert_eq!(
        text(Filter::MaxReplicasPerNode { max: 3 }, 2),
        "2 nodes already running 3 tasks of the service (max_replicas_per_node)"
    );
    assert_eq!(
        Unplaced::NoSuitableNode {
            nodes: 0,
            rejected: vec![]
        }
        .to_string(),
        "no suitable node (the cluster has no nodes)"
    );
    assert_eq!(
        Unplaced::QuotaExceeded {
            env: name("dev"),
            excess: QuotaExcess::Memory {
                requested: ByteSize(3 << 30),
                limit: ByteSize(2 << 30)
            }
        }
        .to_string(),
        "environment dev is at its quota: its services would reserve 3GiB of memory, the quota allows 2GiB"
    );
}

#[test]
fn an_empty_cluster_says_so() {
    let mut c = Cluster::plain(0);
    c.service("web", web_spec(""));
    let got = c.schedule(&c.pending("web", 2));
    assert_eq!(
        reasons(&got),
        [
            "no suitable node (the cluster has no nodes)",
            "no suitable node (the cluster has no nodes)"
        ]
    );
}

#[test]
fn the_tasks_after_the_first_unplaced_one_share_its_reason() {
    let mut c = Cluster::plain(2);
    c.service(
        "web",
        web_spec("      placement:\n        max_replicas_per_node: 1\n"),
    );
    let got = c.schedule(&c.pending("web", 4));
    let want =
        "no suitable node (2 nodes already running 1 task of the service (max_replicas_per_node))";
    assert_eq!(reasons(&got), [want, want]);
    assert_eq!(got[3].task().as_str(), "web-p4");
}
