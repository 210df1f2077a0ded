//! Skiff's Raft storage: openraft's log, vote and state machine on sled.
//!
//! [`Store::open`] opens one sled database and returns the two halves openraft 0.9 asks for:
//! a [`LogStore`] (log entries, vote, committed and purged log ids) and a [`StateMachineStore`]
//! (an application [`StateMachine`] kept in memory, and its last snapshot persisted in sled).
//! Every write that openraft must see as durable — appended entries, the vote, the committed log
//! id, snapshots — is flushed to disk before it is acknowledged. On restart the state machine is
//! rebuilt from the last snapshot plus the committed log entries after it, so no acknowledged
//! write is lost. docs/control-plane.md ("Storage") gives the on-disk layout and the reasons.
//!
//! The store knows nothing about Skiff's cluster objects: it is generic over [`StateMachine`],
//! which `skiff-core`'s cluster state implements.
#![warn(missing_docs)]

pub mod cluster;
mod error;
mod log_store;
mod state_machine;
pub mod testing;
mod type_config;

use std::path::Path;

pub use error::StoreError;
pub use log_store::LogStore;
use serde::de::DeserializeOwned;
use serde::Serialize;
pub use state_machine::{StateMachineStore, SNAPSHOT_FORMAT_VERSION};
pub use type_config::TypeConfig;

/// The Raft node id used throughout Skiff.
pub type NodeId = u64;

/// The deterministic, replicated application state that Raft log entries are applied to.
///
/// Implemented by `skiff-core`'s cluster state. `apply` must be a pure function of the current
/// state, `index` and `command`: every replica applies the same entries in the same order and
/// must end in the same state, and a restarted server replays entries on top of a snapshot.
pub trait StateMachine: Default + Send + Sync + 'static {
    /// A client write: the payload of a normal Raft log entry (openraft's `AppData`).
    type Command: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// What applying a command returns to the writer (openraft's `AppDataResponse`).
    type Response: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;

    /// Applies `command`, the payload of the Raft log entry at `index`.
    fn apply(&mut self, index: u64, command: &Self::Command) -> Self::Response;

    /// The whole state as bytes, for a snapshot (the state machine owns its format and its
    /// versioning).
    fn snapshot(&self) -> Vec<u8>;

    /// The state a [`snapshot`](Self::snapshot) holds; an error says what is wrong with it.
    fn restore(bytes: &[u8]) -> Result<Self, String>;
}

/// Opens the Raft storage of one server.
#[derive(Debug)]
pub struct Store;

impl Store {
    /// Opens (creating if needed) the sled database at `path` and returns the log store and the
    /// state machine store over it. The state machine is restored from the last snapshot kept
    /// there; openraft re-applies the committed log entries after it when the node starts.
    pub fn open<S: StateMachine>(
        path: impl AsRef<Path>,
    ) -> Result<(LogStore<S>, StateMachineStore<S>), StoreError> {
        let path = path.as_ref();
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let log = LogStore::open(&db)?;
        let sm = StateMachineStore::open(&db)?;
        Ok((log, sm))
    }
}
