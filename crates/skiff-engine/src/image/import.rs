//! Importing images from OCI image layouts, OCI archives and `docker save` archives, and the
//! `images/` drop folder. (Being written; see issue 4.)

use std::path::PathBuf;

/// What can go wrong while importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
