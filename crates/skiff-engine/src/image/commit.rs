//! The last step of every import and pull: a manifest whose blobs are all in the content store
//! becomes an image — its config is checked, its layers unpacked (once), and the image recorded
//! in the index under its names.

use oci_spec::image::{ImageConfiguration, ImageManifest};

use super::layers::{LayerError, LayerStore};
use super::media::{self, UnsupportedMediaType};
use super::{Image, ImageIndex, IndexError, Layer, Reference};
use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;

/// Largest manifest or config accepted (Docker's registry limits manifests to 4 MiB).
pub const MAX_JSON_BLOB: u64 = 4 << 20;

/// What can go wrong when committing an image.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// A blob is missing or corrupt.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A manifest or config does not parse.
    #[error("{what} {digest} is not valid JSON of its kind: {reason}")]
    BadJson {
        /// "manifest" or "image config".
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// The parser's message.
        reason: String,
    },
    /// The manifest lists a layer Skiff cannot unpack.
    #[error(transparent)]
    MediaType(#[from] UnsupportedMediaType),
    /// The manifest and the config disagree.
    #[error("image {manifest}: {reason}")]
    Inconsistent {
        /// The manifest.
        manifest: Digest,
        /// What disagrees.
        reason: String,
    },
    /// The image is for another platform.
    #[error(
        "image {manifest} is for {os}/{arch}; this node runs {}/{}",
        super::platform::OS,
        super::platform::ARCH
    )]
    Platform {
        /// The manifest.
        manifest: Digest,
        /// The image's OS.
        os: String,
        /// The image's architecture.
        arch: String,
    },
    /// Unpacking a layer failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Recording the image failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Parses a stored manifest.
pub fn read_manifest(
    content: &ContentStore,
    digest: &Digest,
) -> Result<ImageManifest, CommitError> {
    let bytes = content.read(digest, MAX_JSON_BLOB)?;
    serde_json::from_slice(&bytes).map_err(|e| CommitError::BadJson {
        what: "manifest",
        digest: digest.clone(),
        reason: e.to_string(),
    })
}

/// Parses a stored image config.
pub fn read_config(
    content: &ContentStore,
    digest: &Digest,
) -> Result<ImageConfiguration, CommitError> {
    let bytes = content.read(digest, MAX_JSON_BLOB)?;
    serde_json::from_slice(&bytes).map_err(|e| CommitError::BadJson {
        what: "image config",
        digest: digest.clone(),
        reason: e.to_string(),
    })
}

/// The config digest and layers of a manifest, checked against its config: same number of
/// layers and diff ids, supported media types, linux/amd64.
pub fn plan(
    content: &ContentStore,
    manifest_digest: &Digest,
) -> Result<(Digest, Vec<Layer>), CommitError> {
    let manifest = read_manifest(content, manifest_digest)?;
    let inconsistent = |reason: String| CommitError::Inconsistent {
        manifest: manifest_digest.clone(),
        reason,
    };
    let config_digest: Digest = manifest
        .config()
        .digest()
        .to_string()
        .parse()
        .map_err(|e: crate::digest::InvalidDigest| inconsistent(format!("config: {e}")))?;
    let config = read_config(content, &config_digest)?;
    let os = config.os().to_string();
    let arch = config.architecture().to_string();
    if os != super::platform::OS || arch != super::platform::ARCH {
        return Err(CommitError::Platform {
            manifest: manifest_digest.clone(),
            os,
            arch,
        });
    }
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(inconsistent(format!(
            "the manifest lists {} layers but the config has {} diff ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (i, (desc, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
        let media_type = desc.media_type().to_string();
        media::layer_compression(&media_type)?;
        let blob: Digest = desc
            .digest()
            .to_string()
            .parse()
            .map_err(|e| inconsistent(format!("layers[{i}]: {e}")))?;
        let diff_id: Digest = diff_id
            .parse()
            .map_err(|e| inconsistent(format!("rootfs.diff_ids[{i}]: {e}")))?;
        let size = desc.size();
        layers.push(Layer {
            diff_id,
            blob,
            media_type,
            size,
        });
    }
    Ok((config_digest, layers))
}

/// Unpacks the layers of the stored manifest (those not present yet) and records the image
/// under `names`.
pub fn commit(
    content: &ContentStore,
    layer_store: &LayerStore,
    index: &ImageIndex,
    manifest_digest: &Digest,
    names: Vec<Reference>,
    now: String,
) -> Result<Image, CommitError> {
    let (config_digest, layers) = plan(content, manifest_digest)?;
    for layer in &layers {
        unpack_layer(content, layer_store, layer)?;
    }
    Ok(index.add(Image {
        id: config_digest,
        manifest: manifest_digest.clone(),
        names,
        layers,
        stored_at: now,
    })?)
}

/// Unpacks one layer from its stored blob unless present.
pub fn unpack_layer(
    content: &ContentStore,
    layer_store: &LayerStore,
    layer: &Layer,
) -> Result<bool, LayerError> {
    let compression = media::layer_compression(&layer.media_type).map_err(|e| LayerError::Io {
        path: content.path(&layer.blob),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    layer_store.ensure(&layer.diff_id, &mut || {
        let reader = content
            .open_blob(&layer.blob)
            .map_err(|source| LayerError::Blob {
                diff_id: layer.diff_id.clone(),
                source,
            })?;
        Ok((Box::new(reader) as Box<dyn std::io::Read>, compression))
    })
}
