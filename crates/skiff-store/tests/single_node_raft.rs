//! A one-member openraft cluster on the sled store keeps its state across a restart.

use std::path::Path;
use std::time::Duration;

use openraft::storage::RaftLogStorage;
use openraft::Raft;
use skiff_store::testing::{single, KvCommand, KvStateMachine};
use skiff_store::{LogStore, StateMachineStore, TypeConfig};

type Kv = KvStateMachine;
type C = TypeConfig<Kv>;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

async fn open(path: &Path) -> (LogStore<Kv>, StateMachineStore<Kv>) {
    single::open::<Kv>(path).await
}

async fn start(path: &Path, init: bool) -> (Raft<C>, StateMachineStore<Kv>) {
    let config = single::manual_snapshot_config();
    single::start::<Kv>(path, config, init).await
}

async fn set(raft: &Raft<C>, key: &str, value: &str) -> Option<Option<String>> {
    let command = KvCommand::Set {
        key: key.into(),
        value: value.into(),
    };
    raft.client_write(command).await.unwrap().data
}

async fn contents(sm: &StateMachineStore<Kv>) -> Vec<(String, String)> {
    sm.read(|kv| {
        kv.data
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    })
    .await
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_a_restart_through_snapshot_and_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (raft, _sm) = start(dir.path(), true).await;

        assert_eq!(set(&raft, "a", "1").await, Some(None));
        assert_eq!(set(&raft, "b", "2").await, Some(None));
        assert_eq!(set(&raft, "a", "3").await, Some(Some("1".into())));

        raft.trigger().snapshot().await.unwrap();
        let metrics = raft
            .wait(TIMEOUT)
            .metrics(
                |m| m.snapshot.is_some() && m.purged.is_some(),
                "snapshot and purge",
            )
            .await
            .unwrap();
        let snapshot_index = metrics.snapshot.unwrap().index;

        // After the snapshot: these live only in the log.
        set(&raft, "c", "4").await;
        set(&raft, "b", "5").await;
        raft.wait(TIMEOUT)
            .applied_index(Some(snapshot_index + 2), "two entries past the snapshot")
            .await
            .unwrap();
        raft.shutdown().await.unwrap();
    }

    // The log really was purged up to the snapshot: the state needs both.
    let purged = {
        let (mut log, _) = open(dir.path()).await;
        log.get_log_state().await.unwrap().last_purged_log_id
    };
    assert!(purged.is_some(), "the log was purged");

    let (raft, sm) = start(dir.path(), false).await;
    let want = pairs(&[("a", "3"), ("b", "5"), ("c", "4")]);
    // Restored before the node serves: snapshot, then the committed entries after it.
    assert_eq!(contents(&sm).await, want);
    assert_eq!(set(&raft, "d", "6").await, Some(None));
    assert_eq!(
        contents(&sm).await,
        pairs(&[("a", "3"), ("b", "5"), ("c", "4"), ("d", "6")])
    );
    raft.shutdown().await.unwrap();
}
