//! Paths inside the rootfs, resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`: `..` and
//! symlinks (absolute or relative) cannot leave the rootfs, whatever the image contains.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// An open rootfs directory.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

/// The `/proc/self/fd/N` path of an fd, for syscalls that take paths (mount).
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// `path` with `.` and `..` folded lexically and made relative (an empty result is the root).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

impl Root {
    /// Opens the rootfs directory.
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    /// Opens `path` (as seen from inside the container) with O_PATH.
    pub fn open_in(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open_flags(&clean(path), OFlag::O_PATH | OFlag::O_CLOEXEC)
    }

    fn open_flags(&self, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        retry_eagain(|| openat2(self.fd.as_fd(), rel, how)).map_err(io::Error::from)
    }

    /// Makes sure `path` is a directory (creating it and its parents with `mode`) and opens it.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        let rel = clean(path);
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        match self.open_flags(&rel, dir_flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        let (parent, name) = split(&rel)?;
        let parent_fd = self.mkdir_all(parent, mode)?;
        match nix::sys::stat::mkdirat(parent_fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.open_flags(&rel, dir_flags)
    }

    /// Makes sure `path` exists (an empty file if it is new, parents created) and opens it.
    pub fn ensure_file(&self, path: &Path) -> io::Result<OwnedFd> {
        let rel = clean(path);
        match self.open_flags(&rel, OFlag::O_PATH | OFlag::O_CLOEXEC) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        let (parent, name) = split(&rel)?;
        let parent_fd = self.mkdir_all(parent, 0o755)?;
        let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        match nix::fcntl::openat(
            parent_fd.as_fd(),
            name,
            flags,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.open_flags(&rel, OFlag::O_PATH | OFlag::O_CLOEXEC)
    }

    /// Opens (creating if needed) the parent directory of `path` and returns it with the last
    /// component's name.
    pub fn parent_of(&self, path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
        let rel = clean(path);
        let (parent, name) = split(&rel)?;
        Ok((self.mkdir_all(parent, 0o755)?, name.to_path_buf()))
    }
}

fn split(rel: &Path) -> io::Result<(&Path, &Path)> {
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, Path::new(name))),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// openat2 returns EAGAIN when a rename raced with resolution; try a few times.
fn retry_eagain<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_folds_dots_and_clamps_at_root() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(clean(Path::new("/../../etc")), PathBuf::from("etc"));
        assert_eq!(clean(Path::new("/")), PathBuf::new());
    }

    #[test]
    fn symlinks_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().join("root");
        std::fs::create_dir(&root_path).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        // An absolute symlink and a relative one that climb out of the root.
        std::os::unix::fs::symlink(&outside, root_path.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", root_path.join("rel")).unwrap();
        let root = Root::open(&root_path).unwrap();
        // Dangling inside the root: refused rather than followed out.
        root.mkdir_all(Path::new("/rel/made"), 0o755).unwrap_err();
        root.ensure_file(Path::new("/abs/file")).unwrap_err();
        // Once the link's target exists inside the root, it is used there.
        std::fs::create_dir(root_path.join("outside")).unwrap();
        root.mkdir_all(Path::new("/rel/made"), 0o755).unwrap();
        assert!(
            !outside.join("made").exists(),
            "escaped through a relative symlink"
        );
        assert!(
            !outside.join("file").exists(),
            "escaped through an absolute symlink"
        );
        // The relative link resolves inside the root: ../../outside → /outside in the root.
        assert!(root_path.join("outside/made").is_dir());
    }

    #[test]
    fn ensure_file_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        root.ensure_file(Path::new("/etc/hosts")).unwrap();
        assert!(dir.path().join("etc/hosts").is_file());
        root.mkdir_all(Path::new("/a/b/c"), 0o755).unwrap();
        assert!(dir.path().join("a/b/c").is_dir());
    }
}
