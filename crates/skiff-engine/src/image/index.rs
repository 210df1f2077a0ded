//! The image index: `<data>/images.json`, the list of images and the names pointing at them.
//! Every change happens under an exclusive lock and is written atomically, so concurrent
//! `skiff` commands on one data directory never lose each other's images.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Image, Reference};
use crate::fsutil::{read_limited, write_atomic, FileLock};

/// Largest index file read (a corrupt or hostile one must not exhaust memory).
const MAX_INDEX: u64 = 64 << 20;

/// What can go wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading, writing or locking the file failed.
    #[error("image index {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An id prefix that several images share.
    #[error("{wanted:?} matches {count} images: give more of the id")]
    Ambiguous {
        /// What was asked for.
        wanted: String,
        /// How many images match.
        count: usize,
    },
    /// The file is not a valid index.
    #[error("image index {path} is corrupt: {source} (move it away and re-import the images)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    images: Vec<Image>,
}

/// Access to the index file.
#[derive(Debug, Clone)]
pub struct ImageIndex {
    path: PathBuf,
    lock: PathBuf,
}

impl ImageIndex {
    /// The index at `path` (created on first write), locked through `path` + `.lock`.
    pub fn new(path: &Path) -> Self {
        ImageIndex {
            path: path.to_path_buf(),
            lock: path.with_extension("lock"),
        }
    }

    /// Every image.
    pub fn list(&self) -> Result<Vec<Image>, IndexError> {
        Ok(self.read()?.images)
    }

    /// The image a name, an image id (or a prefix of at least 4 hex digits of one), or a
    /// `name@digest` refers to (see [`resolve`]).
    pub fn find(&self, wanted: &str) -> Result<Option<Image>, IndexError> {
        Ok(resolve(&self.read()?.images, wanted)?.cloned())
    }

    /// Runs `change` on the image list under the lock and writes the result.
    pub fn update<T>(&self, change: impl FnOnce(&mut Vec<Image>) -> T) -> Result<T, IndexError> {
        let _lock = FileLock::exclusive(&self.lock).map_err(|source| IndexError::Io {
            path: self.lock.clone(),
            source,
        })?;
        let mut file = self.read()?;
        let out = change(&mut file.images);
        let bytes = serde_json::to_vec_pretty(&file).expect("index serialises");
        write_atomic(&self.path, &bytes).map_err(|source| IndexError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(out)
    }

    /// Records `image`: an image with the same id gains its names; each name is taken away
    /// from any other image (a tag points at one image). Returns the stored image.
    pub fn add(&self, image: Image) -> Result<Image, IndexError> {
        self.update(|images| add(images, image))
    }

    fn read(&self) -> Result<IndexFile, IndexError> {
        match read_limited(&self.path, MAX_INDEX) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| IndexError::Corrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(IndexFile::default()),
            Err(source) => Err(IndexError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// Adds an image to a list (see [`ImageIndex::add`]).
pub fn add(images: &mut Vec<Image>, image: Image) -> Image {
    for other in images.iter_mut() {
        if other.id != image.id {
            other.names.retain(|n| !image.names.contains(n));
        }
    }
    let stored = match images.iter_mut().find(|i| i.id == image.id) {
        Some(existing) => {
            for name in image.names {
                if !existing.names.contains(&name) {
                    existing.names.push(name);
                }
            }
            existing.manifest = image.manifest;
            existing.clone()
        }
        None => {
            images.push(image.clone());
            image
        }
    };
    stored
}

/// Shortest id prefix taken for an id: shorter hex strings (`cafe` is a name too) are names.
pub const MIN_ID_PREFIX: usize = 4;

/// Finds what `wanted` refers to in `images`: an image id or a unique prefix of one (at least
/// [`MIN_ID_PREFIX`] hex digits, `sha256:` optional), else a name, or `name@digest`. An id
/// prefix that several images share and that is no name is an error, not a miss. The one
/// lookup behind `run`, `inspect` and `rm`, so they agree on what a string means.
pub fn resolve<'i>(images: &'i [Image], wanted: &str) -> Result<Option<&'i Image>, IndexError> {
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    let mut shared_prefix = 0;
    if hex.len() >= MIN_ID_PREFIX && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<&Image> = images
            .iter()
            .filter(|i| i.id.hex().starts_with(hex))
            .collect();
        match hits[..] {
            [hit] => return Ok(Some(hit)),
            [] => {}
            _ => shared_prefix = hits.len(),
        }
    }
    match (by_reference(images, wanted), shared_prefix) {
        (Some(image), _) => Ok(Some(image)),
        (None, 0) => Ok(None),
        (None, count) => Err(IndexError::Ambiguous {
            wanted: wanted.to_string(),
            count,
        }),
    }
}

/// The image a name or a `name@digest` refers to.
fn by_reference<'i>(images: &'i [Image], wanted: &str) -> Option<&'i Image> {
    let reference: Reference = wanted.parse().ok()?;
    if let Some(digest) = &reference.digest {
        return images
            .iter()
            .find(|i| &i.manifest == digest && i.names.iter().any(|n| n.name() == reference.name()))
            .or_else(|| images.iter().find(|i| &i.manifest == digest))
            // Pulled by the digest of an index: the image's own manifest differs.
            .or_else(|| {
                images.iter().find(|i| {
                    i.names
                        .iter()
                        .any(|n| n.name() == reference.name() && n.digest.as_ref() == Some(digest))
                })
            });
    }
    images.iter().find(|i| i.names.contains(&reference))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn image(id: &[u8], names: &[&str]) -> Image {
        Image {
            id: Digest::of(id),
            manifest: Digest::of(&[id, b"m"].concat()),
            names: names.iter().map(|n| n.parse().unwrap()).collect(),
            layers: vec![],
            stored_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_tag_moves_to_the_newer_image() {
        let mut images = vec![];
        add(&mut images, image(b"1", &["app:v1", "app:latest"]));
        add(&mut images, image(b"2", &["app:latest"]));
        assert_eq!(
            resolve(&images, "app").unwrap().unwrap().id,
            Digest::of(b"2")
        );
        assert_eq!(
            resolve(&images, "app:latest").unwrap().unwrap().id,
            Digest::of(b"2")
        );
        assert_eq!(
            resolve(&images, "app:v1").unwrap().unwrap().id,
            Digest::of(b"1")
        );
        assert_eq!(images[0].names.len(), 1);
    }

    #[test]
    fn resolves_ids_prefixes_and_digests() {
        let mut images = vec![];
        let one = add(
            &mut images,
            image(b"1", &["docker.io/library/busybox:latest"]),
        );
        assert_eq!(resolve(&images, &one.id.to_string()).unwrap(), Some(&one));
        assert_eq!(resolve(&images, one.id.short()).unwrap(), Some(&one));
        let pinned = format!("busybox@{}", one.manifest);
        assert_eq!(resolve(&images, &pinned).unwrap(), Some(&one));
        assert!(resolve(&images, "nothing").unwrap().is_none());
        // Pulled by an index digest: the name pins the index, not the image's manifest.
        let by_index = format!("app@{}", Digest::of(b"index"));
        let two = add(&mut images, image(b"2", &[&by_index]));
        assert_eq!(resolve(&images, &by_index).unwrap(), Some(&two));
    }

    #[test]
    fn a_shared_id_prefix_is_an_error_unless_it_is_a_name() {
        let mut images: Vec<Image> = Vec::new();
        let shared = loop {
            let next = image(images.len().to_string().as_bytes(), &[]);
            let prefix = next.id.hex()[..4].to_string();
            images.push(next);
            if images
                .iter()
                .filter(|i| i.id.hex().starts_with(&prefix))
                .count()
                > 1
            {
                break prefix;
            }
        };
        let err = resolve(&images, &shared).unwrap_err();
        assert!(err.to_string().contains("give more of the id"), "{err}");
        let named = add(&mut images, image(b"named", &[&shared]));
        assert_eq!(resolve(&images, &shared).unwrap(), Some(&named));
        assert!(
            resolve(&images, &shared[..3]).unwrap().is_none(),
            "too short for an id"
        );
    }

    #[test]
    fn index_file_round_trips_under_lock() {
        let dir = tempfile::tempdir().unwrap();
        let index = ImageIndex::new(&dir.path().join("images.json"));
        assert!(index.list().unwrap().is_empty());
        index.add(image(b"1", &["a"])).unwrap();
        index.add(image(b"2", &["b"])).unwrap();
        assert_eq!(index.list().unwrap().len(), 2);
        assert_eq!(index.find("b").unwrap().unwrap().id, Digest::of(b"2"));
        std::fs::write(dir.path().join("images.json"), b"{not json").unwrap();
        let err = index.list().unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
