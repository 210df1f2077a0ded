//! [`MountSpec`]: a mount described as data, and [`mount`]/[`unmount`], which carry it out.
//!
//! Overlay mounts take the new mount API (`fsopen`/`fsconfig`/`fsmount`/`move_mount`) where the
//! kernel has overlayfs' `lowerdir+` key (Linux 6.8): each lower directory is then its own
//! call, so there is no limit on the number of layers. Elsewhere the classic `mount(2)` takes
//! all options in one page; when the absolute lower paths do not fit, the relative short names
//! are used from the layer store as working directory. The working directory is shared by all
//! threads of a process, so that is done on a helper thread that first unshares it
//! (`unshare(CLONE_FS)`): callers may be multi-threaded.

use std::ffi::CString;
use std::fs::DirBuilder;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::mount::{umount2, MntFlags, MsFlags};

use super::{io_err, StorageError};

/// One mount, described: what [`overlay`](super::overlay()) returns and [`mount`] performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// The filesystem type (`overlay`).
    pub fstype: String,
    /// The source (`overlay`; a device or path for other types).
    pub source: String,
    /// The mount point (absolute).
    pub target: PathBuf,
    /// Mount options in `mount -o` form (`index=off`, `lowerdir=l/A:l/B`, `ro`).
    pub options: Vec<String>,
    /// The directory that relative `lowerdir` entries are relative to (the layer store).
    pub base_dir: Option<PathBuf>,
    /// Directories [`mount`] creates first when missing (the upper and work directories, the
    /// mount point, the empty lower directory of an image without layers).
    pub mkdirs: Vec<PathBuf>,
}

impl MountSpec {
    /// The options as one string of classic mount data (comma-separated).
    pub fn data(&self) -> String {
        self.options.join(",")
    }

    /// The options with relative `lowerdir` entries made absolute against
    /// [`base_dir`](Self::base_dir).
    pub fn absolute_options(&self) -> Vec<String> {
        self.options
            .iter()
            .map(|o| match o.strip_prefix("lowerdir=") {
                Some(_) => {
                    let lowers: Vec<String> = self
                        .lowers()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    format!("lowerdir={}", lowers.join(":"))
                }
                None => o.clone(),
            })
            .collect()
    }

    /// The lower directories, topmost first, made absolute.
    pub fn lowers(&self) -> Vec<PathBuf> {
        let base = self.base_dir.as_deref().unwrap_or(Path::new("/"));
        self.options
            .iter()
            .filter_map(|o| o.strip_prefix("lowerdir="))
            .flat_map(|v| v.split(':'))
            .filter(|l| !l.is_empty())
            .map(|l| base.join(l))
            .collect()
    }
}

/// How [`mount_with`] mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountMethod {
    /// For overlay, the new mount API with one `lowerdir+` per layer where the kernel has
    /// it; otherwise (and for other types) [`MountData`](Self::MountData).
    #[default]
    Auto,
    /// The new mount API only (fails on kernels before 6.8 for overlay).
    NewApi,
    /// Classic `mount(2)` with all options in one page, relative to the base directory when
    /// the absolute paths do not fit.
    MountData,
}

/// Performs `spec`: creates its [`mkdirs`](MountSpec::mkdirs), then mounts.
pub fn mount(spec: &MountSpec) -> Result<(), StorageError> {
    mount_with(spec, MountMethod::Auto)
}

/// Performs `spec` by the given method.
pub fn mount_with(spec: &MountSpec, method: MountMethod) -> Result<(), StorageError> {
    for dir in &spec.mkdirs {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err(dir))?;
    }
    let new_api = match method {
        MountMethod::NewApi => true,
        MountMethod::MountData => false,
        // Other types gain nothing from the new API (and binds would need open_tree).
        MountMethod::Auto => spec.fstype == "overlay" && has_lowerdir_append(),
    };
    if new_api {
        match fsmount::mount(spec) {
            Err(fsmount::Failure::Unsupported(_)) if method == MountMethod::Auto => {}
            Err(fsmount::Failure::Unsupported(e) | fsmount::Failure::Failed(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
    mount_data(spec)
}

/// Unmounts `target`. A target that is not a mount point (or does not exist) is fine; a busy
/// mount is detached lazily; mounts stacked on the target are all removed.
pub fn unmount(target: &Path) -> Result<(), StorageError> {
    for _ in 0..16 {
        let result = match umount2(target, MntFlags::UMOUNT_NOFOLLOW) {
            Err(nix::Error::EBUSY) => {
                umount2(target, MntFlags::UMOUNT_NOFOLLOW | MntFlags::MNT_DETACH)
            }
            other => other,
        };
        match result {
            Ok(()) => continue,
            Err(nix::Error::EINVAL | nix::Error::ENOENT) => return Ok(()),
            Err(e) => {
                return Err(StorageError::Unmount {
                    target: target.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}

/// Whether overlayfs takes `lowerdir+` (Linux 6.8 and later).
fn has_lowerdir_append() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        nix::sys::utsname::uname()
            .ok()
            .and_then(|u| kernel_version(&u.release().to_string_lossy()))
            .is_some_and(|v| v >= (6, 8))
    })
}

/// `(major, minor)` of a kernel release string (`6.18.44-fc`).
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Splits options into `mount(2)` flags and filesystem data.
fn split_flags(options: &[String]) -> (MsFlags, Vec<&str>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            other => data.push(other),
        }
    }
    (flags, data)
}

fn mount_data(spec: &MountSpec) -> Result<(), StorageError> {
    let max = page_size() - 1;
    let absolute = spec.absolute_options();
    let (flags, data) = split_flags(&absolute);
    let data = data.join(",");
    let mount_err = |source: io::Error| StorageError::Mount {
        fstype: spec.fstype.clone(),
        target: spec.target.clone(),
        source,
        option: None,
        detail: None,
    };
    if data.len() <= max || spec.base_dir.is_none() {
        if data.len() > max {
            return Err(too_long(spec, data.len(), max));
        }
        return sys_mount(spec, flags, &data, None).map_err(mount_err);
    }
    let (flags, relative) = split_flags(&spec.options);
    let relative = relative.join(",");
    if relative.len() > max {
        return Err(too_long(spec, relative.len(), max));
    }
    sys_mount(spec, flags, &relative, spec.base_dir.as_deref()).map_err(mount_err)
}

fn too_long(spec: &MountSpec, len: usize, max: usize) -> StorageError {
    StorageError::OptionsTooLong {
        target: spec.target.clone(),
        len,
        max,
    }
}

/// `mount(2)`, from `cwd` when given: on a helper thread with its own working directory, so
/// that no other thread of the process sees the change.
fn sys_mount(spec: &MountSpec, flags: MsFlags, data: &str, cwd: Option<&Path>) -> io::Result<()> {
    let call = || {
        nix::mount::mount(
            Some(spec.source.as_str()),
            &spec.target,
            Some(spec.fstype.as_str()),
            flags,
            Some(data),
        )
        .map_err(io::Error::from)
    };
    let Some(cwd) = cwd else {
        return call();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
            std::env::set_current_dir(cwd)?;
            call()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("mount thread panicked")))
    })
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |n| n as usize)
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The new mount API through raw system calls (libc has the numbers, not wrappers).
mod fsmount {
    use super::*;

    /// Why the new API did not mount.
    pub(super) enum Failure {
        /// The kernel lacks the API or the `lowerdir+` key: the classic call may work.
        Unsupported(StorageError),
        /// A real failure.
        Failed(StorageError),
    }

    pub(super) fn mount(spec: &MountSpec) -> Result<(), Failure> {
        let fail_at = |source: io::Error, option: Option<String>, detail: Option<String>| {
            StorageError::Mount {
                fstype: spec.fstype.clone(),
                target: spec.target.clone(),
                source,
                option,
                detail,
            }
        };
        let fail = |source: io::Error, detail: Option<String>| fail_at(source, None, detail);
        let fstype = cstring(spec.fstype.as_bytes()).map_err(|e| Failure::Failed(fail(e, None)))?;
        // SAFETY: a valid NUL-terminated string and a flag; the result is checked.
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENOSYS | libc::EPERM) => Failure::Unsupported(fail(e, None)),
                _ => Failure::Failed(fail(e, None)),
            });
        }
        // SAFETY: fsopen returned a new descriptor that nothing else owns.
        let fs = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut attrs = 0u64;
        let mut params: Vec<(&str, Option<Vec<u8>>)> = Vec::new();
        for option in &spec.options {
            let (key, value) = match option.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (option.as_str(), None),
            };
            if let Some(attr) = mount_attr(key) {
                attrs |= attr;
            } else if key == "lowerdir" {
                let lowers = spec.lowers().into_iter();
                params.extend(lowers.map(|l| ("lowerdir+", Some(l.into_os_string().into_vec()))));
            } else {
                params.push((key, value.map(|v| v.as_bytes().to_vec())));
            }
        }
        let first_lower = params.iter().position(|(k, _)| *k == "lowerdir+");
        for (i, (key, value)) in params.iter().enumerate() {
            if let Err(e) = set(&fs, key, value.as_deref()) {
                if Some(i) == first_lower && e.raw_os_error() == Some(libc::EINVAL) {
                    return Err(Failure::Unsupported(fail(e, log(&fs))));
                }
                let option = match value {
                    Some(v) => format!("{key}={}", String::from_utf8_lossy(v)),
                    None => key.to_string(),
                };
                return Err(Failure::Failed(fail_at(e, Some(option), log(&fs))));
            }
        }
        let created = command(&fs, libc::FSCONFIG_CMD_CREATE);
        created.map_err(|e| Failure::Failed(fail(e, log(&fs))))?;
        // SAFETY: a descriptor we own, flags and attributes; the result is checked.
        let mfd = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                fs.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                attrs,
            )
        };
        if mfd < 0 {
            let e = io::Error::last_os_error();
            return Err(Failure::Failed(fail(e, log(&fs))));
        }
        // SAFETY: fsmount returned a new descriptor that nothing else owns.
        let mnt = unsafe { OwnedFd::from_raw_fd(mfd as i32) };
        let target = cstring(spec.target.as_os_str().as_bytes())
            .map_err(|e| Failure::Failed(fail(e, None)))?;
        // SAFETY: a descriptor we own, an empty path with MOVE_MOUNT_F_EMPTY_PATH and a valid
        // target string; the result is checked.
        let moved = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mnt.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if moved < 0 {
            return Err(Failure::Failed(fail(io::Error::last_os_error(), None)));
        }
        Ok(())
    }

    /// Options that are mount attributes rather than filesystem parameters.
    fn mount_attr(key: &str) -> Option<u64> {
        Some(match key {
            "ro" => libc::MOUNT_ATTR_RDONLY,
            "nosuid" => libc::MOUNT_ATTR_NOSUID,
            "nodev" => libc::MOUNT_ATTR_NODEV,
            "noexec" => libc::MOUNT_ATTR_NOEXEC,
            "noatime" => libc::MOUNT_ATTR_NOATIME,
            "strictatime" => libc::MOUNT_ATTR_STRICTATIME,
            "nodiratime" => libc::MOUNT_ATTR_NODIRATIME,
            "rw" | "relatime" => 0,
            _ => return None,
        })
    }

    fn set(fs: &OwnedFd, key: &str, value: Option<&[u8]>) -> io::Result<()> {
        let key = cstring(key.as_bytes())?;
        let value = value.map(cstring).transpose()?;
        let (cmd, ptr) = match &value {
            Some(v) => (libc::FSCONFIG_SET_STRING, v.as_ptr()),
            None => (libc::FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: a descriptor we own and NUL-terminated strings (or NULL for a flag).
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                key.as_ptr(),
                ptr,
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn command(fs: &OwnedFd, cmd: libc::c_uint) -> io::Result<()> {
        // SAFETY: a descriptor we own and a command that takes no key or value.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The messages the kernel logged on the filesystem context (`e overlay: …`).
    fn log(fs: &OwnedFd) -> Option<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..16 {
            // SAFETY: reading into a buffer we own, within its length.
            let n = unsafe { libc::read(fs.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf[..n as usize]);
            let line = line.trim_end();
            let line = line
                .strip_prefix("e ")
                .or_else(|| line.strip_prefix("w "))
                .or_else(|| line.strip_prefix("i "))
                .unwrap_or(line);
            out.push(line.to_string());
        }
        (!out.is_empty()).then(|| out.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &[&str]) -> MountSpec {
        MountSpec {
            fstype: "overlay".into(),
            source: "overlay".into(),
            target: "/t".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            base_dir: Some("/layers".into()),
            mkdirs: vec![],
        }
    }

    #[test]
    fn lowers_are_made_absolute_in_order() {
        let s = spec(&["index=off", "lowerdir=l/B:l/A", "upperdir=/u", "workdir=/w"]);
        assert_eq!(
            s.lowers(),
            vec![PathBuf::from("/layers/l/B"), PathBuf::from("/layers/l/A")]
        );
        assert_eq!(
            s.absolute_options(),
            vec![
                "index=off",
                "lowerdir=/layers/l/B:/layers/l/A",
                "upperdir=/u",
                "workdir=/w"
            ]
        );
        assert_eq!(
            s.data(),
            "index=off,lowerdir=l/B:l/A,upperdir=/u,workdir=/w"
        );
    }

    #[test]
    fn flags_are_split_from_data() {
        let opts: Vec<String> = ["ro", "nosuid", "size=10", "mode=1777", "rbind"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = split_flags(&opts);
        assert_eq!(
            flags,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC
        );
        assert_eq!(data, vec!["size=10", "mode=1777"]);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("5.10.0-28-amd64"), Some((5, 10)));
        assert_eq!(kernel_version("6.8"), Some((6, 8)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
