//! The layer store: each layer unpacked once, under `<data>/layers/<diff-id hex>/diff`, shared
//! by every image and container that uses it.
//!
//! A layer is unpacked into `tmp/<random>` and renamed into place only when complete and its
//! diff id checked, so a directory under a layer's name is always whole; a per-layer lock makes
//! concurrent pulls of one layer (threads or processes) unpack it once. Each layer also gets a
//! short name, `l/<26 characters>` → `../<hex>/diff`, as Docker's overlay2 does, so that the
//! overlay mount options of an image with many layers fit in a page.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::media::Compression;
use super::unpack::{self, UnpackError, UnpackLimits, UnpackStats};
use crate::digest::Digest;
use crate::fsutil::{random_hex, FileLock};

/// The init layer's directory under the store (versioned: a change to its content gets a new
/// name, and containers made with the old one keep it).
pub const INIT_LAYER: &str = "init-v1";

/// Length of a layer's short name.
const SHORT_LEN: usize = 26;

/// What can go wrong in the layer store.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Unpacking failed; nothing of the layer was kept.
    #[error("layer {diff_id}: {source}")]
    Unpack {
        /// The layer.
        diff_id: Digest,
        /// Why.
        source: UnpackError,
    },
    /// The unpacked tar stream does not hash to the diff id the image config lists.
    #[error("layer {expected} does not match the image config: its content hashes to {actual}")]
    DiffIdMismatch {
        /// The diff id from the config.
        expected: Digest,
        /// What the stream hashed to.
        actual: Digest,
    },
    /// Opening the layer's blob failed.
    #[error("layer {diff_id}: reading its blob: {source}")]
    Blob {
        /// The layer.
        diff_id: Digest,
        /// Why.
        source: crate::content::ContentError,
    },
    /// A layer that should be present is not.
    #[error("layer {diff_id} is not unpacked (re-pull or re-load the image)")]
    Missing {
        /// The layer.
        diff_id: Digest,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The layer store under one directory.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    limits: UnpackLimits,
}

impl LayerStore {
    /// Opens (creating) the store under `root`; layers are unpacked within `limits`.
    pub fn open(root: &Path, limits: UnpackLimits) -> Result<Self, LayerError> {
        for dir in ["l", "tmp", "locks"] {
            let dir = root.join(dir);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(LayerStore {
            root: root.to_path_buf(),
            limits,
        })
    }

    /// The store's directory (overlay mounts use paths relative to it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The unpacked content of a layer.
    pub fn diff_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join(diff_id.hex()).join("diff")
    }

    /// Whether the layer is unpacked.
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.short_name(diff_id).is_ok()
    }

    /// The layer's short name relative to [`root`](Self::root) (`l/ABC…`), checked to lead to
    /// its directory.
    pub fn short_name(&self, diff_id: &Digest) -> Result<String, LayerError> {
        let link_file = self.root.join(diff_id.hex()).join("link");
        let short = match fs::read_to_string(&link_file) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayerError::Missing {
                    diff_id: diff_id.clone(),
                })
            }
            Err(e) => return Err(io_err(&link_file)(e)),
        };
        let short = short.trim();
        if short.len() != SHORT_LEN || !short.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(LayerError::Missing {
                diff_id: diff_id.clone(),
            });
        }
        let link = self.root.join("l").join(short);
        if fs::read_link(&link).is_err() {
            // Crash between the rename and the link: make it again.
            symlink(format!("../{}/diff", diff_id.hex()), &link).map_err(io_err(&link))?;
        }
        Ok(format!("l/{short}"))
    }

    /// Unpacks the layer `diff_id` unless it is already present. `open` gives the blob and its
    /// compression; it is called only when the layer must be unpacked. Returns whether this
    /// call unpacked it.
    pub fn ensure(
        &self,
        diff_id: &Digest,
        open: &mut dyn FnMut() -> Result<(Box<dyn Read>, Compression), LayerError>,
    ) -> Result<bool, LayerError> {
        if self.contains(diff_id) {
            return Ok(false);
        }
        let lock_path = self
            .root
            .join("locks")
            .join(format!("{}.lock", diff_id.hex()));
        let _lock = FileLock::exclusive(&lock_path).map_err(io_err(&lock_path))?;
        if self.contains(diff_id) {
            return Ok(false);
        }
        let tmp = self.root.join("tmp").join(random_hex(12));
        let result = self.unpack_into(&tmp, diff_id, open);
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result.map(|_| true)
    }

    fn unpack_into(
        &self,
        tmp: &Path,
        diff_id: &Digest,
        open: &mut dyn FnMut() -> Result<(Box<dyn Read>, Compression), LayerError>,
    ) -> Result<UnpackStats, LayerError> {
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).map_err(io_err(&diff))?;
        let (mut blob, compression) = open()?;
        let stats =
            unpack::unpack(&mut blob, compression, &diff, &self.limits).map_err(|source| {
                LayerError::Unpack {
                    diff_id: diff_id.clone(),
                    source,
                }
            })?;
        if &stats.diff_id != diff_id {
            return Err(LayerError::DiffIdMismatch {
                expected: diff_id.clone(),
                actual: stats.diff_id,
            });
        }
        let short = short_id();
        let link_file = tmp.join("link");
        fs::write(&link_file, &short).map_err(io_err(&link_file))?;
        // Durable before visible: after a crash a layer directory is whole, or it is a
        // leftover under tmp/ that nothing uses (clean_tmp deletes it). One syncfs flushes
        // the unpack instead of an fsync per file.
        sync_fs(tmp)?;
        let dest = self.root.join(diff_id.hex());
        if dest.exists() {
            // Left by a removal that crashed half-way: it has no valid link file, so it is
            // not a layer; clear it.
            self.discard(&dest)?;
        }
        fs::rename(tmp, &dest).map_err(io_err(&dest))?;
        let link = self.root.join("l").join(&short);
        symlink(format!("../{}/diff", diff_id.hex()), &link).map_err(io_err(&link))?;
        // The rename and the short name, so that an image recorded after this finds them.
        for dir in [self.root.clone(), self.root.join("l")] {
            fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(&dir))?;
        }
        Ok(stats)
    }

    /// Every unpacked layer.
    pub fn list(&self) -> Result<Vec<Digest>, LayerError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a layer: its short name first, then the directory is renamed away (so it is
    /// never seen half-removed) and deleted.
    pub fn remove(&self, diff_id: &Digest) -> Result<(), LayerError> {
        let lock_path = self
            .root
            .join("locks")
            .join(format!("{}.lock", diff_id.hex()));
        let _lock = FileLock::exclusive(&lock_path).map_err(io_err(&lock_path))?;
        let dir = self.root.join(diff_id.hex());
        if let Ok(short) = fs::read_to_string(dir.join("link")) {
            let short = short.trim();
            if !short.is_empty() && short.bytes().all(|b| b.is_ascii_alphanumeric()) {
                let _ = fs::remove_file(self.root.join("l").join(short));
            }
        }
        if dir.exists() {
            self.discard(&dir)?;
        }
        let _ = fs::remove_file(&lock_path);
        Ok(())
    }

    fn discard(&self, dir: &Path) -> Result<(), LayerError> {
        let trash = self.root.join("tmp").join(format!("rm-{}", random_hex(8)));
        fs::rename(dir, &trash).map_err(io_err(dir))?;
        fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }

    /// The init layer's name relative to [`root`](Self::root), creating it the first time: a
    /// small layer every container has on top of its image (as Docker's init layer) holding the
    /// mount points the runtime needs — `proc`, `sys`, `dev`, and empty `etc/hostname`,
    /// `etc/hosts`, `etc/resolv.conf` — so that they need not be created in each container's
    /// upper directory (no copy-up at start, less to delete at removal).
    pub fn init_layer(&self) -> Result<&'static str, LayerError> {
        let dest = self.root.join(INIT_LAYER);
        if dest.is_dir() {
            return Ok(INIT_LAYER);
        }
        let tmp = self.root.join("tmp").join(random_hex(12));
        let made = (|| -> io::Result<()> {
            for dir in ["proc", "sys", "dev", "etc"] {
                fs::create_dir_all(tmp.join(dir))?;
            }
            for file in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
                fs::write(tmp.join(file), b"")?;
            }
            match fs::rename(&tmp, &dest) {
                // Another process made it first: same content.
                Err(_) if dest.is_dir() => {
                    let _ = fs::remove_dir_all(&tmp);
                    Ok(())
                }
                other => other,
            }
        })();
        if made.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        made.map_err(io_err(&dest))?;
        Ok(INIT_LAYER)
    }

    /// Deletes leftovers of interrupted unpacks and removals (call when nothing can be
    /// unpacking, e.g. under the GC lock).
    pub fn clean_tmp(&self) -> Result<(), LayerError> {
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let path = entry.map_err(io_err(&tmp))?.path();
            let _ = fs::remove_dir_all(&path);
        }
        Ok(())
    }
}

/// Flushes the filesystem holding `dir` (its data and metadata, not only `dir`'s).
fn sync_fs(dir: &Path) -> Result<(), LayerError> {
    let fd = fs::File::open(dir).map_err(io_err(dir))?;
    nix::unistd::syncfs(&fd).map_err(|errno| io_err(dir)(errno.into()))
}

/// A new short name: 26 random uppercase letters and digits (as overlay2's).
fn short_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    random_hex(SHORT_LEN)
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let byte =
                u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0);
            ALPHABET[byte as usize % ALPHABET.len()] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use super::*;

    fn layer(files: &[(&str, &[u8])]) -> (Vec<u8>, Digest) {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let digest = Digest::of(&tar);
        (tar, digest)
    }

    /// An `open` for `ensure` serving `tar`, counting its calls; the first read waits a little
    /// so that concurrent callers overlap.
    fn opener(
        tar: Vec<u8>,
        calls: Arc<AtomicUsize>,
    ) -> impl FnMut() -> Result<(Box<dyn Read>, Compression), LayerError> {
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            Ok((
                Box::new(io::Cursor::new(tar.clone())) as Box<dyn Read>,
                Compression::None,
            ))
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn unpacks_a_layer_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (tar, diff_id) = layer(&[("etc/os-release", b"ID=skiff\n")]);
        let calls = Arc::new(AtomicUsize::new(0));
        let mut open = opener(tar, calls.clone());
        assert!(!store.contains(&diff_id));
        assert!(store.ensure(&diff_id, &mut open).unwrap());
        assert!(store.contains(&diff_id));
        assert_eq!(
            fs::read(store.diff_dir(&diff_id).join("etc/os-release")).unwrap(),
            b"ID=skiff\n"
        );
        assert!(!store.ensure(&diff_id, &mut open).unwrap());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(store.list().unwrap(), vec![diff_id]);
        assert!(names(&tmp.path().join("tmp")).is_empty());
    }

    #[test]
    fn concurrent_ensures_unpack_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (tar, diff_id) = layer(&[("a", b"a"), ("b/c", b"c")]);
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (store, diff_id, barrier) = (store.clone(), diff_id.clone(), barrier.clone());
                let mut open = opener(tar.clone(), calls.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.ensure(&diff_id, &mut open).unwrap()
                })
            })
            .collect();
        let unpacked: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the blob was opened more than once"
        );
        assert_eq!(unpacked.iter().filter(|u| **u).count(), 1, "{unpacked:?}");
        assert_eq!(
            fs::read(store.diff_dir(&diff_id).join("b/c")).unwrap(),
            b"c"
        );
    }

    /// The store holds no layer: only its empty directories and lock files.
    fn assert_nothing_kept(root: &Path) {
        assert_eq!(names(root), ["l", "locks", "tmp"]);
        assert!(names(&root.join("l")).is_empty());
        assert!(names(&root.join("tmp")).is_empty());
        for lock in names(&root.join("locks")) {
            assert!(lock.ends_with(".lock"), "{lock}");
        }
    }

    #[test]
    fn a_diff_id_mismatch_keeps_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (tar, actual) = layer(&[("f", b"content")]);
        let claimed = Digest::of(b"something else");
        let mut open = opener(tar, Arc::default());
        let err = store.ensure(&claimed, &mut open).unwrap_err();
        assert!(
            matches!(&err, LayerError::DiffIdMismatch { expected, actual: a } if *expected == claimed && *a == actual),
            "{err:?}"
        );
        assert_nothing_kept(tmp.path());
        assert!(!store.contains(&claimed));
    }

    #[test]
    fn an_unpack_error_keeps_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (mut tar, _) = layer(&[("f", b"content")]);
        tar.truncate(700);
        let diff_id = Digest::of(&tar);
        let mut open = opener(tar, Arc::default());
        let err = store.ensure(&diff_id, &mut open).unwrap_err();
        assert!(matches!(err, LayerError::Unpack { .. }), "{err:?}");
        assert_nothing_kept(tmp.path());
    }

    #[test]
    fn short_names_lead_to_the_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (tar, diff_id) = layer(&[("f", b"x")]);
        store
            .ensure(&diff_id, &mut opener(tar, Arc::default()))
            .unwrap();
        let short = store.short_name(&diff_id).unwrap();
        let id = short.strip_prefix("l/").unwrap();
        assert_eq!(id.len(), SHORT_LEN);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{id}"
        );
        let resolved = fs::canonicalize(store.root().join(&short)).unwrap();
        assert_eq!(
            resolved,
            fs::canonicalize(store.diff_dir(&diff_id)).unwrap()
        );
        // A lost short name (a crash after the rename) is made again.
        fs::remove_file(store.root().join(&short)).unwrap();
        assert_eq!(store.short_name(&diff_id).unwrap(), short);
        assert_eq!(fs::read(store.root().join(&short).join("f")).unwrap(), b"x");
    }
}
