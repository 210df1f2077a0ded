//! Helpers shared by the engine's integration tests: an engine on a scratch directory,
//! archive surgery, and checks that the store stayed consistent.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use skiff_engine::{Digest, Engine, EngineOptions};
use tempfile::TempDir;

/// An engine over `<scratch>/data`; the scratch directory also holds the test's archives.
pub struct Setup {
    pub dir: TempDir,
    pub engine: Engine,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = skiff_testkit::image::scratch();
        let engine = Engine::open(EngineOptions::new(dir.path().join("data"))).unwrap();
        Setup { dir, engine }
    }

    /// A path in the scratch directory (outside the data directory).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn data(&self) -> PathBuf {
        self.engine.data_dir().to_path_buf()
    }

    /// The raw index file, if any.
    pub fn index_bytes(&self) -> Option<Vec<u8>> {
        fs::read(self.data().join("images.json")).ok()
    }

    /// Every blob in the store hashes to its name, and no ingest is left behind.
    pub fn assert_store_consistent(&self) {
        let blobs = self.data().join("content/blobs/sha256");
        for entry in fs::read_dir(&blobs).unwrap() {
            let entry = entry.unwrap();
            let bytes = fs::read(entry.path()).unwrap();
            assert_eq!(
                Digest::of(&bytes).hex(),
                entry.file_name().to_str().unwrap(),
                "blob {:?} does not hash to its name",
                entry.file_name()
            );
        }
        let ingest = self.data().join("content/ingest");
        assert_eq!(fs::read_dir(ingest).unwrap().count(), 0, "ingest leftovers");
    }

    /// Loading `path` fails with a message containing every one of `expected`, and leaves the
    /// index as it was and the content store consistent. Returns the message.
    pub fn assert_refused(&self, path: &Path, expected: &[&str]) -> String {
        let before = self.index_bytes();
        let err = self
            .engine
            .load(path)
            .expect_err("the load should have failed")
            .to_string();
        for e in expected {
            assert!(err.contains(e), "error lacks {e:?}: {err}");
        }
        assert_eq!(self.index_bytes(), before, "images.json changed");
        self.assert_store_consistent();
        err
    }
}

/// One entry of a tar being rewritten.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<Vec<u8>>,
}

impl TarEntry {
    pub fn file(name: &str, data: impl Into<Vec<u8>>) -> TarEntry {
        TarEntry {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Regular,
            data: data.into(),
            link: None,
        }
    }

    pub fn symlink(name: &str, target: &str) -> TarEntry {
        TarEntry {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Symlink,
            data: vec![],
            link: Some(target.as_bytes().to_vec()),
        }
    }

    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Every entry of a (plain) tar file.
pub fn read_tar(path: &Path) -> Vec<TarEntry> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(TarEntry {
            name: entry.path_bytes().into_owned(),
            kind: entry.header().entry_type(),
            link: entry.link_name_bytes().map(|l| l.into_owned()),
            data,
        });
    }
    out
}

/// Writes `entries` as a tar at `path`, names written raw (so `../x` and `/x` can be made).
pub fn write_tar(path: &Path, entries: &[TarEntry]) {
    let mut builder = tar::Builder::new(fs::File::create(path).unwrap());
    for e in entries {
        let mut header = tar::Header::new_old();
        let name = &mut header.as_old_mut().name;
        assert!(e.name.len() < name.len(), "name too long for the test tar");
        name[..e.name.len()].copy_from_slice(&e.name);
        if let Some(link) = &e.link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(e.kind);
        header.set_mode(0o644);
        header.set_size(e.data.len() as u64);
        header.set_cksum();
        builder.append(&header, &e.data[..]).unwrap();
    }
    builder.finish().unwrap();
}

/// Gzips a file.
pub fn gzip(from: &Path, to: &Path) {
    let data = fs::read(from).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &data).unwrap();
    fs::write(to, enc.finish().unwrap()).unwrap();
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

pub fn write_json(path: &Path, value: &Value) {
    fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
}

/// Stores `bytes` as a blob of an OCI layout; returns its digest.
pub fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let digest = Digest::of(bytes);
    fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    digest.to_string()
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Rewrites the first manifest of an OCI layout with `edit`, storing it under its new digest
/// and pointing `index.json` at it.
pub fn edit_manifest(layout: &Path, edit: impl FnOnce(&mut Value)) {
    let mut index = read_json(&layout.join("index.json"));
    let old = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut manifest = read_json(&blob_path(layout, &old));
    edit(&mut manifest);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = put_blob(layout, &bytes);
    index["manifests"][0]["digest"] = Value::from(digest);
    index["manifests"][0]["size"] = Value::from(bytes.len());
    write_json(&layout.join("index.json"), &index);
}
