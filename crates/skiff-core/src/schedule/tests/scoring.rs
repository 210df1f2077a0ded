//! Where among the nodes that pass the filters a task goes.

use super::*;

fn spread(prefs: &[&str]) -> ServiceSpec {
    let list: String = prefs
        .iter()
        .map(|p| format!("          - spread: {p}\n"))
        .collect();
    web_spec(&format!("      placement:\n        preferences:\n{list}"))
}

/// Nodes `z{zone}-{i}` labelled `zone` for each (zone, how many nodes).
fn zones(shape: &[(&str, usize)]) -> Cluster {
    Cluster::with_nodes(shape.iter().flat_map(|(zone, count)| {
        (1..=*count).map(move |i| node(&format!("{zone}-{i}"), &[("zone", zone)]))
    }))
}

/// How many tasks went to each zone (the node id's prefix).
fn per_zone(decisions: &[Decision]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (node, count) in per_node(decisions) {
        let zone = node.split('-').next().unwrap().to_owned();
        *out.entry(zone).or_default() += count;
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn replicas_spread_over_nodes() {
    let mut c = Cluster::plain(3);
    c.service("web", web_spec(""));
    let got = c.schedule(&c.pending("web", 7));
    assert_eq!(nodes_of(&got), ["n1", "n2", "n3", "n1", "n2", "n3", "n1"]);
}

#[test]
fn replicas_spread_over_a_preference_whatever_the_zone_sizes() {
    let mut c = zones(&[("a", 1), ("b", 2), ("c", 5)]);
    c.service("web", spread(&["node.labels.zone"]));
    let got = c.schedule(&c.pending("web", 9));
    assert_eq!(per_zone(&got), counts(&[("a", 3), ("b", 3), ("c", 3)]));
    // Within a zone, over its nodes.
    assert_eq!(per_node(&got)["b-1"], 2);
    assert_eq!(per_node(&got)["b-2"], 1);
}

#[test]
fn spread_counts_the_tasks_already_running() {
    let mut c = zones(&[("a", 2), ("b", 2), ("c", 2)]);
    c.service("web", spread(&["node.labels.zone"]));
    c.running("web", "a-1")
        .running("web", "a-2")
        .running("web", "b-1");
    let got = c.schedule(&c.pending("web", 3));
    // a has 2, b 1, c 0: the new tasks even it out to 2/2/2.
    assert_eq!(per_zone(&got), counts(&[("b", 1), ("c", 2)]));
}

#[test]
fn nodes_without_the_label_are_a_branch_of_their_own() {
    let mut c = zones(&[("a", 1), ("b", 1)]);
    c.nodes.push(node("x-1", &[]));
    c.nodes.push(node("x-2", &[]));
    c.service("web", spread(&["node.labels.zone"]));
    let got = c.schedule(&c.pending("web", 6));
    assert_eq!(per_zone(&got), counts(&[("a", 2), ("b", 2), ("x", 2)]));
}

#[test]
fn nested_preferences_spread_level_by_level() {
    let mut c = Cluster::with_nodes([
        node("a-1", &[("zone", "a"), ("rack", "r1")]),
        node("a-2", &[("zone", "a"), ("rack", "r1")]),
        node("a-3", &[("zone", "a"), ("rack", "r2")]),
        node("b-1", &[("zone", "b"), ("rack", "r3")]),
    ]);
    c.service("web", spread(&["node.labels.zone", "node.labels.rack"]));
    let got = c.schedule(&c.pending("web", 8));
    let by_node = per_node(&got);
    // 4 per zone; in zone a, 2 per rack (r1's two nodes share theirs).
    assert_eq!(per_zone(&got), counts(&[("a", 4), ("b", 4)]));
    assert_eq!(by_node["a-3"], 2);
    assert_eq!(by_node["a-1"] + by_node["a-2"], 2);
}

#[test]
fn a_full_branch_leaves_its_share_to_the_others() {
    let mut c = zones(&[("a", 1), ("b", 1), ("c", 1)]);
    c.node_mut("a-1").allocatable.cpus = skiff_api::Cpus::from_millis(1_000);
    let mut spec = spread(&["node.labels.zone"]);
    spec.deploy.resources.reservations.cpus = Some(skiff_api::Cpus::from_millis(1_000));
    c.service("web", spec);
    let got = c.schedule(&c.pending("web", 9));
    assert_eq!(per_zone(&got), counts(&[("a", 1), ("b", 4), ("c", 4)]));
    assert_eq!(reasons(&got).len(), 0);
}

#[test]
fn least_loaded_node_breaks_ties() {
    let mut c = Cluster::plain(3);
    c.service("other", web_spec(""));
    c.service("web", web_spec(""));
    c.running("other", "n1")
        .running("other", "n1")
        .running("other", "n3");
    let got = c.schedule(&c.pending("web", 3));
    // n2 has no task, n3 one, n1 two; once each has a web task, the load still decides.
    assert_eq!(nodes_of(&got), ["n2", "n3", "n1"]);
}

#[test]
fn spreading_the_service_comes_before_the_load() {
    let mut c = Cluster::plain(2);
    c.service("other", web_spec(""));
    c.service("web", web_spec(""));
    for _ in 0..5 {
        c.running("other", "n1");
    }
    c.running("web", "n2");
    let got = c.schedule(&c.pending("web", 1));
    assert_eq!(nodes_of(&got), ["n1"]);
}

#[test]
fn least_loaded_zone_breaks_ties_between_zones() {
    let mut c = zones(&[("a", 1), ("b", 1), ("c", 1)]);
    c.service("other", web_spec(""));
    c.running("other", "a-1").running("other", "b-1");
    for s in ["s1", "s2", "s3"] {
        c.service(s, spread(&["node.labels.zone"]));
    }
    let pending: Vec<Task> = ["s1", "s2", "s3"]
        .iter()
        .flat_map(|s| c.pending(s, 1))
        .collect();
    // One task per service: each goes to the least loaded zone of the moment (c, then a and b
    // tie with c at one task each and the first wins, then b).
    let got = c.schedule(&pending);
    assert_eq!(nodes_of(&got), ["c-1", "a-1", "b-1"]);
}

#[test]
fn tasks_being_shut_down_do_not_count_for_spreading() {
    let mut c = Cluster::plain(2);
    c.service("web", web_spec(""));
    c.running("web", "n1").running("web", "n2");
    c.tasks[0].desired = DesiredState::Shutdown;
    // The replacement of the task stopping on n1 goes back to n1.
    let got = c.schedule(&c.pending("web", 1));
    assert_eq!(nodes_of(&got), ["n1"]);
}

#[test]
fn tasks_being_shut_down_still_count_against_max_replicas() {
    let mut c = Cluster::plain(2);
    c.service(
        "web",
        web_spec("      placement:\n        max_replicas_per_node: 1\n"),
    );
    c.running("web", "n1");
    c.tasks[0].desired = DesiredState::Shutdown;
    let got = c.schedule(&c.pending("web", 2));
    assert_eq!(nodes_of(&got), ["n2", "-"]);
}

#[test]
fn the_same_input_gives_the_same_decisions() {
    let mut c = zones(&[("a", 4), ("b", 3), ("c", 5)]);
    for (i, s) in ["s1", "s2", "s3", "s4"].iter().enumerate() {
        let mut spec = spread(&["node.labels.zone"]);
        spec.deploy.resources.reservations.cpus =
            Some(skiff_api::Cpus::from_millis(300 * (i as u64 + 1)));
        c.service(s, spec);
    }
    let pending: Vec<Task> = ["s1", "s2", "s3", "s4"]
        .iter()
        .flat_map(|s| c.pending(s, 10))
        .collect();
    let first = c.schedule(&pending);
    for _ in 0..3 {
        assert_eq!(c.schedule(&pending), first);
    }
    // Input order of nodes does not matter either.
    let mut reversed = c.clone();
    reversed.nodes.reverse();
    assert_eq!(reversed.schedule(&pending), first);
}

#[test]
fn a_seed_changes_ties_but_not_the_spread() {
    let mut c = Cluster::plain(8);
    c.service("web", web_spec(""));
    let pending = c.pending("web", 4);
    let by_id = nodes_of(&c.schedule(&pending));
    assert_eq!(by_id, ["n1", "n2", "n3", "n4"]);
    let orders: Vec<Vec<String>> = (0..6)
        .map(|seed| {
            let mut seeded = c.clone();
            seeded.seed = Some(seed);
            let first = nodes_of(&seeded.schedule(&pending));
            assert_eq!(first, nodes_of(&seeded.schedule(&pending)), "seed {seed}");
            let mut distinct = first.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 4, "seed {seed}: {first:?}");
            first
        })
        .collect();
    assert!(orders.iter().any(|o| *o != by_id), "{orders:?}");
}
