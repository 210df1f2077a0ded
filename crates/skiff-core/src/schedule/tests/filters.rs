//! Each filter alone, then together.

use std::net::IpAddr;

use skiff_api::{ByteSize, Cpus, PortMode, PortSpec, Protocol};

use super::*;
use crate::schedule::{Filter, Rejected, Unplaced};

/// The constraints of a `web` spec, one per line.
fn constrained(constraints: &[&str]) -> ServiceSpec {
    let list: String = constraints
        .iter()
        .map(|c| format!("          - \"{c}\"\n"))
        .collect();
    web_spec(&format!("      placement:\n        constraints:\n{list}"))
}

fn reserving(cpus: &str, memory: &str) -> ServiceSpec {
    web_spec(&format!(
        "      resources:\n        reservations:\n          cpus: \"{cpus}\"\n          memory: {memory}\n"
    ))
}

fn host_port(published: u16, protocol: Protocol, ip: Option<&str>) -> PortSpec {
    PortSpec {
        target: 80,
        published: Some(published),
        protocol,
        host_ip: ip.map(|i| i.parse::<IpAddr>().unwrap()),
        mode: PortMode::Host,
        name: None,
        app_protocol: None,
    }
}

fn with_ports(ports: Vec<PortSpec>) -> ServiceSpec {
    let mut spec = web_spec("");
    spec.ports = ports;
    spec
}

/// Where 3 tasks of `web` go on a cluster of `n1`..`n3` shaped by `shape`.
fn placed_on(shape: impl FnOnce(&mut Cluster), spec: ServiceSpec) -> Vec<String> {
    let mut c = Cluster::plain(3);
    shape(&mut c);
    c.service("web", spec);
    nodes_of(&c.schedule(&c.pending("web", 3)))
}

#[test]
fn only_ready_nodes_take_tasks() {
    let got = placed_on(
        |c| {
            c.node_mut("n1").status = NodeStatus::Down;
            c.node_mut("n3").status = NodeStatus::Down;
        },
        web_spec(""),
    );
    assert_eq!(got, ["n2", "n2", "n2"]);
}

#[test]
fn paused_and_drained_nodes_take_no_new_tasks() {
    let got = placed_on(
        |c| {
            c.node_mut("n1").availability = Availability::Pause;
            c.node_mut("n2").availability = Availability::Drain;
        },
        web_spec(""),
    );
    assert_eq!(got, ["n3", "n3", "n3"]);
}

#[test]
fn label_constraints_equal_and_not_equal() {
    let label = |c: &mut Cluster| {
        c.node_mut("n1").labels.insert("zone".into(), "east".into());
        c.node_mut("n2").labels.insert("zone".into(), "west".into());
    };
    assert_eq!(
        placed_on(label, constrained(&["node.labels.zone == east"])),
        ["n1", "n1", "n1"]
    );
    // A node without the label passes `!=`, as in Swarm.
    let got = placed_on(label, constrained(&["node.labels.zone != east"]));
    assert_eq!(per_node_of(&got), [("n2", 2), ("n3", 1)]);
}

fn per_node_of(nodes: &[String]) -> Vec<(&str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for n in nodes {
        match out.iter_mut().find(|(m, _)| m == n) {
            Some((_, k)) => *k += 1,
            None => out.push((n, 1)),
        }
    }
    out.sort();
    out
}

#[test]
fn constraint_values_compare_without_case() {
    let got = placed_on(
        |c| {
            c.node_mut("n2").labels.insert("disk".into(), "SSD".into());
        },
        constrained(&["node.labels.disk == ssd"]),
    );
    assert_eq!(got, ["n2", "n2", "n2"]);
}

#[test]
fn hostname_and_id_constraints() {
    assert_eq!(
        placed_on(|_| {}, constrained(&["node.hostname == n3.example"])),
        ["n3", "n3", "n3"]
    );
    assert_eq!(
        placed_on(|_| {}, constrained(&["node.id != n1", "node.id != n3"])),
        ["n2", "n2", "n2"]
    );
}

#[test]
fn every_node_is_a_linux_worker_and_has_no_known_arch() {
    let got = placed_on(
        |_| {},
        constrained(&["node.role == worker", "node.platform.os == linux"]),
    );
    assert_eq!(per_node_of(&got), [("n1", 1), ("n2", 1), ("n3", 1)]);
    assert_eq!(
        placed_on(|_| {}, constrained(&["node.role == manager"])),
        ["-", "-", "-"]
    );
    assert_eq!(
        placed_on(|_| {}, constrained(&["node.platform.arch == x86_64"])),
        ["-", "-", "-"]
    );
}

#[test]
fn max_replicas_per_node_caps_each_node() {
    let mut c = Cluster::plain(2);
    c.service(
        "web",
        web_spec("      placement:\n        max_replicas_per_node: 2\n"),
    );
    c.running("web", "n1");
    let got = c.schedule(&c.pending("web", 5));
    // n1 already runs one: one more there, two on n2, and the last two have nowhere to go.
    assert_eq!(per_node(&got), [("n1".into(), 1), ("n2".into(), 2)].into());
    assert_eq!(reasons(&got).len(), 2);
}

#[test]
fn host_ports_conflict_on_a_node() {
    let mut c = Cluster::plain(3);
    c.service(
        "other",
        with_ports(vec![host_port(8080, Protocol::Tcp, None)]),
    );
    c.running("other", "n1");
    c.service(
        "web",
        with_ports(vec![host_port(8080, Protocol::Tcp, None)]),
    );
    let got = c.schedule(&c.pending("web", 3));
    // n1's port is taken; each of n2 and n3 takes one task, after which its port is taken too.
    assert_eq!(nodes_of(&got), ["n2", "n3", "-"]);
}

#[test]
fn ports_of_another_protocol_or_address_or_mode_do_not_conflict() {
    let mut c = Cluster::plain(1);
    c.service(
        "a",
        with_ports(vec![host_port(53, Protocol::Tcp, Some("10.0.0.1"))]),
    );
    c.running("a", "n1");
    let mut ingress = host_port(53, Protocol::Tcp, None);
    ingress.mode = PortMode::Ingress;
    c.service("udp", with_ports(vec![host_port(53, Protocol::Udp, None)]));
    c.service(
        "other-ip",
        with_ports(vec![host_port(53, Protocol::Tcp, Some("10.0.0.2"))]),
    );
    c.service("mesh", with_ports(vec![ingress.clone(), ingress]));
    c.service(
        "any-ip",
        with_ports(vec![host_port(53, Protocol::Tcp, None)]),
    );
    let pending: Vec<Task> = ["udp", "other-ip", "mesh", "any-ip"]
        .iter()
        .flat_map(|s| c.pending(s, 1))
        .collect();
    let got = c.schedule(&pending);
    // Only a binding on every address clashes with the one on 10.0.0.1.
    assert_eq!(nodes_of(&got), ["n1", "n1", "n1", "-"]);
}

#[test]
fn cpu_and_memory_reservations_must_fit() {
    let mut c = Cluster::plain(2);
    c.node_mut("n1").allocatable.cpus = Cpus::from_millis(1_000);
    c.node_mut("n2").allocatable.memory = ByteSize(1 << 30);
    c.service("web", reserving("1.5", "2G"));
    let got = c.schedule(&c.pending("web", 1));
    assert_eq!(nodes_of(&got), ["-"]);
    assert_eq!(
        reasons(&got),
        [
            "no suitable node (1 node with less than 1.5 CPUs unreserved; \
          1 node with less than 2GiB of memory unreserved)"
        ]
    );
}

#[test]
fn running_tasks_reserve_and_finished_ones_do_not() {
    let mut c = Cluster::plain(1);
    c.service("web", reserving("1", "1G"));
    for _ in 0..3 {
        c.running("web", "n1");
    }
    c.running("web", "n1");
    c.tasks.last_mut().unwrap().observed = TaskState::Failed;
    // 4 CPUs, 3 reserved by the running tasks; the failed one holds nothing.
    let got = c.schedule(&c.pending("web", 2));
    assert_eq!(nodes_of(&got), ["n1", "-"]);
}

#[test]
fn a_task_of_an_earlier_spec_reserves_what_that_spec_said() {
    let mut c = Cluster::plain(1);
    let old = app_spec(
        "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        reservations:\n          cpus: \"3\"\n",
    );
    let new = app_spec("services:\n  web:\n    image: busybox\n");
    let mut app = App::new(name("dev"), name("shop"), old, 1);
    app.push_spec(new.clone(), 2);
    c.apps.push(app);
    c.service("web", new.services["web"].clone());
    c.services[0].spec_revision = 2;
    c.service("api", reserving("2", "1M"));
    c.running("web", "n1");
    // The old web task still reserves 3 of n1's 4 CPUs.
    let got = c.schedule(&c.pending("api", 1));
    assert_eq!(
        reasons(&got),
        ["no suitable node (1 node with less than 2 CPUs unreserved)"]
    );
}

#[test]
fn a_batch_never_over_commits_a_node() {
    let mut c = Cluster::plain(1);
    c.service("a", reserving("1.5", "1G"));
    c.service("b", reserving("1.5", "1G"));
    c.service("c", reserving("1.5", "1G"));
    let pending: Vec<Task> = ["a", "b", "c"]
        .iter()
        .flat_map(|s| c.pending(s, 1))
        .collect();
    let got = c.schedule(&pending);
    assert_eq!(nodes_of(&got), ["n1", "n1", "-"]);
    assert_eq!(
        reasons(&got),
        ["no suitable node (1 node with less than 1.5 CPUs unreserved)"]
    );
}

#[test]
fn successive_batches_over_one_input_do_not_over_commit() {
    let mut c = Cluster::plain(1);
    c.service("web", reserving("1", "1G"));
    let mut input = c.input();
    let pending = c.pending("web", 5);
    let first: Vec<&Task> = pending[..3].iter().collect();
    let second: Vec<&Task> = pending[3..].iter().collect();
    assert_eq!(nodes_of(&schedule(&mut input, &first)), ["n1", "n1", "n1"]);
    assert_eq!(nodes_of(&schedule(&mut input, &second)), ["n1", "-"]);
}

#[test]
fn the_environment_node_selector_restricts_nodes() {
    let mut c = Cluster::plain(3);
    c.node_mut("n2").labels.insert("pool".into(), "dev".into());
    c.node_mut("n3").labels.insert("pool".into(), "DEV".into());
    c.envs[0].node_selector.insert("pool".into(), "dev".into());
    c.service("web", web_spec(""));
    // Node selectors match exactly (n3's `DEV` is another value).
    let got = c.schedule(&c.pending("web", 2));
    assert_eq!(nodes_of(&got), ["n2", "n2"]);
}

#[test]
fn quota_caps_what_an_environment_reserves() {
    let mut c = Cluster::plain(3);
    c.envs[0].quota = Quota {
        max_cpus: Some(Cpus::from_millis(2_000)),
        max_memory: None,
        max_tasks: Some(10),
    };
    c.service("web", reserving("0.5", "1M"));
    c.running("web", "n1");
    let got = c.schedule(&c.pending("web", 4));
    assert_eq!(nodes_of(&got)[..3].iter().filter(|n| *n != "-").count(), 3);
    assert_eq!(
        reasons(&got),
        ["environment dev is at its quota: its services would reserve 2.5 CPUs, the quota allows 2"]
    );
}

#[test]
fn a_task_quota_counts_tasks_and_ignores_other_environments() {
    let mut c = Cluster::plain(2);
    c.envs.push(environment("prod"));
    c.envs[0].quota.max_tasks = Some(2);
    c.service("web", web_spec(""));
    c.service_in("prod", "api", web_spec(""));
    c.running("api", "n1");
    c.running("api", "n1");
    let mut pending = c.pending("web", 3);
    pending.extend(c.pending("api", 2));
    let got = c.schedule(&pending);
    assert_eq!(nodes_of(&got)[2], "-");
    assert_eq!(
        reasons(&got),
        ["environment dev is at its quota: its services would run 3 tasks, the quota allows 2"]
    );
    assert!(nodes_of(&got)[3..].iter().all(|n| n != "-"));
}

#[test]
fn a_cpu_quota_does_not_hold_back_a_task_that_reserves_no_cpu() {
    let mut c = Cluster::plain(1);
    c.envs[0].quota.max_cpus = Some(Cpus::from_millis(1_000));
    c.service("big", reserving("1", "1M"));
    c.service("web", web_spec(""));
    c.running("big", "n1");
    let got = c.schedule(&c.pending("web", 1));
    assert_eq!(nodes_of(&got), ["n1"]);
}

#[test]
fn filters_combined() {
    let mut c = Cluster::plain(6);
    for (id, zone) in [
        ("n1", "a"),
        ("n2", "a"),
        ("n3", "a"),
        ("n4", "b"),
        ("n5", "b"),
    ] {
        c.node_mut(id).labels.insert("zone".into(), zone.into());
    }
    c.node_mut("n1").status = NodeStatus::Down;
    c.node_mut("n2").allocatable.memory = ByteSize(256 << 20);
    let mut spec = constrained(&["node.labels.zone == a"]);
    spec.deploy.resources.reservations.memory = Some(ByteSize(512 << 20));
    spec.ports = vec![host_port(9000, Protocol::Tcp, None)];
    c.service("web", spec);
    let got = c.schedule(&c.pending("web", 2));
    // Only n3 is in zone a, up and big enough; its port then is taken.
    assert_eq!(nodes_of(&got), ["n3", "-"]);
    let Decision::Unplaced { reason, .. } = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(
        *reason,
        Unplaced::NoSuitableNode {
            nodes: 6,
            rejected: vec![
                Rejected {
                    filter: Filter::Down,
                    nodes: 1
                },
                Rejected {
                    filter: Filter::Constraint(
                        c.services[0].spec.deploy.placement.constraints[0].clone()
                    ),
                    nodes: 3
                },
                Rejected {
                    filter: Filter::HostPort {
                        published: 9000,
                        protocol: Protocol::Tcp
                    },
                    nodes: 1
                },
                Rejected {
                    filter: Filter::Memory {
                        needed: ByteSize(512 << 20)
                    },
                    nodes: 1
                },
            ]
        }
    );
}

#[test]
fn pinned_tasks_go_to_their_node_or_nowhere() {
    let mut c = Cluster::plain(3);
    c.node_mut("n2").availability = Availability::Drain;
    c.service("agent", reserving("1", "1G"));
    let pinned = |node: &str| {
        let mut t = task("agent", 1);
        t.id = name(&format!("agent-{node}"));
        t.slot = Slot::Node(name(node));
        t
    };
    let pending = vec![pinned("n1"), pinned("n2"), pinned("n3"), pinned("n9")];
    let got = c.schedule(&pending);
    assert_eq!(nodes_of(&got), ["n1", "-", "n3", "-"]);
    assert_eq!(
        reasons(&got),
        [
            "no suitable node (1 node drained)",
            "node n9 it is pinned to is not in the cluster"
        ]
    );
}

#[test]
fn pinned_tasks_are_placed_before_the_others() {
    let mut c = Cluster::plain(1);
    c.service("web", reserving("3", "1G"));
    c.service("agent", reserving("1", "1G"));
    let mut pending = c.pending("web", 2);
    let mut agent = task("agent", 1);
    agent.slot = Slot::Node(name("n1"));
    pending.push(agent);
    let got = c.schedule(&pending);
    assert_eq!(nodes_of(&got), ["n1", "-", "n1"]);
}

#[test]
fn a_task_of_an_unknown_service_stays_pending() {
    let c = Cluster::plain(1);
    let got = c.schedule(&[task("gone", 1)]);
    assert_eq!(reasons(&got), ["its service no longer exists"]);
}

#[test]
fn node_eligible_answers_the_first_static_filter() {
    use crate::schedule::node_eligible;
    let mut env = environment("dev");
    env.node_selector.insert("pool".into(), "a".into());
    let mut n = node("n1", &[("pool", "a"), ("zone", "east")]);
    let placement = constrained(&["node.labels.zone == west"]).deploy.placement;
    assert_eq!(
        node_eligible(&n, Some(&env), &placement),
        Err(Filter::Constraint(placement.constraints[0].clone()))
    );
    assert_eq!(node_eligible(&n, None, &Default::default()), Ok(()));
    n.labels.remove("pool");
    assert_eq!(
        node_eligible(&n, Some(&env), &placement),
        Err(Filter::NodeSelector { env: name("dev") })
    );
    n.availability = Availability::Pause;
    assert_eq!(
        node_eligible(&n, Some(&env), &placement),
        Err(Filter::Paused)
    );
    n.status = NodeStatus::Down;
    assert_eq!(node_eligible(&n, Some(&env), &placement), Err(Filter::Down));
}
