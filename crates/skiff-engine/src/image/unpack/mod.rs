//! Layer unpacking: a layer tar (plain, gzip or zstd) into a directory, as a security
//! boundary.
//!
//! * Nothing lands outside the layer directory: names with `..` or a leading `/` are refused,
//!   every entry is created relative to a descriptor of its directory, opened under the root
//!   without following symlinks, and never through a symlink (the `tree` module tells how).
//!   Symlinks are created as they are, absolute targets included, and never followed here.
//! * Whiteouts become what overlayfs reads: `.wh.NAME` a 0:0 character device `NAME`,
//!   `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory; other `.wh..wh.*`
//!   entries (AUFS metadata) are skipped. `trusted.overlay.*` xattrs from the archive are
//!   dropped: only whiteouts may steer overlayfs.
//! * Owners (numeric), modes with setuid/setgid/sticky, xattrs and mtimes are kept;
//!   directories get their mtimes last.
//! * A later entry for the same name replaces the earlier one, as tar does (a directory over
//!   a directory keeps the content).
//! * The uncompressed size and the number of entries are bounded ([`UnpackLimits`]), as is
//!   the size of one entry's extension headers; a truncated or corrupt stream is an error.
//!
//! The blob is read, decompressed and hashed on the calling thread; a worker thread parses
//! the tar stream and writes the files; chunks of the stream go between them through a
//! bounded channel. Nothing is fsynced here: the caller (the layer store) unpacks into a
//! temporary directory and makes it durable and visible only when the unpack has succeeded,
//! so a crash leaves only a temporary directory that nothing uses.

mod archive;
mod headers;
mod name;
mod stream;
mod sys;
mod tree;

#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;

use crate::digest::Digest;
use crate::image::media::Compression;

pub use name::NameProblem;

/// Bounds on what one layer may unpack to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Most bytes of uncompressed tar stream accepted (a decompression bomb stops here).
    pub max_uncompressed: u64,
    /// Most entries accepted.
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_uncompressed: 64 << 30,
            max_entries: 5_000_000,
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Bytes of uncompressed tar stream.
    pub tar_bytes: u64,
    /// Entries unpacked.
    pub entries: u64,
}

/// What can go wrong while unpacking.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// A file operation on the layer directory itself failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading or decompressing the blob failed (a corrupt or truncated blob, or its file).
    #[error(
        "reading the layer blob ({compression:?}) after {offset} uncompressed bytes: {source}"
    )]
    Read {
        /// The blob's compression.
        compression: Compression,
        /// Uncompressed bytes read before the failure.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// The uncompressed stream is larger than allowed.
    #[error("the layer unpacks to more than {limit} bytes (a decompression bomb? the limit is `skiff --max-layer-size`, EngineOptions::unpack)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The archive has more entries than allowed.
    #[error(
        "the layer has more than {limit} entries (the limit is the engine's unpack.max_entries)"
    )]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// The tar parser refused the stream.
    #[error("malformed tar stream near byte {offset}: {source}")]
    Malformed {
        /// Stream position.
        offset: u64,
        /// What the parser said.
        source: io::Error,
    },
    /// A header field cannot be read.
    #[error("malformed tar header at byte {offset}: {reason}")]
    BadHeader {
        /// Stream position of the header.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// One entry's extension headers (long names, PAX records) are too large.
    #[error("the extension headers at byte {offset} are larger than {limit} bytes")]
    HeadersTooLarge {
        /// Stream position.
        offset: u64,
        /// The limit.
        limit: u64,
    },
    /// The stream ends without the end-of-archive marker.
    #[error("the tar stream ends at byte {offset} without an end-of-archive marker (truncated)")]
    Truncated {
        /// Where it ends.
        offset: u64,
    },
    /// The stream ends inside an entry's data.
    #[error("{entry}: the stream ends after {got} of its {expected} bytes (truncated)")]
    TruncatedEntry {
        /// The entry.
        entry: String,
        /// Its size.
        expected: u64,
        /// Bytes there were.
        got: u64,
    },
    /// An entry's type is not one a layer can hold.
    #[error("{entry}: unsupported tar entry type {kind:?}")]
    UnsupportedType {
        /// The entry.
        entry: String,
        /// The type flag.
        kind: char,
    },
    /// A sparse file in the PAX format, which is not supported.
    #[error("{entry}: PAX sparse files are not supported")]
    UnsupportedSparse {
        /// The entry.
        entry: String,
    },
    /// An entry's name would lead outside the layer.
    #[error("{entry}: refusing an entry whose name {problem}")]
    UnsafeName {
        /// The name as the archive gives it.
        entry: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A hard link's target would lead outside the layer.
    #[error("{entry}: refusing a hard link to {target:?}, a name that {problem}")]
    UnsafeLinkTarget {
        /// The link.
        entry: String,
        /// Its target as the archive gives it.
        target: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// An entry would be written through a symlink of the layer.
    #[error("{entry}: refusing to write through {through}, a symlink in the layer")]
    ThroughSymlink {
        /// The entry.
        entry: String,
        /// The directory on its way that is a symlink.
        through: String,
    },
    /// A hard link's target is reached through a symlink of the layer.
    #[error("{entry}: refusing a hard link to {target}, reached through {through}, a symlink in the layer")]
    LinkThroughSymlink {
        /// The link.
        entry: String,
        /// Its target.
        target: String,
        /// The directory on the target's way that is a symlink.
        through: String,
    },
    /// A whiteout naming nothing (`.wh.`) or escaping its directory (`.wh..`).
    #[error("{entry}: a whiteout must name a file in its directory")]
    BadWhiteout {
        /// The entry.
        entry: String,
    },
    /// Creating an entry or setting its metadata failed.
    #[error("{entry}: {op}: {source}")]
    Entry {
        /// The entry.
        entry: String,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Setting an extended attribute failed.
    #[error("{entry}: setting xattr {name}: {source}")]
    Xattr {
        /// The entry.
        entry: String,
        /// The attribute.
        name: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// Unpacks the layer read from `source` into the (empty, existing) directory `dest`.
///
/// On error, `dest` holds part of the layer; the caller deletes it.
pub fn unpack(
    source: &mut dyn Read,
    compression: Compression,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<UnpackStats, UnpackError> {
    let root = tree::open_root(dest)?;
    let (chunk_tx, chunk_rx) = mpsc::sync_channel(stream::DEPTH);
    let (free_tx, free_rx) = mpsc::channel();
    let max_entries = limits.max_entries;
    thread::scope(|scope| {
        let worker = thread::Builder::new()
            .name("skiff-unpack".into())
            .spawn_scoped(scope, move || {
                let state = Rc::new(stream::ReadState::default());
                let reader = stream::ChunkReader::new(chunk_rx, free_tx, state.clone());
                archive::unpack_entries(reader, state, tree::Tree::new(root), max_entries)
            })
            .map_err(|source| UnpackError::Io {
                path: dest.to_path_buf(),
                source,
            })?;
        let produced = stream::produce(
            source,
            compression,
            limits.max_uncompressed,
            chunk_tx,
            free_rx,
        );
        let written = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A stream error explains whatever the worker then saw (an early end, say).
        match (produced?, written?) {
            (Some((diff_id, tar_bytes)), entries) => Ok(UnpackStats {
                diff_id,
                tar_bytes,
                entries,
            }),
            (None, _) => unreachable!("the worker reads the stream to its end before it succeeds"),
        }
    })
}
