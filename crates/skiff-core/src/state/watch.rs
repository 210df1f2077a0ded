//! The watch history: the most recent changes, in order, for watchers to catch up from.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::objects::{Key, Object};

/// How many events the history keeps unless told otherwise.
pub const DEFAULT_HISTORY_LIMIT: usize = 10_000;

/// One applied change of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The revision of the change; a transaction's events share one.
    pub revision: u64,
    /// The key that changed.
    pub key: Key,
    /// Whether it was written or removed.
    pub kind: EventKind,
    /// For a put, the object after the change; for a delete, the object removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Object>,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Created or replaced.
    Put,
    /// Removed.
    Delete,
}

/// The history no longer holds every change after the revision asked for: re-list the state,
/// then watch from the listing's revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("changes up to revision {oldest} are no longer kept; re-list, then watch from the listing's revision (at least {oldest})")]
pub struct Compacted {
    /// The smallest revision a watch can start from now.
    pub oldest: u64,
}

/// A bounded, ordered log of events.
#[derive(Debug, Clone)]
pub(crate) struct History {
    events: VecDeque<Event>,
    limit: usize,
    /// Events at or below this revision may have been dropped.
    compacted: u64,
}

impl History {
    /// An empty history keeping `limit` events, complete after `compacted`.
    pub(crate) fn new(limit: usize, compacted: u64) -> Self {
        Self {
            events: VecDeque::new(),
            limit,
            compacted,
        }
    }

    /// Appends an event, dropping the oldest ones beyond the limit.
    pub(crate) fn push(&mut self, event: Event) {
        self.events.push_back(event);
        self.trim();
    }

    /// Changes the limit, dropping events if it shrank.
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        self.trim();
    }

    fn trim(&mut self) {
        while self.events.len() > self.limit {
            if let Some(dropped) = self.events.pop_front() {
                self.compacted = self.compacted.max(dropped.revision);
            }
        }
    }

    /// Every event after `revision`, in order, or [`Compacted`] if some may be missing.
    pub(crate) fn since(&self, revision: u64) -> Result<Vec<Event>, Compacted> {
        Ok(self.after(revision)?.cloned().collect())
    }

    /// Every event after `revision`, in order, borrowed, or [`Compacted`] if some may be
    /// missing.
    pub(crate) fn after(
        &self,
        revision: u64,
    ) -> Result<impl Iterator<Item = &Event> + '_, Compacted> {
        if revision < self.compacted {
            return Err(Compacted {
                oldest: self.compacted,
            });
        }
        let start = self.events.partition_point(|e| e.revision <= revision);
        Ok(self.events.range(start..))
    }

    /// The smallest revision a watch can start from.
    pub(crate) fn oldest(&self) -> u64 {
        self.compacted
    }

    /// How many events are kept.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}
