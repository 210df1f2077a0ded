//! A one-member openraft cluster on the sled store keeps its state across a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use skiff_store::testing::{KvCommand, KvStateMachine};
use skiff_store::{LogStore, NodeId, StateMachineStore, Store, TypeConfig};

type Kv = KvStateMachine;
type C = TypeConfig<Kv>;

/// The network of a cluster whose only member is this node: no peer is ever reachable.
struct NoPeers;

fn unreachable<E: std::error::Error>() -> RPCError<NodeId, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(
        "a one-node cluster",
    )))
}

impl RaftNetworkFactory<C> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: NodeId, _node: &BasicNode) -> NoPeers {
        NoPeers
    }
}

impl RaftNetwork<C> for NoPeers {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<C>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<C>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(unreachable())
    }
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

/// Opens the store, waiting for a previous `Raft` in this process to let go of it: openraft's
/// state machine worker drops its handle (and with it sled's directory lock) shortly after
/// `Raft::shutdown` returns.
async fn open(path: &Path) -> (LogStore<Kv>, StateMachineStore<Kv>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open::<Kv>(path) {
            Ok(stores) => return stores,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("store still held, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

async fn start(path: &Path) -> (Raft<C>, StateMachineStore<Kv>) {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        // Snapshots only when asked, and purge every entry a snapshot covers, so a restart
        // has to combine the snapshot with the log.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    let (log, sm) = open(path).await;
    let raft = Raft::new(
        1,
        Arc::new(config.validate().unwrap()),
        NoPeers,
        log,
        sm.clone(),
    )
    .await
    .unwrap();
    (raft, sm)
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
        let (raft, _sm) = start(dir.path()).await;
        raft.initialize(BTreeMap::from([(1, BasicNode::default())]))
            .await
            .unwrap();
        raft.wait(TIMEOUT)
            .current_leader(1, "leader")
            .await
            .unwrap();

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

    let (raft, sm) = start(dir.path()).await;
    let want = pairs(&[("a", "3"), ("b", "5"), ("c", "4")]);
    // Restored before the node serves: snapshot, then the committed entries after it.
    assert_eq!(contents(&sm).await, want);

    raft.wait(TIMEOUT)
        .current_leader(1, "leader again")
        .await
        .unwrap();
    assert_eq!(set(&raft, "d", "6").await, Some(None));
    assert_eq!(
        contents(&sm).await,
        pairs(&[("a", "3"), ("b", "5"), ("c", "4"), ("d", "6")])
    );
    raft.shutdown().await.unwrap();
}
