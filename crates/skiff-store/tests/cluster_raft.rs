//! skiff-core's cluster state behind Raft on sled: writes are applied with their log index as
//! revision, compare-and-swap conflicts come back to the writer, and the state survives a
//! restart through a snapshot plus the log.

use std::time::Duration;

use openraft::Raft;
use skiff_core::objects::Environment;
use skiff_core::{Command, Expect, Key, Name, Object, Proposal, Response, State};
use skiff_store::cluster::ClusterConfig;
use skiff_store::testing::single;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

fn config() -> openraft::Config {
    single::manual_snapshot_config()
}

fn env(name: &str) -> Object {
    Object::Environment(Environment {
        name: Name::new(name).unwrap(),
        quota: Default::default(),
        node_selector: Default::default(),
    })
}

async fn write(raft: &Raft<ClusterConfig>, command: Command) -> Response {
    let mut answers = raft
        .client_write(Proposal::one(command))
        .await
        .unwrap()
        .data
        .expect("a normal entry has a response");
    assert_eq!(answers.len(), 1, "one answer per command");
    answers.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_state_is_replicated_checked_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Key::parse("/envs/dev").unwrap();
    let first_revision;
    {
        let (raft, sm) = single::start::<State>(dir.path(), config(), true).await;
        let Response::Ok { revision, .. } =
            write(&raft, Command::put(env("dev"), Expect::Absent)).await
        else {
            panic!("the first put succeeds");
        };
        first_revision = revision;
        // The revision is the Raft log index of the entry. (openraft answers the writer before
        // it publishes the new applied index in its metrics, so wait for them to show it.)
        let metrics = raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(revision), "the write is applied")
            .await
            .unwrap();
        assert_eq!(Some(revision), metrics.last_applied.map(|l| l.index));
        // Compare-and-swap: a second create of the same key is a conflict, not an overwrite.
        let conflict = write(&raft, Command::put(env("dev"), Expect::Absent)).await;
        assert!(
            matches!(conflict, Response::Conflict { .. }),
            "{conflict:?}"
        );
        let update = write(&raft, Command::put(env("dev"), Expect::Revision(revision))).await;
        assert!(matches!(update, Response::Ok { .. }), "{update:?}");
        raft.trigger().snapshot().await.unwrap();
        raft.wait(TIMEOUT)
            .metrics(|m| m.snapshot.is_some() && m.purged.is_some(), "snapshot")
            .await
            .unwrap();
        // After the snapshot: only in the log.
        let prod = write(&raft, Command::put(env("prod"), Expect::Absent)).await;
        assert!(matches!(prod, Response::Ok { .. }), "{prod:?}");
        assert_eq!(sm.read(|s| s.list("/envs/").len()).await, 2);
        raft.shutdown().await.unwrap();
    }
    let (raft, sm) = single::start::<State>(dir.path(), config(), false).await;
    let (envs, dev_created) = sm
        .read(|s| {
            (
                s.list("/envs/").len(),
                s.get(&dev).map(|r| (r.create_revision, r.mod_revision)),
            )
        })
        .await;
    assert_eq!(envs, 2, "snapshot and log both restored");
    let (created, modified) = dev_created.unwrap();
    assert_eq!(created, first_revision);
    assert!(modified > created);
    raft.shutdown().await.unwrap();
}
