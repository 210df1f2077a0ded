//! Removing images and collecting garbage.
//!
//! * [`Engine::remove_image`] takes a name away (`skiff image rm busybox`) or removes an image
//!   by id, as `docker rmi` does; [`Engine::prune_images`] removes dangling images, or every
//!   image no container uses.
//! * [`Engine::gc`] deletes the blobs (manifests, configs, layer blobs) and unpacked layers no
//!   image refers to, and the leftovers of interrupted ingests and unpacks. It runs under the
//!   exclusive GC lock, which every operation adding blobs or layers holds shared, so nothing
//!   being added is collected. Removals run it afterwards.
//!
//! An image a container uses (`<data>/containers/<id>/container.json`, field `image_id`) is
//! never deleted: forcing its removal only takes its names away, and it stays, dangling, until
//! no container uses it. So a layer is in use exactly when an image refers to it.
//!
//! What to remove is decided by plain functions over the image list ([`plan_remove`],
//! [`plan_prune`], [`unreferenced`]), so the rules are tested as data.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Image, Reference};
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::Error;
use crate::fsutil::read_limited;

/// Largest container record read.
const MAX_CONTAINER_RECORD: u64 = 16 << 20;

/// Why a removal was refused, or what failed while collecting.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A container record does not parse, so what it uses is unknown.
    #[error(
        "container record {path} is corrupt ({source}); nothing is removed while it is unreadable"
    )]
    ContainerRecord {
        /// The record.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Containers use the image.
    #[error("image {image} is used by container(s) {}: remove them first, or force (the image then loses its names and stays until they are gone)", containers.join(", "))]
    InUse {
        /// The image.
        image: Digest,
        /// The containers using it.
        containers: Vec<String>,
    },
    /// Removing by id an image that has several names.
    #[error("image {image} has several names ({}): remove them one by one, or force", names.iter().map(Reference::familiar).collect::<Vec<_>>().join(", "))]
    SeveralNames {
        /// The image.
        image: Digest,
        /// Its names.
        names: Vec<Reference>,
    },
}

/// What garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Blobs deleted from the content store.
    pub blobs_removed: Vec<Digest>,
    /// Unpacked layers deleted (by diff id).
    pub layers_removed: Vec<Digest>,
    /// Bytes of files deleted, leftovers of interrupted ingests and unpacks included.
    pub bytes_freed: u64,
}

/// What [`Engine::remove_image`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    /// Names taken away.
    pub untagged: Vec<Reference>,
    /// Images deleted.
    pub deleted: Vec<Digest>,
    /// The garbage collection that followed.
    pub gc: GcReport,
}

/// What [`Engine::prune_images`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Names taken away (with `all`).
    pub untagged: Vec<Reference>,
    /// Images deleted.
    pub deleted: Vec<Digest>,
    /// The garbage collection that followed.
    pub gc: GcReport,
}

/// A decided change to the image list: names to take away, then images to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// Names to take away.
    pub untag: Vec<Reference>,
    /// Images to delete.
    pub delete: Vec<Digest>,
}

impl Removal {
    /// Applies the removal to an image list.
    pub fn apply(&self, images: &mut Vec<Image>) {
        for image in images.iter_mut() {
            image.names.retain(|n| !self.untag.contains(n));
        }
        images.retain(|i| !self.delete.contains(&i.id));
    }
}

/// Images in use: image id → the containers using it.
pub type InUse = BTreeMap<Digest, Vec<String>>;

/// Decides what `remove_image(wanted, force)` does (see [`Engine::remove_image`]).
pub fn plan_remove(
    images: &[Image],
    used: &InUse,
    wanted: &str,
    force: bool,
) -> Result<Removal, Error> {
    let in_use = |image: &Image| -> Result<bool, Error> {
        match used.get(&image.id) {
            Some(_) if force => Ok(true),
            Some(containers) => Err(GcError::InUse {
                image: image.id.clone(),
                containers: containers.clone(),
            }
            .into()),
            None => Ok(false),
        }
    };
    if let Some((image, name)) = by_name(images, wanted) {
        let last = image.names.len() == 1;
        let delete = last && !in_use(image)?;
        return Ok(Removal {
            untag: vec![name],
            delete: if delete {
                vec![image.id.clone()]
            } else {
                vec![]
            },
        });
    }
    let image = by_id(images, wanted)?;
    let keep = in_use(image)?;
    if image.names.len() > 1 && !force {
        return Err(GcError::SeveralNames {
            image: image.id.clone(),
            names: image.names.clone(),
        }
        .into());
    }
    Ok(Removal {
        untag: image.names.clone(),
        delete: if keep { vec![] } else { vec![image.id.clone()] },
    })
}

/// The image `wanted` names (a name without digest that an image has).
fn by_name<'i>(images: &'i [Image], wanted: &str) -> Option<(&'i Image, Reference)> {
    let reference: Reference = wanted.parse().ok()?;
    if reference.digest.is_some() {
        return None;
    }
    images
        .iter()
        .find(|i| i.names.contains(&reference))
        .map(|i| (i, reference))
}

/// The image an id, a unique id prefix or a `name@digest` refers to.
fn by_id<'i>(images: &'i [Image], wanted: &str) -> Result<&'i Image, Error> {
    super::index::resolve(images, wanted)?.ok_or_else(|| Error::NoSuchImage {
        wanted: wanted.to_string(),
    })
}

/// Decides what `prune_images(all)` removes: the dangling images no container uses, or with
/// `all` every image no container uses.
pub fn plan_prune(images: &[Image], used: &InUse, all: bool) -> Removal {
    let mut removal = Removal::default();
    for image in images.iter().filter(|i| !used.contains_key(&i.id)) {
        if image.names.is_empty() || all {
            removal.untag.extend(image.names.iter().cloned());
            removal.delete.push(image.id.clone());
        }
    }
    removal
}

/// The blobs and layers no image refers to.
pub fn unreferenced(
    images: &[Image],
    blobs: &[Digest],
    layers: &[Digest],
) -> (Vec<Digest>, Vec<Digest>) {
    let mut keep_blobs = BTreeSet::new();
    let mut keep_layers = BTreeSet::new();
    for image in images {
        keep_blobs.insert(&image.manifest);
        keep_blobs.insert(&image.id);
        for layer in &image.layers {
            keep_blobs.insert(&layer.blob);
            keep_layers.insert(&layer.diff_id);
        }
    }
    (
        blobs
            .iter()
            .filter(|b| !keep_blobs.contains(b))
            .cloned()
            .collect(),
        layers
            .iter()
            .filter(|l| !keep_layers.contains(l))
            .cloned()
            .collect(),
    )
}

/// What a container record says about its image; every other field is ignored (the record
/// belongs to the container code).
#[derive(Debug, Deserialize)]
struct ContainerImage {
    #[serde(default)]
    image_id: Option<String>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GcError + '_ {
    move |source| GcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Engine {
    /// Removes an image or one of its names, then collects garbage.
    ///
    /// * By name (`busybox`, `example.com/app:1`): the name is taken away; the image is
    ///   deleted when it was its last name.
    /// * By id (`sha256:…`, a unique prefix, or `name@sha256:<manifest>`): the image is
    ///   deleted with all its names; refused when it has several names unless `force`.
    ///
    /// An image a container uses is not deleted: without `force` the removal is refused;
    /// with it the image only loses its names.
    pub fn remove_image(&self, wanted: &str, force: bool) -> Result<RemoveReport, Error> {
        let _guard = self.gc_guard(true)?;
        let used = self.images_in_use()?;
        let removal = self.images.update(|images| {
            let removal = plan_remove(images, &used, wanted, force)?;
            removal.apply(images);
            Ok::<_, Error>(removal)
        })??;
        Ok(RemoveReport {
            untagged: removal.untag,
            deleted: removal.delete,
            gc: self.collect()?,
        })
    }

    /// Removes the dangling images no container uses (with `all`, every image no container
    /// uses), then collects garbage.
    pub fn prune_images(&self, all: bool) -> Result<PruneReport, Error> {
        let _guard = self.gc_guard(true)?;
        let used = self.images_in_use()?;
        let removal = self.images.update(|images| {
            let removal = plan_prune(images, &used, all);
            removal.apply(images);
            removal
        })?;
        Ok(PruneReport {
            untagged: removal.untag,
            deleted: removal.delete,
            gc: self.collect()?,
        })
    }

    /// Deletes the blobs and layers no image refers to, and the leftovers of interrupted
    /// ingests (`content/ingest`), unpacks (`layers/tmp`) and volume creations.
    pub fn gc(&self) -> Result<GcReport, Error> {
        let _guard = self.gc_guard(true)?;
        self.collect()
    }

    /// [`gc`](Self::gc), with the exclusive GC lock held by the caller.
    fn collect(&self) -> Result<GcReport, Error> {
        let images = self.images.list()?;
        let (blobs, layers) = unreferenced(&images, &self.content.list()?, &self.layers.list()?);
        let mut report = GcReport::default();
        for blob in blobs {
            report.bytes_freed += self.content.size(&blob).unwrap_or(0);
            self.content.remove(&blob)?;
            report.blobs_removed.push(blob);
        }
        for layer in layers {
            report.bytes_freed += dir_size(&self.layers.root().join(layer.hex()));
            self.layers.remove(&layer)?;
            report.layers_removed.push(layer);
        }
        let ingest = self.opts.data_dir.join("content/ingest");
        let tmp = self.layers.root().join("tmp");
        report.bytes_freed += dir_size(&ingest) + dir_size(&tmp);
        self.content.clean_ingest()?;
        self.layers.clean_tmp()?;
        // Volumes half made or half removed (creation happens under the shared GC lock).
        self.volumes
            .clean_tmp()
            .map_err(crate::container::ContainerError::from)?;
        Ok(report)
    }

    /// The images containers use, from `<data>/containers/*/container.json`.
    pub fn images_in_use(&self) -> Result<InUse, Error> {
        let dir = self.opts.data_dir.join("containers");
        let mut used = InUse::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(used),
            Err(e) => return Err(io_err(&dir)(e).into()),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let id = entry.file_name().to_string_lossy().into_owned();
            if id.starts_with('.') {
                continue;
            }
            let path = entry.path().join("container.json");
            let bytes = match read_limited(&path, MAX_CONTAINER_RECORD) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e).into()),
            };
            let record: ContainerImage = serde_json::from_slice(&bytes)
                .map_err(|source| GcError::ContainerRecord { path, source })?;
            if let Some(image) = record.image_id.and_then(|i| i.parse::<Digest>().ok()) {
                used.entry(image).or_default().push(id);
            }
        }
        for containers in used.values_mut() {
            containers.sort();
        }
        Ok(used)
    }
}

/// Bytes of the files under `path` (symbolic links are counted, not followed).
fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
