//! The system calls the tree needs beyond nix's: resolution beneath a root, xattrs, a
//! buffered copy.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use super::headers::Xattr;

/// Opens `path` (relative, no `.`/`..`/empty components) under `root` without following any
/// symlink or crossing a mount.
pub(super) fn open_beneath(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlag,
) -> nix::Result<OwnedFd> {
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_XDEV,
    );
    match openat2(root, path, how) {
        // No openat2 (a kernel before 5.6, or a seccomp filter).
        Err(Errno::ENOSYS | Errno::EPERM) => open_walk(root, path, flags),
        other => other,
    }
}

/// [`open_beneath`] without openat2: one component at a time, each with O_NOFOLLOW (as strict,
/// since components are never `..`), though without the check for mount points.
fn open_walk(root: BorrowedFd<'_>, path: &[u8], flags: OFlag) -> nix::Result<OwnedFd> {
    let mut components = path.split(|&b| b == b'/').peekable();
    let mut dir: Option<OwnedFd> = None;
    while let Some(component) = components.next() {
        let at = dir.as_ref().map_or(root, |d| d.as_fd());
        let flags = match components.peek() {
            Some(_) => OFlag::O_PATH | OFlag::O_DIRECTORY,
            None => flags,
        };
        dir = Some(openat(
            at,
            component,
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?);
    }
    dir.ok_or(Errno::ENOENT)
}

/// Whether `st_mode` is of file type `kind` (`S_IFDIR`, …).
pub(super) fn is_type(st_mode: libc::mode_t, kind: libc::mode_t) -> bool {
    st_mode & libc::S_IFMT == kind
}

/// Copies `data` into `file` in `buf`-sized writes; returns the bytes copied, or which side
/// failed.
pub(super) fn copy(
    data: &mut dyn Read,
    file: &mut File,
    buf: &mut [u8],
) -> Result<u64, (&'static str, io::Error)> {
    let mut total = 0;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match data.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(("reading its data", e)),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        file.write_all(&buf[..filled]).map_err(|e| ("writing", e))?;
        total += filled as u64;
        if filled < buf.len() {
            return Ok(total);
        }
    }
}

/// `/proc/self/fd/<dir>/<name>`: a path to `name` in `dir` for the calls that have no `*at`
/// form (the last component is not followed by the `l*` calls).
pub(super) fn proc_path(dir: &OwnedFd, name: &[u8]) -> CString {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    // Names are checked for NUL bytes when parsed; an empty path fails the call instead.
    CString::new(path).unwrap_or_default()
}

/// Sets an xattr through a descriptor.
pub(super) fn fset_xattr(fd: BorrowedFd<'_>, xattr: &Xattr) -> io::Result<()> {
    // SAFETY: the name is NUL-terminated and the value pointer and length describe a live slice.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            xattr.name.as_ptr(),
            xattr.value.as_ptr().cast(),
            xattr.value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets an xattr on a path, not following a final symlink.
pub(super) fn lset_xattr(path: &CStr, xattr: &Xattr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and the value pointer and length describe a
    // live slice.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            xattr.name.as_ptr(),
            xattr.value.as_ptr().cast(),
            xattr.value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn both_ways_refuse_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        symlink("a", tmp.path().join("s")).unwrap();
        symlink("/", tmp.path().join("a/up")).unwrap();
        let root = nix::fcntl::open(
            tmp.path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let dir = OFlag::O_PATH | OFlag::O_DIRECTORY;
        for open in [open_beneath, open_walk] {
            assert!(open(root.as_fd(), b"a/b", dir).is_ok());
            for through in [&b"s/b"[..], b"s", b"a/up", b"a/up/tmp"] {
                let err = open(root.as_fd(), through, dir).unwrap_err();
                assert!(matches!(err, Errno::ELOOP | Errno::ENOTDIR), "{err}");
            }
        }
    }
}
