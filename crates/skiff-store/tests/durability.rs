//! What the store wrote comes back after it is closed and reopened from the same directory.

use std::collections::BTreeSet;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine, StorageHelper};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, Membership, RaftLogReader, RaftSnapshotBuilder, Vote};
use skiff_store::testing::{KvCommand, KvStateMachine};
use skiff_store::{Store, TypeConfig};

type Kv = KvStateMachine;

fn set(index: u64) -> Entry<TypeConfig<Kv>> {
    Entry {
        log_id: log_id(2, 1, index),
        payload: EntryPayload::Normal(KvCommand::Set {
            key: format!("k{index}"),
            value: format!("v{index}"),
        }),
    }
}

/// Entry 1 makes node 1 the only voter; entries 2..=6 set `k{i}` to `v{i}`.
fn entries() -> Vec<Entry<TypeConfig<Kv>>> {
    let membership = Entry {
        log_id: log_id(2, 1, 1),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], None)),
    };
    std::iter::once(membership)
        .chain((2..=6).map(set))
        .collect()
}

#[tokio::test]
async fn log_vote_snapshot_and_applied_state_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let vote = Vote::new_committed(2, 1);
    {
        let (mut log, mut sm) = Store::open::<Kv>(dir.path()).unwrap();
        log.save_vote(&vote).await.unwrap();
        log.blocking_append(entries()).await.unwrap();
        log.save_committed(Some(log_id(2, 1, 6))).await.unwrap();
        sm.apply(entries()[..4].to_vec()).await.unwrap();
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 1, 4)));
        // Applied but in no snapshot: must come back by replaying the log.
        sm.apply(entries()[4..].to_vec()).await.unwrap();
        log.purge(log_id(2, 1, 2)).await.unwrap();
    }

    let (mut log, mut sm) = Store::open::<Kv>(dir.path()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(2, 1, 6)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 1, 2)));
    assert_eq!(state.last_log_id, Some(log_id(2, 1, 6)));
    assert_eq!(
        log.try_get_log_entries(0..).await.unwrap(),
        entries()[2..].to_vec()
    );

    let snapshot = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 1, 4)));
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(2, 1, 4)), "restored from the snapshot");
    assert_eq!(membership.log_id(), &Some(log_id(2, 1, 1)));
    assert_eq!(
        sm.read(|kv| kv.get("k4").map(str::to_owned)).await,
        Some("v4".into())
    );
    assert_eq!(sm.read(|kv| kv.get("k5").map(str::to_owned)).await, None);

    // What openraft does when a node starts: re-apply the committed entries after the snapshot.
    StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(sm.last_applied().await, Some(log_id(2, 1, 6)));
    let expected: Vec<_> = (2..=6)
        .map(|i| (format!("k{i}"), (format!("v{i}"), i)))
        .collect();
    assert_eq!(
        sm.read(|kv| kv.data.clone().into_iter().collect::<Vec<_>>())
            .await,
        expected
    );
}

#[tokio::test]
async fn an_installed_snapshot_survives_a_reopen() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let (_, mut leader) = Store::open::<Kv>(leader_dir.path()).unwrap();
    leader.apply(entries()).await.unwrap();
    let snapshot = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    {
        let (_, mut follower) = Store::open::<Kv>(follower_dir.path()).unwrap();
        let mut data = follower.begin_receiving_snapshot().await.unwrap();
        *data = *snapshot.snapshot;
        follower
            .install_snapshot(&snapshot.meta, data)
            .await
            .unwrap();
    }

    let (_, mut follower) = Store::open::<Kv>(follower_dir.path()).unwrap();
    let current = follower
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(current.meta, snapshot.meta);
    assert_eq!(follower.last_applied().await, Some(log_id(2, 1, 6)));
    let theirs = leader.read(Kv::clone).await;
    assert_eq!(follower.read(Kv::clone).await, theirs);
}

#[tokio::test]
async fn truncate_removes_the_tail_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = Store::open::<Kv>(dir.path()).unwrap();
        log.blocking_append(entries()).await.unwrap();
        log.truncate(log_id(2, 1, 4)).await.unwrap();
    }
    let (mut log, _) = Store::open::<Kv>(dir.path()).unwrap();
    assert_eq!(
        log.get_log_state().await.unwrap().last_log_id,
        Some(log_id(2, 1, 3))
    );
    assert_eq!(
        log.try_get_log_entries(..).await.unwrap(),
        entries()[..3].to_vec()
    );
}
