//! The drop folder, `<data>/images/`: archives an operator (or provisioning) copies there are
//! loaded by [`Engine::import_drop_folder`], as if by `skiff image load`.
//!
//! Only regular files directly in the folder whose names do not start with `.` are
//! considered; symbolic links and directories are ignored. What happened to each file is
//! recorded in `<data>/images/.imported.json` with the file's size and modification time:
//!
//! ```json
//! {"files": {"busybox.tar": {"size": 123, "mtime_sec": 1700000000, "mtime_nsec": 0,
//!                            "imported": ["sha256:…"]},
//!            "broken.tar":  {"size": 9, "mtime_sec": 1700000000, "mtime_nsec": 0,
//!                            "failed": "…: the archive is truncated: …"}}}
//! ```
//!
//! A file is loaded again only when its size or modification time changes, so an imported
//! archive is not re-read on every call and a failing one is reported once and not retried
//! until it is replaced (a file still being copied simply fails, and is retried once the copy
//! has changed it). Entries of files that left the folder are dropped from the record. One
//! call at a time works on the folder (`.imported.lock`).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ImportError;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::Error;
use crate::fsutil::{read_limited, write_atomic, FileLock};
use crate::image::Image;

/// The record of what was imported, in the drop folder.
pub const RECORD_FILE: &str = ".imported.json";
const LOCK_FILE: &str = ".imported.lock";
const MAX_RECORD: u64 = 16 << 20;

/// What one pass over the drop folder did.
#[derive(Debug, Default)]
pub struct DropReport {
    /// Files loaded by this call.
    pub imported: Vec<DropImport>,
    /// Files that failed to load in this call (they are not retried until they change).
    pub failed: Vec<DropFailure>,
    /// Files left alone because they did not change since an earlier call loaded them or
    /// failed to.
    pub unchanged: Vec<PathBuf>,
}

/// A file the drop folder loaded.
#[derive(Debug)]
pub struct DropImport {
    /// The archive.
    pub file: PathBuf,
    /// Its images, as [`Engine::load`] returns them.
    pub images: Vec<Image>,
}

/// A file the drop folder could not load.
#[derive(Debug)]
pub struct DropFailure {
    /// The archive.
    pub file: PathBuf,
    /// Why.
    pub error: Error,
}

/// A file's identity for the record: size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Imported(Vec<Digest>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    #[serde(flatten)]
    stamp: Stamp,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    files: BTreeMap<String, Seen>,
}

/// Which of the listed files (name and stamp) must be loaded: those the record does not know
/// with the same stamp.
fn to_load<'a>(record: &Record, listing: &'a [(String, Stamp)]) -> Vec<&'a str> {
    listing
        .iter()
        .filter(|(name, stamp)| {
            record
                .files
                .get(name)
                .is_none_or(|seen| seen.stamp != *stamp)
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Engine {
    /// The drop folder, `<data>/images/`.
    pub fn drop_folder(&self) -> PathBuf {
        self.opts.data_dir.join("images")
    }

    /// Loads the archives in the drop folder that are new or changed since the last call (see
    /// docs/images.md); a failing archive is reported, not returned as an
    /// error. Fails only when the folder or its record cannot be used.
    pub fn import_drop_folder(&self) -> Result<DropReport, Error> {
        let dir = self.drop_folder();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock = dir.join(LOCK_FILE);
        let _lock = FileLock::exclusive(&lock).map_err(io_err(&lock))?;
        let record_path = dir.join(RECORD_FILE);
        let mut record = read_record(&record_path)?;
        let listing = list(&dir)?;
        let mut report = DropReport::default();
        let load: Vec<&str> = to_load(&record, &listing);
        for (name, stamp) in &listing {
            let file = dir.join(name);
            if !load.contains(&name.as_str()) {
                report.unchanged.push(file);
                continue;
            }
            let outcome = match self.load(&file) {
                Ok(images) => {
                    let ids = images.iter().map(|i| i.id.clone()).collect();
                    report.imported.push(DropImport { file, images });
                    Outcome::Imported(ids)
                }
                Err(error) => {
                    let text = error.to_string();
                    report.failed.push(DropFailure { file, error });
                    Outcome::Failed(text)
                }
            };
            let seen = Seen {
                stamp: *stamp,
                outcome,
            };
            record.files.insert(name.clone(), seen);
            // Written after each file, so that a crash part-way does not load them all again.
            write_record(&record_path, &record)?;
        }
        let before = record.files.len();
        record
            .files
            .retain(|name, _| listing.iter().any(|(n, _)| n == name));
        if record.files.len() != before {
            write_record(&record_path, &record)?;
        }
        Ok(report)
    }
}

/// The candidate files of the folder, by name.
fn list(dir: &Path) -> Result<Vec<(String, Stamp)>, ImportError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if !meta.is_file() {
            continue;
        }
        let stamp = Stamp {
            size: meta.len(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        };
        out.push((name, stamp));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn read_record(path: &Path) -> Result<Record, ImportError> {
    match read_limited(path, MAX_RECORD) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ImportError::DropRecord {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn write_record(path: &Path, record: &Record) -> Result<(), ImportError> {
    let bytes = serde_json::to_vec_pretty(record).expect("the record serialises");
    write_atomic(path, &bytes).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64, mtime_sec: i64) -> Stamp {
        Stamp {
            size,
            mtime_sec,
            mtime_nsec: 0,
        }
    }

    #[test]
    fn only_new_or_changed_files_are_loaded() {
        let mut record = Record::default();
        let seen = |s, outcome| Seen { stamp: s, outcome };
        record.files.insert(
            "done.tar".into(),
            seen(stamp(10, 1), Outcome::Imported(vec![])),
        );
        record.files.insert(
            "bad.tar".into(),
            seen(stamp(5, 1), Outcome::Failed("truncated".into())),
        );
        record.files.insert(
            "fixed.tar".into(),
            seen(stamp(5, 1), Outcome::Failed("truncated".into())),
        );
        let listing = vec![
            ("bad.tar".to_string(), stamp(5, 1)),
            ("done.tar".to_string(), stamp(10, 1)),
            ("fixed.tar".to_string(), stamp(50, 2)),
            ("new.tar".to_string(), stamp(1, 1)),
            ("touched.tar".to_string(), stamp(10, 3)),
        ];
        assert_eq!(
            to_load(&record, &listing),
            ["fixed.tar", "new.tar", "touched.tar"]
        );
    }

    #[test]
    fn record_format() {
        let mut record = Record::default();
        record.files.insert(
            "a.tar".into(),
            Seen {
                stamp: stamp(3, 4),
                outcome: Outcome::Imported(vec![Digest::of(b"")]),
            },
        );
        record.files.insert(
            "b.tar".into(),
            Seen {
                stamp: stamp(3, 4),
                outcome: Outcome::Failed("why".into()),
            },
        );
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"files": {
                "a.tar": {"size": 3, "mtime_sec": 4, "mtime_nsec": 0, "imported": [Digest::of(b"").to_string()]},
                "b.tar": {"size": 3, "mtime_sec": 4, "mtime_nsec": 0, "failed": "why"},
            }})
        );
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(back.files["b.tar"].outcome, Outcome::Failed("why".into()));
    }
}
