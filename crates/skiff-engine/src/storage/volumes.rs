//! Named volumes: `<data>/volumes/<name>/_data`, with `volume.json` (creation time, labels)
//! beside it, as Docker lays them out.
//!
//! A volume is built in a hidden temporary directory and renamed into place, so one is
//! either absent or whole, and two processes creating the same volume agree on one (the
//! second rename fails and that process uses the first's). Removal renames the volume away
//! first, so it is never seen half-removed. Whether a volume is in use is the caller's
//! question. [`copy_up`] fills a new volume from the image, as Docker does on first use.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{
    fchmod, fstatat, mkdirat, mknodat, utimensat, FileStat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use serde::{Deserialize, Serialize};

use crate::fsutil::{random_hex, read_limited, write_atomic};

/// The directory of a volume that holds its content.
const DATA: &str = "_data";
/// The volume's metadata file.
const META: &str = "volume.json";
/// Deepest directory tree [`copy_up`] copies.
const MAX_DEPTH: usize = 256;

/// What can go wrong with volumes.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A name outside `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`.
    #[error("{name:?} is not a volume name (a letter or digit, then up to 127 of letters, digits, '_', '.', '-')")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// No such volume.
    #[error("no volume {name:?} (skiff volume ls lists them)")]
    NotFound {
        /// The name.
        name: String,
    },
    /// [`VolumeStore::create`] of a name that exists.
    #[error("volume {name:?} already exists")]
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `volume.json` is not readable as one.
    #[error("{path}: not a volume description: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The image's directory is deeper than [`copy_up`] follows.
    #[error("{path}: more than {MAX_DEPTH} directory levels to copy into the volume")]
    TooDeep {
        /// The directory in the image where it stopped.
        path: PathBuf,
    },
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> VolumeError {
    let path = path.into();
    move |source| VolumeError::Io { path, source }
}

/// Whether `name` is a volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}` (Docker's rule, so it
/// is also a safe directory name).
pub fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// One volume, as [`VolumeStore::inspect`] describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// The host directory mounted into containers.
    pub data: PathBuf,
}

/// What `volume.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    created: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The volumes under one directory (`<data>/volumes`).
#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: PathBuf,
}

impl VolumeStore {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path) -> Result<Self, VolumeError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        Ok(VolumeStore {
            root: root.to_path_buf(),
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, name: &str) -> Result<PathBuf, VolumeError> {
        if !valid_volume_name(name) {
            return Err(VolumeError::InvalidName {
                name: name.to_string(),
            });
        }
        Ok(self.root.join(name))
    }

    /// Creates the volume `name` with `labels`; an error if it exists.
    pub fn create(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Volume, VolumeError> {
        if self.build(name, labels)? {
            self.inspect(name)
        } else {
            Err(VolumeError::AlreadyExists {
                name: name.to_string(),
            })
        }
    }

    /// The volume's data directory, creating the volume (without labels) on first use.
    pub fn ensure(&self, name: &str) -> Result<PathBuf, VolumeError> {
        let dir = self.dir(name)?;
        if !dir.join(DATA).is_dir() {
            self.build(name, &BTreeMap::new())?;
        }
        Ok(dir.join(DATA))
    }

    /// Builds the volume in a temporary directory and renames it into place; `false` if
    /// another one got there first.
    fn build(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<bool, VolumeError> {
        let dir = self.dir(name)?;
        let tmp = self.root.join(format!(".tmp-{}", random_hex(8)));
        let result = (|| {
            fs::create_dir(&tmp).map_err(io_err(&tmp))?;
            fs::create_dir(tmp.join(DATA)).map_err(io_err(tmp.join(DATA)))?;
            let meta = Meta {
                created: crate::engine::now(),
                labels: labels.clone(),
            };
            let text = serde_json::to_vec_pretty(&meta).map_err(|e| VolumeError::Corrupt {
                path: tmp.join(META),
                source: e,
            })?;
            write_atomic(&tmp.join(META), &text).map_err(io_err(tmp.join(META)))?;
            match fs::rename(&tmp, &dir) {
                Ok(()) => Ok(true),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
                    Ok(false)
                }
                Err(e) => Err(io_err(&dir)(e)),
            }
        })();
        let _ = fs::remove_dir_all(&tmp);
        result
    }

    /// Describes the volume `name`.
    pub fn inspect(&self, name: &str) -> Result<Volume, VolumeError> {
        let dir = self.dir(name)?;
        let path = dir.join(META);
        let text = match read_limited(&path, 1 << 20) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound {
                    name: name.to_string(),
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let meta: Meta = serde_json::from_slice(&text)
            .map_err(|source| VolumeError::Corrupt { path, source })?;
        Ok(Volume {
            name: name.to_string(),
            created: meta.created,
            labels: meta.labels,
            data: dir.join(DATA),
        })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(String::from) else {
                continue;
            };
            // Temporaries start with a dot, which no volume name does.
            if !valid_volume_name(&name) {
                continue;
            }
            match self.inspect(&name) {
                Ok(v) => out.push(v),
                Err(VolumeError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes the volume `name` and its content (the caller checks that no container uses
    /// it).
    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        let dir = self.dir(name)?;
        let trash = self.root.join(format!(".rm-{}", random_hex(8)));
        match fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound {
                    name: name.to_string(),
                })
            }
            Err(e) => return Err(io_err(&dir)(e)),
        }
        fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }

    /// Deletes leftovers of interrupted creations and removals (call when no other process
    /// is creating or removing volumes in this store).
    pub fn clean_tmp(&self) -> Result<(), VolumeError> {
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let name = entry.file_name();
            let name = name.as_bytes();
            if name.starts_with(b".tmp-") || name.starts_with(b".rm-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }
}

/// Copies what the image has at `target` (a path in the container) into the volume directory
/// `data`, as Docker fills a volume on first use: only when `data` is empty and the image has
/// a directory there. Owners, modes and times are kept, also of `data` itself; hard links
/// become copies. The image's side is opened with `openat2(RESOLVE_IN_ROOT)` and walked by
/// descriptor without following links, so a symbolic link in the image cannot make it copy
/// host files; the volume's side is written by descriptor too. Returns whether it copied.
pub fn copy_up(rootfs: &Path, target: &str, data: &Path) -> Result<bool, VolumeError> {
    let mut entries = fs::read_dir(data).map_err(io_err(data))?;
    if entries.next().is_some() {
        return Ok(false);
    }
    let root = fs::File::open(rootfs).map_err(io_err(rootfs))?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = target.trim_start_matches('/');
    let src = match openat2(root.as_fd(), if rel.is_empty() { "." } else { rel }, how) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT | nix::Error::ENOTDIR) => return Ok(false),
        Err(e) => return Err(io_err(rootfs.join(rel))(e.into())),
    };
    let dst = open_dir(None, data.as_os_str()).map_err(io_err(data))?;
    let src_path = Path::new("/").join(rel);
    copy_dir(&src, &dst, &src_path, data, 0)?;
    let st = nix::sys::stat::fstat(&src).map_err(|e| io_err(&src_path)(e.into()))?;
    set_attrs(dst.as_fd(), None, &st).map_err(io_err(data))?;
    Ok(true)
}

fn open_dir(parent: Option<BorrowedFd<'_>>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match parent {
        Some(p) => openat(p, name, flags, Mode::empty()),
        None => nix::fcntl::open(name, flags, Mode::empty()),
    };
    fd.map_err(io::Error::from)
}

/// Owner, mode and times of `st` onto `name` in `dir` (or onto `dir` itself).
fn set_attrs(dir: BorrowedFd<'_>, name: Option<&OsStr>, st: &FileStat) -> io::Result<()> {
    let (uid, gid) = (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    );
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match name {
        Some(name) => {
            fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if kind == SFlag::S_IFDIR || kind == SFlag::S_IFREG {
                // chown clears set-id bits: the mode goes after it.
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let flags = flags | OFlag::O_NONBLOCK;
                let fd = openat(dir, name, flags, Mode::empty())?;
                fchmod(&fd, mode)?;
            }
        }
        None => {
            nix::unistd::fchown(dir, uid, gid)?;
            fchmod(dir, mode)?;
        }
    }
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    let (target, flag): (&OsStr, _) = match name {
        Some(n) => (n, UtimensatFlags::NoFollowSymlink),
        None => (OsStr::new("."), UtimensatFlags::FollowSymlink),
    };
    utimensat(dir, target, &atime, &mtime, flag)?;
    Ok(())
}

fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    src_path: &Path,
    dst_path: &Path,
    depth: usize,
) -> Result<(), VolumeError> {
    if depth > MAX_DEPTH {
        return Err(VolumeError::TooDeep {
            path: src_path.to_path_buf(),
        });
    }
    let dup = src.try_clone().map_err(io_err(src_path))?;
    let mut dir = Dir::from_fd(dup).map_err(|e| io_err(src_path)(e.into()))?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|e| io_err(src_path)(e.into()))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    for name in names {
        let from = src_path.join(&name);
        let to = dst_path.join(&name);
        copy_entry(src, dst, &name, &from, &to, depth)?;
    }
    Ok(())
}

fn copy_entry(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &OsStr,
    from: &Path,
    to: &Path,
    depth: usize,
) -> Result<(), VolumeError> {
    let st =
        fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|e| io_err(from)(e.into()))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o777);
    let at_to = |e: nix::Error| io_err(to)(e.into());
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(dst, name, Mode::from_bits_truncate(0o700)).map_err(at_to)?;
            let s = open_dir(Some(src.as_fd()), name).map_err(io_err(from))?;
            let d = open_dir(Some(dst.as_fd()), name).map_err(io_err(to))?;
            copy_dir(&s, &d, from, to, depth + 1)?;
        }
        SFlag::S_IFREG => {
            let read = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
            let s = openat(src, name, read, Mode::empty()).map_err(|e| io_err(from)(e.into()))?;
            let write = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
            let d = openat(
                dst,
                name,
                write | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(at_to)?;
            io::copy(&mut fs::File::from(s), &mut fs::File::from(d)).map_err(io_err(to))?;
        }
        SFlag::S_IFLNK => {
            let link = nix::fcntl::readlinkat(src, name).map_err(|e| io_err(from)(e.into()))?;
            symlinkat(link.as_os_str(), dst, name).map_err(at_to)?;
        }
        SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
            mknodat(dst, name, kind, perm, st.st_rdev).map_err(at_to)?;
        }
        // Sockets are not content.
        _ => return Ok(()),
    }
    set_attrs(dst.as_fd(), Some(name), &st).map_err(io_err(to))
}

#[cfg(test)]
#[path = "volumes_tests.rs"]
mod tests;
