//! The state machine: objects by key with their revisions, the commands that change them, and
//! the watch history of those changes.
//!
//! The Raft store calls [`State::apply`] for every committed entry, with the entry's log index
//! as the revision, and serves reads and watches from the same value.

mod apply;
mod command;
mod rules;
mod snapshot;
mod watch;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::objects::{Key, Object};

pub use command::{
    Command, Expect, Found, Op, OpResult, Proposal, Rejection, Response, TaskIdentity,
};
pub use snapshot::{SnapshotError, SNAPSHOT_FORMAT};
pub use watch::{Compacted, Event, EventKind, DEFAULT_HISTORY_LIMIT};

use watch::History;

/// One stored object with its revisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Its key.
    pub key: Key,
    /// The object.
    pub object: Object,
    /// The revision that created it (kept across updates; a delete and re-create starts anew).
    pub create_revision: u64,
    /// The revision of its last change: what [`Expect::Revision`] compares against.
    pub mod_revision: u64,
}

/// The whole cluster state, as every replica's state machine holds it.
#[derive(Debug, Clone)]
pub struct State {
    /// Records by key text, so that iteration is in key order and deterministic.
    records: BTreeMap<String, Record>,
    /// The last applied log index.
    applied: u64,
    history: History,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// An empty state at revision 0, keeping [`DEFAULT_HISTORY_LIMIT`] events.
    pub fn new() -> Self {
        Self {
            records: BTreeMap::new(),
            applied: 0,
            history: History::new(DEFAULT_HISTORY_LIMIT, 0),
        }
    }

    /// Keeps at most `limit` events in the watch history (dropping the oldest now if needed).
    pub fn with_history_limit(mut self, limit: usize) -> Self {
        self.history.set_limit(limit);
        self
    }

    /// The last applied revision (log index), including entries that were refused: a re-list
    /// at this revision, then a watch from it, misses nothing.
    pub fn revision(&self) -> u64 {
        self.applied
    }

    /// The object at `key`, with its revisions.
    pub fn get(&self, key: &Key) -> Option<&Record> {
        self.records.get(&key.to_string())
    }

    /// Every record whose key text starts with `prefix`, in key order. Prefixes should end at a
    /// segment boundary (`/apps/dev/`, see [`crate::Kind::prefix`]): `/apps/dev` also matches
    /// `/apps/dev2/…`.
    pub fn list(&self, prefix: &str) -> Vec<&Record> {
        self.records
            .range(prefix.to_owned()..)
            .take_while(|(text, _)| text.starts_with(prefix))
            .map(|(_, record)| record)
            .collect()
    }

    /// How many objects the state holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the state holds no objects.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every change after `revision`, in order; or [`Compacted`] when the history no longer
    /// reaches back that far, and the watcher must re-list.
    pub fn events_since(&self, revision: u64) -> Result<Vec<Event>, Compacted> {
        self.history.since(revision)
    }

    /// Like [`State::events_since`], without copying the events: for a reader that only looks
    /// at them while it holds the state.
    pub fn events_after(
        &self,
        revision: u64,
    ) -> Result<impl Iterator<Item = &Event> + '_, Compacted> {
        self.history.after(revision)
    }

    /// The smallest revision [`State::events_since`] answers for.
    pub fn oldest_watchable(&self) -> u64 {
        self.history.oldest()
    }

    /// How many events the watch history holds now.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }
}

#[cfg(test)]
mod tests;
