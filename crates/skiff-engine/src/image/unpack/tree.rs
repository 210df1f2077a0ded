//! The layer directory, changed only through file descriptors under its root.
//!
//! Every directory an entry lands in is opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)` from the root (or, where the kernel lacks openat2,
//! by a walk with `O_NOFOLLOW`), so no symlink in the layer is ever followed and nothing is
//! reached outside it; the entry itself is made with `*at` calls that never follow a final
//! symlink (`O_CREAT|O_EXCL|O_NOFOLLOW`, `mkdirat`, `symlinkat`, `linkat` without
//! `AT_SYMLINK_FOLLOW`, `mknodat`) and its metadata set through its descriptor or with
//! `AT_SYMLINK_NOFOLLOW`. Symlink targets are written as they are, absolute ones included, and
//! never read.
//!
//! Directories that entries land in are kept open (a bounded cache: tar streams list a
//! directory's files together); the cache is emptied whenever a directory is removed, so a
//! cached descriptor always names the directory now at its path.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use super::headers::{Headers, Xattr};
use super::name::{display, Name};
use super::sys::{copy, fset_xattr, is_type, lset_xattr, open_beneath, proc_path};
use super::UnpackError;

/// Directories kept open at most.
const CACHE_MAX: usize = 256;

/// The layer directory being filled.
#[derive(Debug)]
pub(super) struct Tree {
    root: Rc<OwnedFd>,
    dirs: HashMap<Vec<u8>, Rc<OwnedFd>>,
    /// Directory modification times, set at the end (creating children changes them).
    times: Vec<(Vec<u8>, TimeSpec)>,
}

/// Why a directory could not be opened.
enum Walk {
    /// `through` (a prefix of the path) is a symlink.
    Symlink { through: Vec<u8> },
    /// A system call failed.
    Failed { op: &'static str, errno: Errno },
}

fn entry_err<'a>(name: &'a [u8], op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
    move |errno| UnpackError::Entry {
        entry: display(name),
        op,
        source: io::Error::from(errno),
    }
}

/// Opens the (existing) layer directory `dest`.
pub(super) fn open_root(dest: &Path) -> Result<OwnedFd, UnpackError> {
    nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| UnpackError::Io {
        path: dest.to_path_buf(),
        source: errno.into(),
    })
}

impl Tree {
    /// The tree under the directory `root`.
    pub(super) fn new(root: OwnedFd) -> Self {
        Tree {
            root: Rc::new(root),
            dirs: HashMap::new(),
            times: Vec::new(),
        }
    }

    /// The directory at `path`, creating missing ones (0755, as Docker and GNU tar do for
    /// directories an archive does not list).
    fn dir_fd(&mut self, path: &[u8]) -> Result<Rc<OwnedFd>, Walk> {
        if path.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some(fd) = self.dirs.get(path) {
            return Ok(fd.clone());
        }
        let fd = match open_beneath(self.root.as_fd(), path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => self.walk(path)?,
            Err(errno) => {
                return Err(Walk::Failed {
                    op: "opening its directory",
                    errno,
                })
            }
        };
        Ok(self.remember(path, fd))
    }

    fn remember(&mut self, path: &[u8], fd: OwnedFd) -> Rc<OwnedFd> {
        if self.dirs.len() >= CACHE_MAX {
            self.dirs.clear();
        }
        let fd = Rc::new(fd);
        self.dirs.insert(path.to_vec(), fd.clone());
        fd
    }

    /// Opens `path` one component at a time, making missing directories and telling which
    /// component is a symlink or not a directory.
    fn walk(&mut self, path: &[u8]) -> Result<OwnedFd, Walk> {
        let mut dir: Option<OwnedFd> = None;
        let mut end = 0;
        for component in path.split(|&b| b == b'/') {
            end += component.len();
            let at = dir.as_ref().map_or(self.root.as_fd(), |d| d.as_fd());
            let open = || {
                openat(
                    at,
                    component,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
            };
            let opened = match open() {
                Err(Errno::ENOENT) => match mkdirat(at, component, Mode::from_bits_truncate(0o755))
                {
                    // Exactly 0755, whatever the umask.
                    Ok(()) => fchmodat(
                        at,
                        component,
                        Mode::from_bits_truncate(0o755),
                        FchmodatFlags::FollowSymlink,
                    )
                    .and_then(|()| open()),
                    Err(Errno::EEXIST) => open(),
                    Err(errno) => {
                        return Err(Walk::Failed {
                            op: "creating a missing directory",
                            errno,
                        })
                    }
                },
                other => other,
            };
            dir = Some(match opened {
                Ok(fd) => fd,
                Err(errno @ (Errno::ENOTDIR | Errno::ELOOP)) => {
                    let symlink = fstatat(at, component, AtFlags::AT_SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| is_type(st.st_mode, libc::S_IFLNK));
                    if symlink {
                        return Err(Walk::Symlink {
                            through: path[..end].to_vec(),
                        });
                    }
                    return Err(Walk::Failed {
                        op: "opening its directory",
                        errno,
                    });
                }
                Err(errno) => {
                    return Err(Walk::Failed {
                        op: "opening its directory",
                        errno,
                    })
                }
            });
            end += 1;
        }
        dir.ok_or(Walk::Failed {
            op: "opening its directory",
            errno: Errno::ENOENT,
        })
    }

    /// The directory `name` lands in.
    fn parent(&mut self, name: &Name) -> Result<Rc<OwnedFd>, UnpackError> {
        self.dir_fd(name.parent()).map_err(|walk| match walk {
            Walk::Symlink { through } => UnpackError::ThroughSymlink {
                entry: name.display(),
                through: display(&through),
            },
            Walk::Failed { op, errno } => entry_err(name.as_bytes(), op)(errno),
        })
    }

    /// Removes whatever is at `file_name` in `parent` (a directory with its content).
    fn clear(
        &mut self,
        parent: &OwnedFd,
        file_name: &[u8],
        entry: &[u8],
    ) -> Result<(), UnpackError> {
        let st = fstatat(parent, file_name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(entry_err(entry, "looking at what it replaces"))?;
        if !is_type(st.st_mode, libc::S_IFDIR) {
            return unlinkat(parent, file_name, UnlinkatFlags::NoRemoveDir)
                .map_err(entry_err(entry, "removing what it replaces"));
        }
        // std's remove_dir_all opens each directory with O_NOFOLLOW and works from its
        // descriptor; the start is reached through this process's descriptor for `parent`.
        let path = proc_path(parent, file_name);
        let path = PathBuf::from(OsString::from_vec(path.into_bytes()));
        self.dirs.clear();
        std::fs::remove_dir_all(&path).map_err(|source| UnpackError::Entry {
            entry: display(entry),
            op: "removing the directory it replaces",
            source,
        })
    }

    /// Runs `make`; if the name is taken, clears it and runs `make` again (the last entry for
    /// a name wins, as in tar).
    fn make<T>(
        &mut self,
        parent: &OwnedFd,
        file_name: &[u8],
        entry: &[u8],
        mut make: impl FnMut() -> nix::Result<T>,
    ) -> Result<T, UnpackError> {
        match make() {
            Err(Errno::EEXIST) => {}
            other => return other.map_err(entry_err(entry, "creating")),
        }
        self.clear(parent, file_name, entry)?;
        make().map_err(entry_err(entry, "creating"))
    }

    /// A regular file with the `size` bytes `data` gives, copied through `buf`.
    pub(super) fn file(
        &mut self,
        name: &Name,
        h: &Headers,
        data: &mut dyn Read,
        size: u64,
        buf: &mut [u8],
    ) -> Result<(), UnpackError> {
        let parent = self.parent(name)?;
        let file_name = name.file_name();
        let fd = self.make(&parent, file_name, name.as_bytes(), || {
            openat(
                &*parent,
                file_name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
        })?;
        let mut file = File::from(fd);
        let got = copy(data, &mut file, buf).map_err(|(op, source)| UnpackError::Entry {
            entry: name.display(),
            op,
            source,
        })?;
        if got != size {
            return Err(UnpackError::TruncatedEntry {
                entry: name.display(),
                expected: size,
                got,
            });
        }
        set_owner_mode_xattrs(file.as_fd(), name, h)?;
        futimens(&file, &h.mtime, &h.mtime).map_err(entry_err(name.as_bytes(), "setting times"))
    }

    /// A directory; an existing one is kept (with its content) and given the entry's metadata.
    pub(super) fn dir(&mut self, name: &Name, h: &Headers) -> Result<(), UnpackError> {
        let fd = if name.is_root() {
            self.root.clone()
        } else {
            let parent = self.parent(name)?;
            let file_name = name.file_name();
            let mode = Mode::from_bits_truncate(0o700);
            match mkdirat(&*parent, file_name, mode) {
                Ok(()) => {}
                Err(Errno::EEXIST) => {
                    let is_dir = fstatat(&*parent, file_name, AtFlags::AT_SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| is_type(st.st_mode, libc::S_IFDIR));
                    if !is_dir {
                        self.clear(&parent, file_name, name.as_bytes())?;
                        mkdirat(&*parent, file_name, mode)
                            .map_err(entry_err(name.as_bytes(), "creating"))?;
                    }
                }
                Err(errno) => return Err(entry_err(name.as_bytes(), "creating")(errno)),
            }
            let fd = openat(
                &*parent,
                file_name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(entry_err(name.as_bytes(), "opening"))?;
            // Its files most likely come next.
            self.remember(name.as_bytes(), fd)
        };
        set_owner_mode_xattrs(fd.as_fd(), name, h)?;
        self.times.push((name.as_bytes().to_vec(), h.mtime));
        Ok(())
    }

    /// A symlink to `h.link`, as it is (it is never followed here).
    pub(super) fn symlink(&mut self, name: &Name, h: &Headers) -> Result<(), UnpackError> {
        let parent = self.parent(name)?;
        let file_name = name.file_name();
        self.make(&parent, file_name, name.as_bytes(), || {
            symlinkat(h.link.as_slice(), &*parent, file_name)
        })?;
        self.set_metadata_at(&parent, name, h, false)
    }

    /// A device node or fifo.
    pub(super) fn node(
        &mut self,
        name: &Name,
        h: &Headers,
        kind: SFlag,
        dev: libc::dev_t,
    ) -> Result<(), UnpackError> {
        let parent = self.parent(name)?;
        let file_name = name.file_name();
        self.make(&parent, file_name, name.as_bytes(), || {
            mknodat(
                &*parent,
                file_name,
                kind,
                Mode::from_bits_truncate(0o600),
                dev,
            )
        })?;
        self.set_metadata_at(&parent, name, h, true)
    }

    /// A hard link to `target`, an entry earlier in the layer.
    pub(super) fn hard_link(&mut self, name: &Name, target: &Name) -> Result<(), UnpackError> {
        if name == target {
            return Ok(());
        }
        let target_dir = self.dir_fd(target.parent()).map_err(|walk| match walk {
            Walk::Symlink { through } => UnpackError::LinkThroughSymlink {
                entry: name.display(),
                target: target.display(),
                through: display(&through),
            },
            Walk::Failed { op, errno } => entry_err(name.as_bytes(), op)(errno),
        })?;
        let parent = self.parent(name)?;
        let file_name = name.file_name();
        self.make(&parent, file_name, name.as_bytes(), || {
            // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
            linkat(
                &*target_dir,
                target.file_name(),
                &*parent,
                file_name,
                AtFlags::empty(),
            )
        })
    }

    /// An overlayfs whiteout: a 0:0 character device named `target`, beside `name`.
    pub(super) fn whiteout(
        &mut self,
        name: &Name,
        target: &[u8],
        h: &Headers,
    ) -> Result<(), UnpackError> {
        let parent = self.parent(name)?;
        self.make(&parent, target, name.as_bytes(), || {
            mknodat(&*parent, target, SFlag::S_IFCHR, Mode::empty(), 0)
        })?;
        fchownat(
            &*parent,
            target,
            Some(Uid::from_raw(h.uid)),
            Some(Gid::from_raw(h.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(entry_err(name.as_bytes(), "changing the owner"))
    }

    /// Marks the directory holding `name` (`.wh..wh..opq`) opaque to overlayfs.
    pub(super) fn opaque(&mut self, name: &Name) -> Result<(), UnpackError> {
        let dir = self.parent(name)?;
        let fd = openat(
            &*dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(entry_err(name.as_bytes(), "opening its directory"))?;
        let xattr = Xattr {
            name: c"trusted.overlay.opaque".to_owned(),
            value: b"y".to_vec(),
        };
        fset_xattr(fd.as_fd(), &xattr).map_err(|source| UnpackError::Xattr {
            entry: name.display(),
            name: "trusted.overlay.opaque".into(),
            source,
        })
    }

    /// Owner, mode (unless a symlink's), xattrs and times of a non-regular file, by name.
    fn set_metadata_at(
        &self,
        parent: &OwnedFd,
        name: &Name,
        h: &Headers,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        let file_name = name.file_name();
        let entry = name.as_bytes();
        fchownat(
            parent,
            file_name,
            Some(Uid::from_raw(h.uid)),
            Some(Gid::from_raw(h.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(entry_err(entry, "changing the owner"))?;
        if chmod {
            // Not a symlink (this entry just made it), so following is the same as not.
            fchmodat(
                parent,
                file_name,
                Mode::from_bits_truncate(h.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(entry_err(entry, "changing the mode"))?;
        }
        if !h.xattrs.is_empty() {
            let path = proc_path(parent, file_name);
            for xattr in &h.xattrs {
                match lset_xattr(&path, xattr) {
                    // The kernel keeps user.* xattrs on regular files and directories only.
                    Err(e)
                        if e.raw_os_error() == Some(libc::EPERM)
                            && xattr.name.to_bytes().starts_with(b"user.") => {}
                    other => other.map_err(|source| xattr_err(name, xattr, source))?,
                }
            }
        }
        utimensat(
            parent,
            file_name,
            &h.mtime,
            &h.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(entry_err(entry, "setting times"))
    }

    /// Sets the directories' times, now that nothing more is created in them.
    pub(super) fn finish(mut self) -> Result<(), UnpackError> {
        self.dirs.clear();
        for (path, time) in &self.times {
            let fd = if path.is_empty() {
                self.root.clone()
            } else {
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
                match open_beneath(self.root.as_fd(), path, flags) {
                    Ok(fd) => Rc::new(fd),
                    // Replaced by a later entry: its time is that entry's.
                    Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                    Err(errno) => return Err(entry_err(path, "opening")(errno)),
                }
            };
            futimens(&*fd, time, time).map_err(entry_err(path, "setting times"))?;
        }
        Ok(())
    }
}

/// Owner, then mode (chown clears setuid and setgid), then xattrs (chown and writes clear
/// `security.capability`), through the entry's descriptor.
fn set_owner_mode_xattrs(fd: BorrowedFd<'_>, name: &Name, h: &Headers) -> Result<(), UnpackError> {
    let entry = name.as_bytes();
    fchown(fd, Some(Uid::from_raw(h.uid)), Some(Gid::from_raw(h.gid)))
        .map_err(entry_err(entry, "changing the owner"))?;
    fchmod(fd, Mode::from_bits_truncate(h.mode)).map_err(entry_err(entry, "changing the mode"))?;
    for xattr in &h.xattrs {
        fset_xattr(fd, xattr).map_err(|source| xattr_err(name, xattr, source))?;
    }
    Ok(())
}

fn xattr_err(name: &Name, xattr: &Xattr, source: io::Error) -> UnpackError {
    UnpackError::Xattr {
        entry: name.display(),
        name: xattr.name.to_string_lossy().into_owned(),
        source,
    }
}
