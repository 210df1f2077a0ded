//! Snapshots: the whole state as bytes, for Raft to ship to lagging or new members.
//!
//! Format: one version byte ([`SNAPSHOT_FORMAT`]) followed by a JSON document
//! `{"revision": N, "records": [...]}` with the records in key order. The watch history is not
//! part of a snapshot: a state restored from one answers watches from its revision on, and
//! tells older watchers to re-list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::watch::History;
use super::{Record, State, DEFAULT_HISTORY_LIMIT};

/// The version byte of the snapshots this build writes and reads.
pub const SNAPSHOT_FORMAT: u8 = 1;

/// Why bytes are not a snapshot this build can restore.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// There are no bytes at all.
    #[error("the snapshot is empty")]
    Empty,
    /// The version byte is not one this build reads.
    #[error(
        "snapshot format {found} is not supported (this build reads format {SNAPSHOT_FORMAT})"
    )]
    UnsupportedFormat {
        /// The version byte found.
        found: u8,
    },
    /// The body is not valid JSON of the expected shape.
    #[error("the snapshot is corrupt: {source}")]
    Decode {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The same key appears twice.
    #[error("the snapshot is corrupt: key {key} appears twice")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A record's revisions are impossible at the snapshot's revision.
    #[error(
        "the snapshot is corrupt: {key} has revisions {create_revision}/{mod_revision}, \
         beyond the snapshot's revision {revision} or out of order"
    )]
    BadRevision {
        /// The record's key.
        key: String,
        /// Its create revision.
        create_revision: u64,
        /// Its mod revision.
        mod_revision: u64,
        /// The snapshot's revision.
        revision: u64,
    },
    /// A record's object belongs under another key.
    #[error("the snapshot is corrupt: the object stored at {key} belongs at {object_key}")]
    KeyMismatch {
        /// The record's key.
        key: String,
        /// The key the object's fields give.
        object_key: String,
    },
}

#[derive(Serialize)]
struct BodyRef<'a> {
    revision: u64,
    records: Vec<&'a Record>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    revision: u64,
    records: Vec<Record>,
}

impl State {
    /// The state as snapshot bytes (without the watch history).
    pub fn to_snapshot(&self) -> Vec<u8> {
        let body = BodyRef {
            revision: self.applied,
            records: self.records.values().collect(),
        };
        let mut bytes = vec![SNAPSHOT_FORMAT];
        serde_json::to_writer(&mut bytes, &body).expect("objects always serialize to JSON");
        bytes
    }

    /// Restores a state from [`State::to_snapshot`] bytes, checking them on the way. The watch
    /// history starts empty at the snapshot's revision and keeps [`DEFAULT_HISTORY_LIMIT`]
    /// events (see [`State::with_history_limit`]).
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let (&format, body) = bytes.split_first().ok_or(SnapshotError::Empty)?;
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::UnsupportedFormat { found: format });
        }
        let body: Body =
            serde_json::from_slice(body).map_err(|source| SnapshotError::Decode { source })?;
        let revision = body.revision;
        let mut records = BTreeMap::new();
        for record in body.records {
            check_record(&record, revision)?;
            let text = record.key.to_string();
            if let Some(dup) = records.insert(text, record) {
                return Err(SnapshotError::DuplicateKey {
                    key: dup.key.to_string(),
                });
            }
        }
        Ok(Self {
            records,
            applied: revision,
            history: History::new(DEFAULT_HISTORY_LIMIT, revision),
        })
    }
}

fn check_record(record: &Record, revision: u64) -> Result<(), SnapshotError> {
    let Record {
        key,
        create_revision,
        mod_revision,
        ..
    } = record;
    if *create_revision == 0 || create_revision > mod_revision || *mod_revision > revision {
        return Err(SnapshotError::BadRevision {
            key: key.to_string(),
            create_revision: *create_revision,
            mod_revision: *mod_revision,
            revision,
        });
    }
    let object_key = record.object.key();
    if object_key != *key {
        return Err(SnapshotError::KeyMismatch {
            key: key.to_string(),
            object_key: object_key.to_string(),
        });
    }
    Ok(())
}
