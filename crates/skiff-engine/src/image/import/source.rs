//! Where an import reads from: a [`Source`] is an archive already streamed into the content
//! store ([`super::archive::ArchiveSource`]) or a layout directory read on demand
//! ([`DirSource`]). The OCI and Docker readers ask it for metadata files and blobs and never
//! see which one it is.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::{ImportError, MAX_METADATA};
use crate::content::{ContentError, ContentStore};
use crate::digest::{Digest, HashingReader};
use crate::image::media::{sniff_compression, Compression};

/// A file of the source, in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    /// What it hashes to.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// The compression its first bytes show.
    pub compression: Compression,
}

/// What the readers need from an archive or directory.
pub(super) trait Source {
    /// The archive or directory, for messages.
    fn origin(&self) -> &Path;

    /// A metadata file at the top (`index.json`, `manifest.json`, `oci-layout`), if present.
    fn metadata(&mut self, name: &str) -> Result<Option<Vec<u8>>, ImportError>;

    /// The file `name` (a relative path inside the source), stored in the content store.
    /// `referrer` says what refers to it, for the error if it is missing.
    fn file(&mut self, name: &str, referrer: &str) -> Result<Stored, ImportError>;

    /// Makes sure the blob `digest` of `size` bytes (from `blobs/sha256/`) is in the content
    /// store, checked against its name and size.
    fn blob(&mut self, digest: &Digest, size: u64, referrer: &str) -> Result<(), ImportError> {
        let entry = blob_entry(digest);
        let stored = self.file(&entry, referrer)?;
        let origin = self.origin().to_path_buf();
        if &stored.digest != digest {
            return Err(ImportError::DigestMismatch {
                archive: origin,
                referrer: referrer.to_string(),
                entry,
                expected: digest.clone(),
                actual: stored.digest,
            });
        }
        if stored.size != size {
            return Err(ImportError::SizeMismatch {
                archive: origin,
                referrer: referrer.to_string(),
                entry,
                expected: size,
                actual: stored.size,
            });
        }
        Ok(())
    }
}

/// The name of a blob inside a layout.
pub(super) fn blob_entry(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// A reader that remembers the first bytes (to sniff compression) and whether a read failed
/// (to tell a broken archive from a bad blob).
pub(super) struct Tap<'a> {
    inner: &'a mut dyn Read,
    head: Vec<u8>,
    pub failed: Option<io::Error>,
}

impl<'a> Tap<'a> {
    pub fn new(inner: &'a mut dyn Read) -> Self {
        Tap {
            inner,
            head: Vec::with_capacity(4),
            failed: None,
        }
    }

    fn compression(&self) -> Compression {
        sniff_compression(&self.head)
    }
}

impl Read for Tap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let want = 4usize.saturating_sub(self.head.len()).min(n);
                self.head.extend_from_slice(&buf[..want]);
                Ok(n)
            }
            Err(e) => {
                self.failed = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

/// Puts `size` bytes from `tap` into the content store: under `expected` (checked) when the
/// name gives the digest, else under the digest they hash to. A blob already present is not
/// written again, but the data is still hashed: a tampered copy is refused all the same.
pub(super) fn store(
    content: &ContentStore,
    expected: Option<&Digest>,
    size: u64,
    tap: &mut Tap<'_>,
) -> Result<Stored, ContentError> {
    let digest = match expected {
        Some(expected) if content.contains(expected) => {
            let mut hashing = HashingReader::new(&mut *tap);
            let read = io::copy(&mut (&mut hashing).take(size + 1), &mut io::sink());
            read.map_err(|source| ContentError::Io {
                path: content.path(expected),
                source,
            })?;
            let (actual, count) = hashing.finish();
            if count != size {
                return Err(ContentError::SizeMismatch {
                    digest: expected.clone(),
                    expected: size,
                    actual: count,
                });
            }
            if &actual != expected {
                return Err(ContentError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            actual
        }
        Some(expected) => {
            content.ingest(expected, Some(size), tap)?;
            expected.clone()
        }
        None => content.ingest_unnamed(Some(size), tap)?,
    };
    Ok(Stored {
        digest,
        size,
        compression: tap.compression(),
    })
}

/// The digest a `blobs/sha256/<hex>` name gives: `Ok(None)` for other names, an error for a
/// malformed digest under `blobs/sha256/`.
pub(super) fn digest_in_name(name: &str) -> Result<Option<Digest>, ()> {
    match name.strip_prefix("blobs/sha256/") {
        Some(hex) => format!("sha256:{hex}").parse().map(Some).map_err(|_| ()),
        None => Ok(None),
    }
}

/// A layout directory (OCI, or a `docker save` archive extracted), read file by file as the
/// readers ask. Symbolic links inside it are refused.
pub(super) struct DirSource<'a> {
    content: &'a ContentStore,
    root: PathBuf,
}

impl<'a> DirSource<'a> {
    /// The directory `root`.
    pub fn new(content: &'a ContentStore, root: &Path) -> Self {
        DirSource {
            content,
            root: root.to_path_buf(),
        }
    }

    /// Opens `name` under the root, refusing names that leave it and symbolic links on the
    /// way. `Ok(None)` when it does not exist.
    fn open(&self, name: &str) -> Result<Option<(File, u64)>, ImportError> {
        let unsafe_entry = |reason| ImportError::UnsafeEntry {
            archive: self.root.clone(),
            entry: name.to_string(),
            reason,
        };
        let relative = Path::new(name);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(unsafe_entry("names must stay inside the directory"));
        }
        let mut path = self.root.clone();
        for component in relative.components() {
            path.push(component);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_entry("symbolic links are not followed"))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(ImportError::Io { path, source }),
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|source| ImportError::Io {
                path: path.clone(),
                source,
            })?;
        let meta = file.metadata().map_err(|source| ImportError::Io {
            path: path.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(unsafe_entry("not a regular file"));
        }
        Ok(Some((file, meta.len())))
    }
}

impl Source for DirSource<'_> {
    fn origin(&self) -> &Path {
        &self.root
    }

    fn metadata(&mut self, name: &str) -> Result<Option<Vec<u8>>, ImportError> {
        let Some((file, size)) = self.open(name)? else {
            return Ok(None);
        };
        if size > MAX_METADATA {
            return Err(ImportError::TooLarge {
                archive: self.root.clone(),
                entry: name.to_string(),
                limit: MAX_METADATA,
            });
        }
        let mut out = Vec::new();
        file.take(MAX_METADATA)
            .read_to_end(&mut out)
            .map_err(|source| ImportError::Io {
                path: self.root.join(name),
                source,
            })?;
        Ok(Some(out))
    }

    fn file(&mut self, name: &str, referrer: &str) -> Result<Stored, ImportError> {
        let Some((mut file, size)) = self.open(name)? else {
            return Err(ImportError::Missing {
                archive: self.root.clone(),
                referrer: referrer.to_string(),
                entry: name.to_string(),
            });
        };
        let expected = digest_in_name(name).map_err(|()| ImportError::BadBlobName {
            archive: self.root.clone(),
            entry: name.to_string(),
        })?;
        let mut tap = Tap::new(&mut file);
        store(self.content, expected.as_ref(), size, &mut tap).map_err(|source| match tap.failed {
            Some(e) => ImportError::Io {
                path: self.root.join(name),
                source: e,
            },
            None => ImportError::Blob {
                archive: self.root.clone(),
                entry: name.to_string(),
                source,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_give_digests() {
        let d = Digest::of(b"x");
        assert_eq!(digest_in_name(&blob_entry(&d)), Ok(Some(d)));
        assert_eq!(digest_in_name("abc/layer.tar"), Ok(None));
        assert_eq!(digest_in_name("blobs/sha256/ABC"), Err(()));
    }

    #[test]
    fn store_verifies_present_blobs_too() {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path(), 1 << 20).unwrap();
        let good = content.write_bytes(b"good").unwrap();
        let mut data: &[u8] = b"evil";
        let err = store(&content, Some(&good), 4, &mut Tap::new(&mut data)).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        let mut data: &[u8] = b"\x1f\x8b rest";
        let stored = store(&content, None, 7, &mut Tap::new(&mut data)).unwrap();
        assert_eq!(stored.digest, Digest::of(b"\x1f\x8b rest"));
        assert_eq!(stored.compression, Compression::Gzip);
        assert!(content.contains(&stored.digest));
    }

    #[test]
    fn directory_source_refuses_symlinks_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(&dir.path().join("store"), 1 << 20).unwrap();
        let layout = dir.path().join("layout");
        fs::create_dir_all(&layout).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", layout.join("layer.tar")).unwrap();
        let mut source = DirSource::new(&content, &layout);
        let err = source.file("layer.tar", "manifest.json").unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
        let err = source.file("../store", "manifest.json").unwrap_err();
        assert!(err.to_string().contains("inside the directory"), "{err}");
        let err = source.file("nothing.tar", "manifest.json").unwrap_err();
        assert!(matches!(err, ImportError::Missing { .. }), "{err}");
    }
}
