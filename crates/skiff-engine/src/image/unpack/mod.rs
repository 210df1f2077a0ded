//! Layer unpacking: a layer tar (plain, gzip or zstd) into a directory, as a security
//! boundary. (Being written; see issue 4.)

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::image::media::Compression;

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
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Unpacks the layer read from `source` into the (empty, existing) directory `dest`.
pub fn unpack(
    source: &mut dyn Read,
    compression: Compression,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<UnpackStats, UnpackError> {
    let _ = (source, compression, limits);
    Err(UnpackError::Io {
        path: dest.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::Unsupported,
            "layer unpacking is not written yet",
        ),
    })
}
