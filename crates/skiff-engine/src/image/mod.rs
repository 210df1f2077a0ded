//! Images: the content store's manifests and configs, their unpacked layers, and the index of
//! image names. Images enter by [`import`] (archives and layouts) or [`pull`] (registries);
//! both end in [`commit`], which unpacks the layers and records the image. [`gc`] removes
//! them and what nothing refers to any more; [`inspect`] looks them up.

pub mod commit;
pub mod gc;
pub mod import;
pub mod index;
pub mod inspect;
pub mod layers;
pub mod media;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod unpack;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub use index::{ImageIndex, IndexError};
pub use reference::{InvalidReference, Reference};

/// One image in the store, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// The image id: the digest of its config blob (as Docker's image ids).
    pub id: Digest,
    /// The digest of the manifest it was stored from (what `name@digest` pins).
    pub manifest: Digest,
    /// Normalised names (`docker.io/library/busybox:latest`) pointing at this image.
    pub names: Vec<Reference>,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// When the image entered the store (RFC 3339).
    pub stored_at: String,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry); names the
    /// unpacked directory.
    pub diff_id: Digest,
    /// Digest of the blob as stored (compressed or not).
    pub blob: Digest,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size in bytes.
    pub size: u64,
}

impl Image {
    /// Total size of the layer blobs.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}
