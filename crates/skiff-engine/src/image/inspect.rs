//! Looking images up for display: the list, one image by name or id, and what its config
//! says (`skiff image ls`, `skiff image inspect`).

use oci_spec::image::Config;
use serde::Serialize;

use super::commit::read_config;
use super::{Image, Layer, Reference};
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::Error;

/// An image with the parts of its config people look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageDetails {
    /// The image id (its config's digest).
    pub id: Digest,
    /// Its names.
    pub names: Vec<Reference>,
    /// The manifest it was stored from.
    pub manifest: Digest,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// Total size of the layer blobs.
    pub size: u64,
    /// When it entered this store.
    pub stored_at: String,
    /// When it was built, as its config says.
    pub created: Option<String>,
    /// Its operating system.
    pub os: String,
    /// Its architecture.
    pub architecture: String,
    /// The process defaults: `Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User`, …
    pub config: Option<Config>,
}

impl Engine {
    /// Every image in the store.
    pub fn images(&self) -> Result<Vec<Image>, Error> {
        Ok(self.images.list()?)
    }

    /// The image a name, an id (or a prefix of at least 4 hex digits of one) or a
    /// `name@digest` refers to.
    pub fn image(&self, wanted: &str) -> Result<Image, Error> {
        self.images.find(wanted)?.ok_or_else(|| Error::NoSuchImage {
            wanted: wanted.to_string(),
        })
    }

    /// An image with what its (verified) config says.
    pub fn image_details(&self, image: &Image) -> Result<ImageDetails, Error> {
        let config = read_config(&self.content, &image.id)?;
        Ok(ImageDetails {
            id: image.id.clone(),
            names: image.names.clone(),
            manifest: image.manifest.clone(),
            layers: image.layers.clone(),
            size: image.size(),
            stored_at: image.stored_at.clone(),
            created: config.created().clone(),
            os: config.os().to_string(),
            architecture: config.architecture().to_string(),
            config: config.config().clone(),
        })
    }
}
