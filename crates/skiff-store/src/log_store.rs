//! The Raft log and vote on sled.
//!
//! Tree `raft_log`: one entry per key, the key being the log index as 8 big-endian bytes so that
//! sled's byte order is index order; the value is the JSON of openraft's `Entry`.
//! Tree `raft_meta`: `vote`, `committed` and `last_purged` as JSON.

// openraft's traits dictate `StorageError` (over 200 bytes) as the error of every method here.
#![allow(clippy::result_large_err)]

use std::fmt::{self, Debug};
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::Transactional;

use crate::{NodeId, StateMachine, StoreError, TypeConfig};

const LOG_TREE: &str = "raft_log";
const META_TREE: &str = "raft_meta";
const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// openraft's `RaftLogStorage` (and its log reader) on sled.
///
/// Cloning is cheap and shares the same trees; openraft serialises the writes.
pub struct LogStore<S> {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    _state: PhantomData<fn() -> S>,
}

impl<S> Clone for LogStore<S> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            log: self.log.clone(),
            meta: self.meta.clone(),
            _state: PhantomData,
        }
    }
}

impl<S> Debug for LogStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore")
            .field("entries", &self.log.len())
            .finish_non_exhaustive()
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn encode<T: Serialize>(value: &T) -> std::result::Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

impl<S: StateMachine> LogStore<S> {
    pub(crate) fn open(db: &sled::Db) -> std::result::Result<Self, StoreError> {
        let open = |tree| {
            db.open_tree(tree)
                .map_err(|source| StoreError::Sled { tree, source })
        };
        Ok(Self {
            db: db.clone(),
            log: open(LOG_TREE)?,
            meta: open(META_TREE)?,
            _state: PhantomData,
        })
    }

    /// Flushes sled's buffers to disk; every acknowledged write goes through here.
    async fn flush(&self) -> std::result::Result<(), sled::Error> {
        self.db.flush_async().await.map(drop)
    }

    fn read_meta<T: DeserializeOwned>(&self, name: &[u8]) -> Result<Option<T>> {
        let bytes = self.meta.get(name).map_err(|e| StorageIOError::read(&e))?;
        bytes
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(|e| StorageIOError::read(&e).into())
    }

    fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig<S>>> {
        serde_json::from_slice(bytes).map_err(|e| StorageIOError::read_logs(&e).into())
    }

    fn last_log_id(&self) -> Result<Option<LogId<NodeId>>> {
        match self.log.last().map_err(|e| StorageIOError::read_logs(&e))? {
            Some((_, bytes)) => Ok(Some(Self::decode_entry(&bytes)?.log_id)),
            None => Ok(None),
        }
    }
}

/// Turns a range of indexes into the half-open `[start, end)` with `end = None` for unbounded.
fn index_range(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.checked_add(1),
        Bound::Excluded(&i) => Some(i),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl<S: StateMachine> RaftLogReader<TypeConfig<S>> for LogStore<S> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig<S>>>> {
        let (start, end) = index_range(&range);
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => self.log.range(key(start)..key(end)),
            None => self.log.range(key(start)..),
        };
        iter.map(|kv| {
            let (_, bytes) = kv.map_err(|e| StorageIOError::read_logs(&e))?;
            Self::decode_entry(&bytes)
        })
        .collect()
    }
}

impl<S: StateMachine> RaftLogStorage<TypeConfig<S>> for LogStore<S> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig<S>>> {
        let last_purged_log_id: Option<LogId<NodeId>> = self.read_meta(LAST_PURGED)?;
        // After a purge of everything the log is empty: the last log id is the purged one.
        let last_log_id = self.last_log_id()?.max(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        let bytes = encode(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        self.meta
            .insert(VOTE, bytes)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        self.read_meta(VOTE)
    }

    /// Saved and flushed so that a restarted server re-applies every committed entry before it
    /// serves, not only those in the last snapshot.
    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        let bytes = encode(&committed).map_err(|e| StorageIOError::write(&e))?;
        self.meta
            .insert(COMMITTED, bytes)
            .map_err(|e| StorageIOError::write(&e))?;
        self.flush().await.map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        Ok(self
            .read_meta::<Option<LogId<NodeId>>>(COMMITTED)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig<S>>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig<S>>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = encode(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.insert(&key(entry.log_id.index), bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        // openraft counts an entry as accepted (and, on a follower, acknowledges it to the
        // leader) once the callback fires: it must be on disk by then.
        match self.flush().await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(std::io::Error::other(e)));
                Err(err.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for kv in self.log.range(key(log_id.index)..) {
            let (k, _) = kv.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(k);
        }
        // One atomic batch: a crash cannot leave a hole.
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let purged = encode(&log_id).map_err(|e| StorageIOError::write_logs(&e))?;
        let mut batch = sled::Batch::default();
        for kv in self.log.range(..=key(log_id.index)) {
            let (k, _) = kv.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(k);
        }
        // The purged id and the removal land together, so the log state stays consistent.
        (&self.log, &self.meta)
            .transaction(|(log, meta)| {
                meta.insert(LAST_PURGED, purged.as_slice())?;
                log.apply_batch(&batch)?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError| StorageIOError::write_logs(&e))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
