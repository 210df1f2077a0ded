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
    Layer(Box<LayerError>),
    /// Committing an image.
    #[error(transparent)]
    Commit(Box<CommitError>),
    /// Importing an image.
    #[error(transparent)]
    Import(Box<ImportError>),
    /// Removing images, collecting garbage.
    #[error(transparent)]
    Gc(#[from] GcError),
    /// Talking to a registry.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// An image reference.
    #[error(transparent)]
    Reference(#[from] InvalidReference),
    /// A container operation.
    #[error(transparent)]
    Container(Box<crate::container::ContainerError>),
    /// Container networking.
    #[error(transparent)]
    Network(Box<crate::network::NetworkError>),
    /// No image by that name or id.
    #[error("no image {wanted:?} in the store (pull it or load it first: skiff image ls lists what is here)")]
    NoSuchImage {
        /// What was asked for.
        wanted: String,
    },
}

// The larger module errors are boxed so that `Result<T, Error>` stays small on the happy path.
macro_rules! boxed_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    Layer(LayerError),
    Commit(CommitError),
    Import(ImportError),
    Registry(RegistryError),
    Container(crate::container::ContainerError),
    Network(crate::network::NetworkError),
);

/// Short for `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
