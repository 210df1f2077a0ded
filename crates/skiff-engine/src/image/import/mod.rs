//! Importing images from OCI image layouts, OCI archives and `docker save` archives
//! ([`Engine::load`]), and from the `<data>/images/` drop folder
//! ([`Engine::import_drop_folder`]).
//!
//! # What is accepted
//!
//! * an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`);
//! * an OCI archive: a tar of such a layout, plain, gzip- or zstd-compressed;
//! * a `docker save` archive (`manifest.json` listing `Config`, `RepoTags` and `Layers`), or
//!   the directory it extracts to. Docker 25 and later also write an OCI layout into the same
//!   archive: its `index.json` is preferred, and `manifest.json` only adds the images and
//!   `RepoTags` the index does not list.
//!
//! # Names
//!
//! * OCI: the `io.containerd.image.name` annotation (written by Docker, BuildKit, containerd)
//!   is the name. Otherwise `org.opencontainers.image.ref.name` is the name when it is a full
//!   reference (it contains `/`, `:` or `@`, as `skopeo … oci-archive:x.tar:busybox:1` and
//!   podman write it); a bare tag such as `latest` names no repository, so the image is
//!   stored unnamed, as `ctr import` does without `--base-name`.
//! * Docker: each `RepoTags` entry, normalised as Docker does (`busybox:1` is
//!   `docker.io/library/busybox:1`).
//! * An image without a name is stored unnamed (dangling): `skiff image ls` shows its id.
//!
//! # Verification and failures
//!
//! Archives are streamed, never extracted: every entry that may be a blob is written into the
//! content store as it is read (`blobs/sha256/<hex>` must hash to `<hex>`; the layers and
//! configs of `docker save` archives are stored under the digest they hash to), and the
//! metadata (`index.json`, `manifest.json`, `oci-layout`, at most [`MAX_METADATA`] bytes each)
//! is kept in memory, so `manifest.json` may come last. Then the images are checked: every
//! descriptor's blob present with its announced size, media types known, a linux/amd64 image
//! chosen from an index, a `docker save` config named by its digest and its plain layers
//! matching the config's diff ids. Entries with `..` or absolute names, devices and links
//! pointing outside the archive are refused; a symbolic or hard link inside it only names
//! another entry of the archive (older `docker save` archives link shared layers that way) and
//! is never followed on disk.
//!
//! An archive's images are recorded together at the end, in one change of the index, after
//! every layer is unpacked: a failure leaves `images.json` as it was. What a failed import
//! stored (complete, verified blobs; complete layers) is unreferenced and removed by the next
//! [`Engine::gc`].

mod archive;
mod docker;
mod drop_folder;
mod oci;
mod source;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use drop_folder::{DropFailure, DropImport, DropReport};

use super::commit::{self, CommitError};
use super::layers::LayerError;
use super::{index, Image, InvalidReference, Reference};
use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::engine::{now, Engine};
use crate::error::Error;
use source::Source;

/// Largest `index.json`, `manifest.json` or `oci-layout` accepted.
pub const MAX_METADATA: u64 = commit::MAX_JSON_BLOB;

/// What can go wrong while importing. Every variant names the archive (or layout directory)
/// and, where there is one, the entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The path is neither an archive nor a layout directory.
    #[error("{archive}: not an image archive or layout: it has neither index.json (OCI) nor manifest.json (docker save)")]
    NotAnImage {
        /// The file or directory.
        archive: PathBuf,
    },
    /// The archive lists no image.
    #[error("{archive}: the archive lists no image")]
    Empty {
        /// The archive.
        archive: PathBuf,
    },
    /// Reading the archive failed part-way.
    #[error("{archive}: reading {entry}: {source} (truncated or corrupt archive?)")]
    Read {
        /// The archive.
        archive: PathBuf,
        /// The entry being read, or where in the archive.
        entry: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An entry ends before the size its header announces.
    #[error("{archive}: the archive is truncated: entry {entry} ends early")]
    Truncated {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
    },
    /// The archive has more entries than an image archive plausibly has.
    #[error("{archive}: more than {limit} entries; refusing it")]
    TooManyEntries {
        /// The archive.
        archive: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// An entry whose name or type is refused (path traversal, absolute names, devices, links
    /// leading outside the archive).
    #[error("{archive}: entry {entry:?} refused: {reason}")]
    UnsafeEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as written in the archive.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// A name under `blobs/sha256/` that is not 64 lowercase hex digits.
    #[error("{archive}: entry {entry} is not named by a sha256 digest")]
    BadBlobName {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
    },
    /// A blob is corrupt, tampered with or too large.
    #[error("{archive}: entry {entry}: {source}")]
    Blob {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// Why.
        source: ContentError,
    },
    /// A metadata file is larger than [`MAX_METADATA`].
    #[error("{archive}: entry {entry} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// A JSON document does not parse, or lacks what it must have.
    #[error("{archive}: {entry} is malformed: {reason}")]
    Malformed {
        /// The archive.
        archive: PathBuf,
        /// The document (`manifest.json`, `index.json`, `blobs/sha256/…`).
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A blob a descriptor or `manifest.json` refers to is not in the archive.
    #[error("{archive}: {referrer} refers to {entry}, which is not in the archive")]
    Missing {
        /// The archive.
        archive: PathBuf,
        /// What refers to it.
        referrer: String,
        /// The missing entry.
        entry: String,
    },
    /// A blob's size differs from its descriptor's.
    #[error("{archive}: {referrer} says {entry} is {expected} bytes, but it is {actual}")]
    SizeMismatch {
        /// The archive.
        archive: PathBuf,
        /// The descriptor's place.
        referrer: String,
        /// The blob.
        entry: String,
        /// The descriptor's size.
        expected: u64,
        /// The blob's size.
        actual: u64,
    },
    /// A file is not the blob its name or the image config says it is.
    #[error("{archive}: {entry} is not {expected} as {referrer} says: it hashes to {actual} (tampered?)")]
    DigestMismatch {
        /// The archive.
        archive: PathBuf,
        /// What says what it should be.
        referrer: String,
        /// The entry.
        entry: String,
        /// The expected digest.
        expected: Digest,
        /// What it hashes to.
        actual: Digest,
    },
    /// Indexes nest deeper than an image archive plausibly has them.
    #[error("{archive}: {entry} is an index nested more than {limit} deep; refusing it")]
    TooDeep {
        /// The archive.
        archive: PathBuf,
        /// The descriptor's place.
        entry: String,
        /// Most indexes above an image manifest.
        limit: usize,
    },
    /// A metadata file (`index.json`, `manifest.json`, `oci-layout`) appears twice, so the
    /// archive means two things.
    #[error("{archive}: {entry} appears more than once in the archive; refusing it")]
    DuplicateEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
    },
    /// A media type Skiff does not know.
    #[error("{archive}: {entry} has media type {media_type:?}, which is not an image manifest, index, config or layer Skiff can use")]
    UnknownMediaType {
        /// The archive.
        archive: PathBuf,
        /// The descriptor's place.
        entry: String,
        /// The media type.
        media_type: String,
    },
    /// An index has no linux/amd64 image.
    #[error("{archive}: {entry} has no linux/amd64 image (it has: {platforms}); this node runs linux/amd64")]
    NoAmd64 {
        /// The archive.
        archive: PathBuf,
        /// The index's place.
        entry: String,
        /// The platforms it lists.
        platforms: String,
    },
    /// An image name in the archive is not a valid reference.
    #[error("{archive}: {entry}: {source}")]
    BadName {
        /// The archive.
        archive: PathBuf,
        /// Where the name is.
        entry: String,
        /// Why it is invalid.
        source: InvalidReference,
    },
    /// The image's manifest, config and layers do not form a usable image.
    #[error("{archive}: {entry}: {source}")]
    Commit {
        /// The archive.
        archive: PathBuf,
        /// The image's place in the archive.
        entry: String,
        /// Why.
        source: Box<CommitError>,
    },
    /// Unpacking a layer failed.
    #[error("{archive}: {entry}: {source}")]
    Unpack {
        /// The archive.
        archive: PathBuf,
        /// The image's place in the archive.
        entry: String,
        /// Why.
        source: Box<LayerError>,
    },
    /// The drop folder's record of imported files is unreadable.
    #[error("{path} is corrupt: {source} (delete it to import every archive in the folder again)")]
    DropRecord {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// One image found in an archive, its blobs in the content store, not yet committed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    /// Where the archive lists it (`index.json manifests[0]`, `manifest.json[1]`).
    entry: String,
    /// The image manifest (an OCI or Docker schema 2 manifest).
    manifest: Digest,
    /// Its config: the image id.
    config: Digest,
    /// The names the archive gives it.
    names: Vec<Reference>,
}

impl Engine {
    /// Loads the images of an OCI image layout directory, an OCI archive or a `docker save`
    /// archive (see the [module documentation](self)), and returns them with the names the
    /// archive gives them (the store may know more). Loading an image already present adds
    /// the names and changes nothing else. On failure the image index is unchanged.
    pub fn load(&self, path: &Path) -> Result<Vec<Image>, Error> {
        let _guard = self.gc_guard(false)?;
        let meta = fs::metadata(path).map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let found = if meta.is_dir() {
            let mut dir = source::DirSource::new(&self.content, path);
            find_images(&mut dir, &self.content)?
        } else {
            let mut archive = archive::ArchiveSource::read(&self.content, path)?;
            find_images(&mut archive, &self.content)?
        };
        self.commit_all(path, found)
    }

    /// Checks and unpacks every found image, then records them all in one index change.
    fn commit_all(&self, archive: &Path, found: Vec<Found>) -> Result<Vec<Image>, Error> {
        let stored_at = now();
        let mut images = Vec::with_capacity(found.len());
        for f in found {
            let commit_err = |source| ImportError::Commit {
                archive: archive.to_path_buf(),
                entry: f.entry.clone(),
                source: Box::new(source),
            };
            let (config, layers) = commit::plan(&self.content, &f.manifest).map_err(commit_err)?;
            debug_assert_eq!(config, f.config);
            for layer in &layers {
                commit::unpack_layer(&self.content, &self.layers, layer).map_err(|source| {
                    ImportError::Unpack {
                        archive: archive.to_path_buf(),
                        entry: f.entry.clone(),
                        source: Box::new(source),
                    }
                })?;
            }
            images.push(Image {
                id: config,
                manifest: f.manifest,
                names: f.names,
                layers,
                stored_at: stored_at.clone(),
            });
        }
        let recorded = images.clone();
        let stored: Vec<Image> = self.images.update(move |all| {
            recorded
                .into_iter()
                .map(|image| index::add(all, image))
                .collect()
        })?;
        // The archive's names, with the first time the store saw each image.
        for (image, stored) in images.iter_mut().zip(stored) {
            image.stored_at = stored.stored_at;
        }
        Ok(merge_same_ids(images))
    }
}

/// The images of a source: from its OCI `index.json` if it has one, and from its
/// `manifest.json` for what the index does not list.
fn find_images(source: &mut dyn Source, content: &ContentStore) -> Result<Vec<Found>, ImportError> {
    let index = source.metadata("index.json")?;
    let docker = source.metadata("manifest.json")?;
    if index.is_none() && docker.is_none() {
        return Err(ImportError::NotAnImage {
            archive: source.origin().to_path_buf(),
        });
    }
    let mut found = match index {
        Some(bytes) => {
            oci::check_layout_version(source)?;
            oci::images(source, content, &bytes)?
        }
        None => Vec::new(),
    };
    if let Some(bytes) = docker {
        let known: BTreeSet<Digest> = found.iter().map(|f| f.config.clone()).collect();
        for listed in docker::images(source, content, &bytes, &known)? {
            match listed {
                docker::Listed::Known { config, names } => {
                    if let Some(f) = found.iter_mut().find(|f| f.config == config) {
                        add_names(&mut f.names, names);
                    }
                }
                docker::Listed::New(image) => found.push(image),
            }
        }
    }
    if found.is_empty() {
        return Err(ImportError::Empty {
            archive: source.origin().to_path_buf(),
        });
    }
    Ok(found)
}

fn add_names(names: &mut Vec<Reference>, more: Vec<Reference>) {
    for name in more {
        if !names.contains(&name) {
            names.push(name);
        }
    }
}

/// One entry per image id, names merged, in first-seen order (an archive may list an image
/// once per tag).
fn merge_same_ids(images: Vec<Image>) -> Vec<Image> {
    let mut out: Vec<Image> = Vec::with_capacity(images.len());
    for image in images {
        match out.iter_mut().find(|i| i.id == image.id) {
            Some(existing) => add_names(&mut existing.names, image.names),
            None => out.push(image),
        }
    }
    out
}

/// A name from an archive: normalised; a digest-only reference names nothing (the image is
/// found by `name@digest` through its manifest anyway).
fn parse_name(archive: &Path, entry: &str, text: &str) -> Result<Option<Reference>, ImportError> {
    let reference: Reference = text.parse().map_err(|source| ImportError::BadName {
        archive: archive.to_path_buf(),
        entry: entry.to_string(),
        source,
    })?;
    Ok(reference.tag.is_some().then_some(Reference {
        digest: None,
        ..reference
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_digests_dropped() {
        let a = Path::new("a.tar");
        let n = parse_name(a, "e", "busybox:1").unwrap().unwrap();
        assert_eq!(n.to_string(), "docker.io/library/busybox:1");
        let pinned = format!("busybox@{}", Digest::of(b"x"));
        assert_eq!(parse_name(a, "e", &pinned).unwrap(), None);
        let tagged_and_pinned = format!("busybox:2@{}", Digest::of(b"x"));
        let n = parse_name(a, "e", &tagged_and_pinned).unwrap().unwrap();
        assert_eq!(n.to_string(), "docker.io/library/busybox:2");
        let err = parse_name(a, "manifest.json[0]", "Bad Name").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("a.tar: manifest.json[0]: invalid image reference"));
    }

    #[test]
    fn same_image_twice_is_merged() {
        let image = |names: &[&str]| Image {
            id: Digest::of(b"1"),
            manifest: Digest::of(b"m"),
            names: names.iter().map(|n| n.parse().unwrap()).collect(),
            layers: vec![],
            stored_at: "t".into(),
        };
        let merged = merge_same_ids(vec![image(&["a:1"]), image(&["a:2", "a:1"])]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].names.len(), 2);
    }
}
