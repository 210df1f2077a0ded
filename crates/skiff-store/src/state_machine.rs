//! The state machine store: the application state in memory, its last snapshot in sled.
//!
//! Why in memory: the state machine is any serde type (`skiff-core`'s cluster state), not a set
//! of sled keys, and `apply` must stay a pure function over it. Durability comes from the log:
//! the snapshot is flushed before openraft may purge the entries it covers, and the committed
//! log id is flushed, so on restart openraft rebuilds the state from the snapshot plus the
//! committed entries after it (`get_initial_state` re-applies them).
//!
//! Tree `raft_snapshot`: `meta` (JSON `SnapshotMeta`) and `data` (the snapshot bytes), written
//! together in one batch.

// openraft's traits dictate `StorageError` (over 200 bytes) as the error of every method here.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError, StorageIOError,
    StoredMembership,
};
use tokio::sync::{Mutex, RwLock};

use crate::{NodeId, StateMachine, StoreError, TypeConfig};

/// The version of the snapshot data format (JSON `{format_version, state}`) this build writes
/// and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

const SNAPSHOT_TREE: &str = "raft_snapshot";
const META: &[u8] = b"meta";
const DATA: &[u8] = b"data";

type Result<T> = std::result::Result<T, StorageError<NodeId>>;
type Meta = SnapshotMeta<NodeId, BasicNode>;
type Membership = StoredMembership<NodeId, BasicNode>;

/// The bytes of a snapshot: [`SNAPSHOT_FORMAT_VERSION`] as 4 little-endian bytes, then the
/// state machine's own [`StateMachine::snapshot`]. Which log id and membership it covers
/// travels beside it in openraft's `SnapshotMeta`.
fn encode_data<S: StateMachine>(state: &S) -> Vec<u8> {
    let mut out = SNAPSHOT_FORMAT_VERSION.to_le_bytes().to_vec();
    out.extend_from_slice(&state.snapshot());
    out
}

/// The applied state: what openraft calls the state machine.
#[derive(Default)]
struct Applied<S> {
    last_applied: Option<LogId<NodeId>>,
    last_membership: Membership,
    state: S,
}

/// openraft's `RaftStateMachine` (and snapshot builder) for a [`StateMachine`].
///
/// Cloning is cheap and shares the state: keep a clone to read the state while Raft runs.
pub struct StateMachineStore<S> {
    applied: Arc<RwLock<Applied<S>>>,
    db: sled::Db,
    snapshots: sled::Tree,
    /// Serialises snapshot writes: a build runs in its own task and may finish after a newer
    /// snapshot was installed.
    snapshot_write: Arc<Mutex<()>>,
}

impl<S> Clone for StateMachineStore<S> {
    fn clone(&self) -> Self {
        Self {
            applied: self.applied.clone(),
            db: self.db.clone(),
            snapshots: self.snapshots.clone(),
            snapshot_write: self.snapshot_write.clone(),
        }
    }
}

impl<S> fmt::Debug for StateMachineStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMachineStore").finish_non_exhaustive()
    }
}

fn decode_data<S: StateMachine>(bytes: &[u8]) -> std::result::Result<S, StoreError> {
    let Some((version, state)) = bytes.split_first_chunk::<4>() else {
        return Err(StoreError::SnapshotData {
            reason: format!("{} bytes is too short for a snapshot", bytes.len()),
        });
    };
    let found = u32::from_le_bytes(*version);
    if found != SNAPSHOT_FORMAT_VERSION {
        return Err(StoreError::SnapshotFormat {
            found,
            supported: SNAPSHOT_FORMAT_VERSION,
        });
    }
    S::restore(state).map_err(|reason| StoreError::SnapshotData { reason })
}

impl<S: StateMachine> StateMachineStore<S> {
    pub(crate) fn open(db: &sled::Db) -> std::result::Result<Self, StoreError> {
        let snapshots = db
            .open_tree(SNAPSHOT_TREE)
            .map_err(|source| StoreError::Sled {
                tree: SNAPSHOT_TREE,
                source,
            })?;
        let mut store = Self {
            applied: Arc::default(),
            db: db.clone(),
            snapshots,
            snapshot_write: Arc::default(),
        };
        if let Some((meta, data)) = store.read_snapshot()? {
            store.applied = Arc::new(RwLock::new(Applied {
                last_applied: meta.last_log_id,
                last_membership: meta.last_membership,
                state: decode_data(&data)?,
            }));
        }
        Ok(store)
    }

    /// Runs `f` on the current state (as of [`Self::last_applied`]).
    pub async fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.applied.read().await.state)
    }

    /// The log id of the last entry applied to the state.
    pub async fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.applied.read().await.last_applied
    }

    /// The persisted snapshot, if any: its meta and its bytes.
    fn read_snapshot(&self) -> std::result::Result<Option<(Meta, Vec<u8>)>, StoreError> {
        let sled_err = |source| StoreError::Sled {
            tree: SNAPSHOT_TREE,
            source,
        };
        let (Some(meta), Some(data)) = (
            self.snapshots.get(META).map_err(sled_err)?,
            self.snapshots.get(DATA).map_err(sled_err)?,
        ) else {
            return Ok(None);
        };
        let meta = serde_json::from_slice(&meta).map_err(|source| StoreError::Decode {
            what: "snapshot meta",
            source,
        })?;
        Ok(Some((meta, data.to_vec())))
    }

    /// Replaces the persisted snapshot with `meta` and `data`, durably, unless the persisted
    /// one covers more of the log (the log may already be purged up to it: going back would
    /// lose entries on the next restart).
    async fn save_snapshot(&self, meta: &Meta, data: &[u8]) -> Result<()> {
        let write_err = |e: &dyn std::error::Error| {
            StorageIOError::write_snapshot(Some(meta.signature()), openraft::AnyError::error(e))
        };
        let _guard = self.snapshot_write.lock().await;
        if let Some((current, _)) = self.read_snapshot().map_err(|e| write_err(&e))? {
            if current.last_log_id > meta.last_log_id {
                return Ok(());
            }
        }
        let meta_bytes = serde_json::to_vec(meta).map_err(|e| write_err(&e))?;
        let mut batch = sled::Batch::default();
        batch.insert(META, meta_bytes);
        batch.insert(DATA, data);
        self.snapshots
            .apply_batch(batch)
            .map_err(|e| write_err(&e))?;
        self.db.flush_async().await.map_err(|e| write_err(&e))?;
        Ok(())
    }
}

impl<S: StateMachine> RaftSnapshotBuilder<TypeConfig<S>> for StateMachineStore<S> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig<S>>> {
        let (meta, data) = {
            let applied = self.applied.read().await;
            let data = encode_data(&applied.state);
            let id = self
                .db
                .generate_id()
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
            let snapshot_id = match applied.last_applied {
                Some(log_id) => format!("{}-{}-{id}", log_id.leader_id, log_id.index),
                None => format!("none-{id}"),
            };
            let meta = Meta {
                last_log_id: applied.last_applied,
                last_membership: applied.last_membership.clone(),
                snapshot_id,
            };
            (meta, data)
        };
        // Flushed before returning: openraft purges the log up to this snapshot afterwards.
        self.save_snapshot(&meta, &data).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl<S: StateMachine> RaftStateMachine<TypeConfig<S>> for StateMachineStore<S> {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership)> {
        let applied = self.applied.read().await;
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Option<S::Response>>>
    where
        I: IntoIterator<Item = Entry<TypeConfig<S>>> + Send,
        I::IntoIter: Send,
    {
        let mut applied = self.applied.write().await;
        let mut responses = Vec::new();
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => None,
                EntryPayload::Normal(command) => {
                    Some(applied.state.apply(entry.log_id.index, &command))
                }
                EntryPayload::Membership(membership) => {
                    applied.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    None
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let data = snapshot.into_inner();
        let state: S = decode_data(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        // Persist first: once the new state is visible it must survive a restart.
        self.save_snapshot(meta, &data).await?;
        *self.applied.write().await = Applied {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            state,
        };
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig<S>>>> {
        let snapshot = self
            .read_snapshot()
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(snapshot.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::log_id;

    use super::*;
    use crate::testing::KvStateMachine;

    fn meta(index: u64) -> Meta {
        Meta {
            last_log_id: Some(log_id(1, 1, index)),
            last_membership: Membership::default(),
            snapshot_id: format!("s{index}"),
        }
    }

    #[tokio::test]
    async fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let sm = StateMachineStore::<KvStateMachine>::open(&db).unwrap();
        sm.save_snapshot(&meta(7), b"new").await.unwrap();
        sm.save_snapshot(&meta(5), b"old").await.unwrap();
        let (current, data) = sm.read_snapshot().unwrap().unwrap();
        assert_eq!((current, data.as_slice()), (meta(7), &b"new"[..]));
        sm.save_snapshot(&meta(9), b"newer").await.unwrap();
        assert_eq!(sm.read_snapshot().unwrap().unwrap().0, meta(9));
    }
}
