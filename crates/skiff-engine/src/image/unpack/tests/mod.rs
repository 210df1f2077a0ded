//! Unpack tests: tar streams built in memory, unpacked into a temporary directory beside an
//! "outside" directory that must stay empty. They need root (owners, devices, trusted.*).

mod content;
mod escape;
mod stream;

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::{unpack, UnpackError, UnpackLimits, UnpackStats};
use crate::image::media::Compression;

/// Default mtime of built entries.
const MTIME: u64 = 1_600_000_000;

/// A layer directory `layer` and its sibling `outside`, in a temporary directory.
struct Fixture {
    _tmp: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        Fixture {
            _tmp: tmp,
            dest,
            outside,
        }
    }

    fn unpack(&self, tar: &[u8]) -> Result<UnpackStats, UnpackError> {
        self.unpack_with(tar, Compression::None, &UnpackLimits::default())
    }

    fn unpack_with(
        &self,
        blob: &[u8],
        compression: Compression,
        limits: &UnpackLimits,
    ) -> Result<UnpackStats, UnpackError> {
        unpack(&mut &blob[..], compression, &self.dest, limits)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }

    /// Nothing was written outside the layer.
    fn assert_outside_untouched(&self) {
        let left: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "written outside the layer: {left:?}");
    }
}

/// Builds tar streams, including ones `tar::Builder` refuses to write.
struct Tar(tar::Builder<Vec<u8>>);

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl Tar {
    fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.file_with(path, data, |_| {})
    }

    fn file_with(&mut self, path: &str, data: &[u8], edit: impl FnOnce(&mut Header)) -> &mut Self {
        let mut h = header(EntryType::Regular, 0o644, data.len() as u64);
        edit(&mut h);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.dir_with(path, |_| {})
    }

    fn dir_with(&mut self, path: &str, edit: impl FnOnce(&mut Header)) -> &mut Self {
        let mut h = header(EntryType::Directory, 0o755, 0);
        edit(&mut h);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.symlink_with(path, target, |_| {})
    }

    fn symlink_with(
        &mut self,
        path: &str,
        target: &str,
        edit: impl FnOnce(&mut Header),
    ) -> &mut Self {
        let mut h = header(EntryType::Symlink, 0o777, 0);
        edit(&mut h);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    fn node(
        &mut self,
        path: &str,
        kind: EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = header(kind, mode, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// An entry with `name` and `link` written into the header as they are (the builder
    /// refuses `..` and absolute names).
    fn raw(&mut self, kind: EntryType, name: &[u8], link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = header(kind, 0o644, data.len() as u64);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    /// PAX records for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// The archive, with its end-of-archive marker.
    fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

fn lstat(path: &Path) -> fs::Metadata {
    fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An xattr of `path` itself (not following a symlink).
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 65536];
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}
