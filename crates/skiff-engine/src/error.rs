//! The engine's error type, gathering each module's errors.

use std::path::PathBuf;

use crate::content::ContentError;
use crate::image::commit::CommitError;
use crate::image::gc::GcError;
use crate::image::import::ImportError;
use crate::image::layers::LayerError;
use crate::image::registry::RegistryError;
use crate::image::{IndexError, InvalidReference};

/// Anything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The content store.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The image index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The layer store.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Committing an image.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Importing an image.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// Removing images, collecting garbage.
    #[error(transparent)]
    Gc(#[from] GcError),
    /// Talking to a registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An image reference.
    #[error(transparent)]
    Reference(#[from] InvalidReference),
    /// A container operation.
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    /// No image by that name or id.
    #[error("no image {wanted:?} in the store (pull it or load it first: skiff image ls lists what is here)")]
    NoSuchImage {
        /// What was asked for.
        wanted: String,
    },
}

/// Short for `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
