//! What the control plane keeps across process deaths: a lone server restarted, a whole
//! cluster SIGKILLed and started again, and a new member that can only catch up from a
//! snapshot because the log it would need was purged. Real `skiff server` processes on
//! 127.0.0.1 (see `cluster_support`).

mod cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_support::{Cluster, Config, Timing};

/// Writes `count` configs `name-{i}` = `value-{i}` through `via`; returns what was written.
async fn write_many(cluster: &Cluster, via: u64, count: usize) -> BTreeMap<String, Vec<u8>> {
    let mut written = BTreeMap::new();
    for i in 0..count {
        let (name, value) = (format!("name-{i}"), format!("value-{i}").into_bytes());
        cluster.put(via, &name, &value).await;
        written.insert(name, value);
    }
    written
}

fn payloads(configs: &BTreeMap<String, Config>) -> BTreeMap<String, Vec<u8>> {
    configs
        .iter()
        .map(|(name, c)| (name.clone(), c.data.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_server_keeps_its_data_across_a_restart() {
    let mut cluster = Cluster::start(1, Timing::default()).await;
    cluster.create_env(1, cluster_support::ENV).await;
    let written = write_many(&cluster, 1, 5).await;
    let before = cluster.configs(1, false).await;
    assert_eq!(payloads(&before), written);

    cluster.kill(1);
    cluster.restart(1).await;
    cluster.leader(&[1]).await;
    let after = cluster.configs(1, false).await;
    assert_eq!(after, before, "the same payloads at the same revisions");

    let revision = cluster.put(1, "after-restart", b"new").await;
    let max_before = before.values().map(|c| c.mod_revision).max().unwrap();
    assert!(
        revision > max_before,
        "revisions go on from {max_before}, not {revision}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_killed_whole_comes_back_with_its_state() {
    let mut cluster = Cluster::start(3, Timing::default()).await;
    cluster.create_env(2, cluster_support::ENV).await;
    let written = write_many(&cluster, 3, 10).await;
    let before = cluster.configs(1, false).await;
    assert_eq!(payloads(&before), written);

    for id in cluster.ids() {
        cluster.kill(id);
    }
    let restarted = Instant::now();
    for id in cluster.ids() {
        cluster.restart(id).await;
    }
    let leader = cluster.leader(&cluster.ids()).await;
    eprintln!(
        "leader {leader} elected {:?} after the restart",
        restarted.elapsed()
    );

    for id in cluster.ids() {
        assert_eq!(
            cluster.configs(id, false).await,
            before,
            "through server {id}"
        );
        cluster.converges(id, &before).await;
    }
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let revision = cluster.put(follower, "after-restart", b"new").await;
    let max_before = before.values().map(|c| c.mod_revision).max().unwrap();
    assert!(
        revision > max_before,
        "revisions go on from {max_before}, not {revision}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_catches_up_from_a_snapshot_when_the_log_is_purged() {
    let timing = Timing {
        snapshot_every: Some(20),
        ..Timing::default()
    };
    let mut cluster = Cluster::start(3, timing).await;
    cluster.create_env(1, cluster_support::ENV).await;
    let written = write_many(&cluster, 1, 100).await;
    let expected = cluster.configs(1, false).await;
    assert_eq!(payloads(&expected), written);

    // Every member has compacted its log: whoever leads can no longer send the first entries,
    // so a new member can only start from a snapshot.
    let mut purged = u64::MAX;
    for id in cluster.ids() {
        let p = cluster
            .eventually("the log is purged", Duration::from_secs(10), || async {
                cluster.ready_field(id, "purged").await.filter(|&p| p > 0)
            })
            .await;
        purged = purged.min(p);
    }

    let joined = Instant::now();
    cluster.join(&[4]).await;
    cluster.converges(4, &expected).await;
    eprintln!("server 4 joined and caught up in {:?}", joined.elapsed());
    let snapshot = cluster.ready_field(4, "snapshot").await;
    assert!(
        snapshot.is_some_and(|s| s > purged),
        "server 4 holds a snapshot past the purged log (index {purged}), not {snapshot:?}"
    );
    assert!(
        cluster.ready_field(4, "purged").await >= Some(purged),
        "server 4's log starts after the snapshot"
    );
    // And it takes part: a write through it reaches every member.
    cluster.put(4, "after-join", b"new").await;
    let after = cluster.configs(1, false).await;
    for id in cluster.ids() {
        cluster.converges(id, &after).await;
    }
}
