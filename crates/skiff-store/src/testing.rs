//! A toy key-value [`StateMachine`] for tests and examples of this crate and its users.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StateMachine;

/// A map of strings; each write records the log index it was applied at.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStateMachine {
    /// key → (value, index of the entry that wrote it)
    pub data: BTreeMap<String, (String, u64)>,
}

/// A write to [`KvStateMachine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
}

impl KvStateMachine {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(|(v, _)| v.as_str())
    }
}

impl StateMachine for KvStateMachine {
    type Command = KvCommand;
    /// The previous value.
    type Response = Option<String>;

    fn apply(&mut self, index: u64, command: &KvCommand) -> Option<String> {
        match command {
            KvCommand::Set { key, value } => self
                .data
                .insert(key.clone(), (value.clone(), index))
                .map(|(v, _)| v),
            KvCommand::Delete { key } => self.data.remove(key).map(|(v, _)| v),
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&self.data).expect("a map of strings serialises")
    }

    fn restore(bytes: &[u8]) -> Result<Self, String> {
        let data = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok(KvStateMachine { data })
    }
}

/// A one-member cluster for tests: the network (no peer is ever reachable) and a way to start
/// the member on a sled directory.
pub mod single {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    };
    use openraft::{BasicNode, Config, Raft};

    use crate::{LogStore, NodeId, StateMachine, StateMachineStore, Store, TypeConfig};

    /// The network of a cluster whose only member is this node.
    #[derive(Debug, Clone, Copy)]
    pub struct NoPeers;

    fn unreachable<E: std::error::Error>() -> RPCError<NodeId, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&std::io::Error::other(
            "a one-node cluster",
        )))
    }

    impl<S: StateMachine> RaftNetworkFactory<TypeConfig<S>> for NoPeers {
        type Network = NoPeers;

        async fn new_client(&mut self, _target: NodeId, _node: &BasicNode) -> NoPeers {
            NoPeers
        }
    }

    impl<S: StateMachine> RaftNetwork<TypeConfig<S>> for NoPeers {
        async fn append_entries(
            &mut self,
            _rpc: AppendEntriesRequest<TypeConfig<S>>,
            _option: RPCOption,
        ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>>
        {
            Err(unreachable())
        }

        async fn install_snapshot(
            &mut self,
            _rpc: InstallSnapshotRequest<TypeConfig<S>>,
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

    /// Opens the store, waiting for a previous `Raft` in this process to let go of it:
    /// openraft's state machine worker drops its handle (and with it sled's directory lock)
    /// shortly after `Raft::shutdown` returns.
    pub async fn open<S: StateMachine>(path: &Path) -> (LogStore<S>, StateMachineStore<S>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match Store::open::<S>(path) {
                Ok(stores) => return stores,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("store still held, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// A quick test configuration: short timeouts, snapshots only when asked, and every entry
    /// a snapshot covers purged, so that a restart has to combine the snapshot with the log.
    pub fn manual_snapshot_config() -> Config {
        Config {
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Config::default()
        }
    }

    /// Starts member 1 on `path` with `config`; initialises the cluster when `init`.
    pub async fn start<S: StateMachine>(
        path: &Path,
        config: Config,
        init: bool,
    ) -> (Raft<TypeConfig<S>>, StateMachineStore<S>) {
        let (log, sm) = open::<S>(path).await;
        let raft = Raft::new(
            1,
            Arc::new(config.validate().expect("a valid test config")),
            NoPeers,
            log,
            sm.clone(),
        )
        .await
        .expect("raft starts");
        if init {
            raft.initialize(BTreeMap::from([(1, BasicNode::default())]))
                .await
                .expect("initialise");
        }
        raft.wait(Some(Duration::from_secs(10)))
            .current_leader(1, "leader")
            .await
            .expect("the only member leads");
        (raft, sm)
    }
}
