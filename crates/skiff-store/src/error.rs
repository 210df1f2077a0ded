//! Errors of opening and reading the store outside openraft's own calls.

use std::path::PathBuf;

/// Why the store could not be opened or its contents could not be read.
///
/// Inside openraft's trait methods failures are reported as `openraft::StorageError`, which
/// stops the Raft node; this type is for [`crate::Store::open`] and the store's own accessors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sled database could not be opened (missing permissions, held by another process, …).
    #[error("cannot open the Raft store at {path}: {source}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// A sled tree could not be opened or read.
    #[error("cannot read sled tree {tree}: {source}")]
    Sled {
        /// The tree's name.
        tree: &'static str,
        /// sled's error.
        source: sled::Error,
    },
    /// A stored value does not decode: the data directory is damaged or from another version.
    #[error("cannot decode {what} in the Raft store: {source}")]
    Decode {
        /// What was being decoded ("snapshot meta", "vote", …).
        what: &'static str,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A snapshot's state does not restore: the data directory is damaged.
    #[error("the snapshot in the Raft store does not restore: {reason}")]
    SnapshotData {
        /// What the state machine said is wrong with it.
        reason: String,
    },
    /// A snapshot was written in a format this version does not read.
    #[error("snapshot format version {found} is not supported (this build reads {supported})")]
    SnapshotFormat {
        /// The version found in the snapshot.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
}
