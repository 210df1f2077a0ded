//! The content store: blobs (manifests, configs, compressed layers) kept by digest under
//! `<data>/content/blobs/sha256/<hex>`. Blobs enter through [`ContentStore::ingest`], which
//! hashes while it writes into `ingest/` and renames into place only when the digest matches,
//! so a blob under its name is always complete; readers verify again on use.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::fsutil::random_hex;

/// What can go wrong in the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The data did not hash to the digest it was stored or announced under.
    #[error("blob {expected} is corrupt or was tampered with: its content hashes to {actual}")]
    DigestMismatch {
        /// The digest the blob should have.
        expected: Digest,
        /// What it hashes to.
        actual: Digest,
    },
    /// The data is not as long as announced.
    #[error("blob {digest} is {actual} bytes, {expected} were announced (truncated download or archive?)")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The announced size.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// The data is larger than the store accepts.
    #[error("blob {digest} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// The limit.
        limit: u64,
    },
    /// The blob is not in the store.
    #[error("blob {digest} is not in the content store")]
    Missing {
        /// The blob.
        digest: Digest,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The content store under one directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
    max_blob: u64,
}

impl ContentStore {
    /// Opens (creating if needed) the store under `root`, refusing blobs over `max_blob` bytes.
    pub fn open(root: &Path, max_blob: u64) -> Result<Self, ContentError> {
        for dir in [root.join("blobs/sha256"), root.join("ingest")] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(ContentStore {
            root: root.to_path_buf(),
            max_blob,
        })
    }

    /// Where the blob `digest` lives (whether or not it is present).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The size of a present blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::Missing {
                digest: digest.clone(),
            }),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Every blob in the store.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|hex| format!("sha256:{hex}").parse().ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads a small blob whole (manifests, configs), verifying it and refusing more than `max`
    /// bytes.
    pub fn read(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, ContentError> {
        let mut out = Vec::new();
        let mut reader = self.open_blob(digest)?;
        let path = self.path(digest);
        (&mut reader)
            .take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| read_error(&path, e))?;
        if out.len() as u64 > max {
            return Err(ContentError::TooLarge {
                digest: digest.clone(),
                limit: max,
            });
        }
        reader.verify()?;
        Ok(out)
    }

    /// Opens a blob for reading; call [`VerifiedReader::verify`] after the last byte (or read
    /// through [`VerifiedReader`]'s `Read`, which fails at the end on a mismatch).
    pub fn open_blob(&self, digest: &Digest) -> Result<VerifiedReader, ContentError> {
        let path = self.path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContentError::Missing {
                    digest: digest.clone(),
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(VerifiedReader {
            inner: Some(HashingReader::new(file)),
            expected: digest.clone(),
            done: false,
        })
    }

    /// Stores the bytes read from `source` as blob `expected`: written to `ingest/` while
    /// hashed, checked against `expected` (and `size` if known), synced, renamed into place.
    /// On any failure nothing is left in the store. A blob already present is kept as is.
    pub fn ingest(
        &self,
        expected: &Digest,
        size: Option<u64>,
        source: &mut dyn Read,
    ) -> Result<(), ContentError> {
        if let Some(size) = size {
            if size > self.max_blob {
                return Err(ContentError::TooLarge {
                    digest: expected.clone(),
                    limit: self.max_blob,
                });
            }
        }
        let tmp = self.root.join("ingest").join(random_hex(12));
        let result = self.ingest_into(&tmp, Some(expected), size, source);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|_| ())
    }

    /// Stores the bytes read from `source` under the digest they hash to, which is returned:
    /// for data whose digest is not known beforehand (the layers and configs of `docker save`
    /// archives). Checked against `size` if known; on any failure nothing is left in the store.
    pub fn ingest_unnamed(
        &self,
        size: Option<u64>,
        source: &mut dyn Read,
    ) -> Result<Digest, ContentError> {
        let tmp = self.root.join("ingest").join(random_hex(12));
        let result = self.ingest_into(&tmp, None, size, source);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn ingest_into(
        &self,
        tmp: &Path,
        expected: Option<&Digest>,
        size: Option<u64>,
        source: &mut dyn Read,
    ) -> Result<Digest, ContentError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp)
            .map_err(io_err(tmp))?;
        let mut writer = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        let limit = size.unwrap_or(self.max_blob).min(self.max_blob);
        let copied = io::copy(&mut source.take(limit + 1), &mut writer).map_err(io_err(tmp))?;
        let (actual, count, buf) = writer.finish();
        debug_assert_eq!(copied, count);
        let named = expected.unwrap_or(&actual);
        if count > self.max_blob {
            return Err(ContentError::TooLarge {
                digest: named.clone(),
                limit: self.max_blob,
            });
        }
        if let Some(size) = size {
            if count != size {
                return Err(ContentError::SizeMismatch {
                    digest: named.clone(),
                    expected: size,
                    actual: count,
                });
            }
        }
        if actual != *named {
            return Err(ContentError::DigestMismatch {
                expected: named.clone(),
                actual,
            });
        }
        let file = buf.into_inner().map_err(|e| io_err(tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(tmp))?;
        let dest = self.path(&actual);
        fs::rename(tmp, &dest).map_err(io_err(&dest))?;
        Ok(actual)
    }

    /// Stores `bytes` and returns their digest.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<Digest, ContentError> {
        let digest = Digest::of(bytes);
        if !self.contains(&digest) {
            self.ingest(&digest, Some(bytes.len() as u64), &mut &bytes[..])?;
        }
        Ok(digest)
    }

    /// Removes a blob (absent is fine).
    pub fn remove(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Removes leftovers of interrupted ingests (call when no ingest can be running, e.g. under
    /// the GC lock).
    pub fn clean_ingest(&self) -> Result<(), ContentError> {
        let dir = self.root.join("ingest");
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            let _ = fs::remove_file(&path);
        }
        Ok(())
    }
}

/// A reader over a stored blob that checks its digest when the end is reached: the read that
/// hits the end returns an `InvalidData` error instead of `Ok(0)` if the content does not
/// match, so a consumer that reads to the end never silently uses a tampered blob.
#[derive(Debug)]
pub struct VerifiedReader {
    inner: Option<HashingReader<File>>,
    expected: Digest,
    done: bool,
}

impl VerifiedReader {
    /// Reads what is left and checks the digest.
    pub fn verify(mut self) -> Result<(), ContentError> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| read_error(Path::new(""), e))?;
        Ok(())
    }
}

/// Turns a read error from a [`VerifiedReader`] back into the content error it carries.
pub fn read_error(path: &Path, e: io::Error) -> ContentError {
    if e.get_ref().is_some_and(|inner| inner.is::<ContentError>()) {
        let inner = e.into_inner().expect("checked above");
        return *inner.downcast::<ContentError>().expect("checked above");
    }
    io_err(path)(e)
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let inner = self.inner.as_mut().expect("reader present until done");
        let n = inner.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let (actual, _) = self.inner.take().expect("reader present").finish();
        self.done = true;
        if actual != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ContentError::DigestMismatch {
                    expected: self.expected.clone(),
                    actual,
                },
            ));
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path(), 1 << 20).unwrap();
        (dir, store)
    }

    #[test]
    fn ingest_then_read_back() {
        let (_d, s) = store();
        let d = s.write_bytes(b"{}").unwrap();
        assert!(s.contains(&d));
        assert_eq!(s.read(&d, 100).unwrap(), b"{}");
        assert_eq!(s.list().unwrap(), vec![d]);
    }

    #[test]
    fn wrong_digest_leaves_nothing() {
        let (dir, s) = store();
        let claimed = Digest::of(b"good");
        let err = s.ingest(&claimed, None, &mut &b"evil"[..]).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert!(!s.contains(&claimed));
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn short_and_oversized_data_refused() {
        let (_d, s) = store();
        let d = Digest::of(b"abcdef");
        let err = s.ingest(&d, Some(6), &mut &b"abc"[..]).unwrap_err();
        assert!(
            matches!(err, ContentError::SizeMismatch { actual: 3, .. }),
            "{err}"
        );
        let big = vec![0u8; (1 << 20) + 1];
        let err = s
            .ingest(&Digest::of(&big), None, &mut &big[..])
            .unwrap_err();
        assert!(matches!(err, ContentError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn unnamed_data_is_stored_under_its_digest() {
        let (dir, s) = store();
        let d = s.ingest_unnamed(Some(5), &mut &b"hello"[..]).unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(s.read(&d, 100).unwrap(), b"hello");
        let err = s.ingest_unnamed(Some(9), &mut &b"hello"[..]).unwrap_err();
        assert!(matches!(err, ContentError::SizeMismatch { .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn tampered_blob_is_caught_on_read() {
        let (_d, s) = store();
        let d = s.write_bytes(b"original").unwrap();
        fs::write(s.path(&d), b"tampered").unwrap();
        let err = s.read(&d, 100).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        let mut r = s.open_blob(&d).unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
