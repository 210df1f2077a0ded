//! Carries out a rootfs [`Plan`](super::Plan) in the container's mount namespace.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{chdir, chroot, fchownat, pivot_root, Gid, Uid};

use super::resolve::{fd_path, Root};
use super::{DeviceOp, MountOp, Op, Plan, TargetKind};

/// Errors while building the root filesystem; each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A mount(2) call failed.
    #[error("mounting {source_name} ({fstype}) on {target}: {errno}")]
    Mount {
        /// What was mounted.
        source_name: String,
        /// Filesystem type or "bind".
        fstype: String,
        /// Target inside the container.
        target: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// A path inside the rootfs could not be created or opened.
    #[error("preparing {path} in the rootfs: {source}")]
    Path {
        /// The path inside the container.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A device node could not be made.
    #[error("creating device {path}: {errno}")]
    Device {
        /// The device path.
        path: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// Switching to the new root failed.
    #[error("{step} into {rootfs}: {errno}")]
    Switch {
        /// Which call.
        step: &'static str,
        /// The rootfs.
        rootfs: PathBuf,
        /// The error.
        errno: Errno,
    },
    /// A sysctl could not be written.
    #[error("setting sysctl {key}: {source}")]
    Sysctl {
        /// The key.
        key: String,
        /// Why.
        source: io::Error,
    },
}

fn path_err(path: &Path) -> impl FnOnce(io::Error) -> RootfsError + '_ {
    move |source| RootfsError::Path {
        path: path.to_path_buf(),
        source,
    }
}

/// Performs the steps that precede the switch of root; returns nothing but errors.
pub fn before_pivot(plan: &Plan, rootfs: &Path) -> Result<(), RootfsError> {
    let mut root: Option<Root> = None;
    for op in &plan.before_pivot {
        match op {
            Op::RootPropagation(flags) => {
                mount_call(None, Path::new("/"), None, *flags, None, Path::new("/"))?;
            }
            Op::BindRootfs => {
                mount_call(
                    Some(rootfs),
                    rootfs,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    Path::new("/"),
                )?;
                // Opened after the bind, so that mounts made through it land on the new mount.
                root = Some(Root::open(rootfs).map_err(path_err(Path::new("/")))?);
            }
            Op::Mount(m) => do_mount(root_of(&root, rootfs)?, m)?,
            Op::Device(d) => device(root_of(&root, rootfs)?, d)?,
            Op::Symlink { target, link } => {
                let root = root_of(&root, rootfs)?;
                let (parent, name) = root.parent_of(link).map_err(path_err(link))?;
                match nix::unistd::symlinkat(target.as_path(), parent.as_fd(), name.as_path()) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(path_err(link)(e.into())),
                }
            }
            other => unreachable!("{other:?} is planned after the pivot"),
        }
    }
    Ok(())
}

fn root_of<'a>(root: &'a Option<Root>, rootfs: &Path) -> Result<&'a Root, RootfsError> {
    root.as_ref().ok_or_else(|| RootfsError::Path {
        path: rootfs.to_path_buf(),
        source: io::Error::other("the rootfs bind must come first"),
    })
}

fn do_mount(root: &Root, m: &MountOp) -> Result<(), RootfsError> {
    let target = match m.target_kind {
        TargetKind::LikeSource if m.source.as_deref().is_some_and(|s| !s.is_dir()) => {
            root.ensure_file(&m.target)
        }
        _ => root.mkdir_all(&m.target, 0o755),
    }
    .map_err(path_err(&m.target))?;
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    mount_call(
        m.source.as_deref(),
        Path::new(&fd_path(&target)),
        m.fstype.as_deref(),
        m.flags,
        data,
        &m.target,
    )?;
    if m.remount.is_none() && m.propagation.is_empty() {
        return Ok(());
    }
    // The fd still points below the new mount; reopen to reach the mount itself.
    let mounted = root.open_in(&m.target).map_err(path_err(&m.target))?;
    let mounted_path = fd_path(&mounted);
    if let Some(flags) = m.remount {
        remount(Path::new(&mounted_path), flags, &m.target)?;
    }
    if !m.propagation.is_empty() {
        mount_call(
            None,
            Path::new(&mounted_path),
            None,
            m.propagation,
            None,
            &m.target,
        )?;
    }
    Ok(())
}

fn device(root: &Root, d: &DeviceOp) -> Result<(), RootfsError> {
    let dev_err = |errno| RootfsError::Device {
        path: d.path.clone(),
        errno,
    };
    if d.bind_from_host {
        let target = root.ensure_file(&d.path).map_err(path_err(&d.path))?;
        return mount_call(
            Some(&d.path),
            Path::new(&fd_path(&target)),
            None,
            MsFlags::MS_BIND,
            None,
            &d.path,
        );
    }
    let (parent, name) = root.parent_of(&d.path).map_err(path_err(&d.path))?;
    let kind = match d.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    match nix::sys::stat::mknodat(
        parent.as_fd(),
        name.as_path(),
        kind,
        Mode::from_bits_truncate(d.mode),
        dev,
    ) {
        Ok(()) => {}
        // An image may ship its own node: replace it with ours.
        Err(Errno::EEXIST) => {
            nix::unistd::unlinkat(
                parent.as_fd(),
                name.as_path(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(dev_err)?;
            nix::sys::stat::mknodat(
                parent.as_fd(),
                name.as_path(),
                kind,
                Mode::from_bits_truncate(d.mode),
                dev,
            )
            .map_err(dev_err)?;
        }
        Err(e) => return Err(dev_err(e)),
    }
    nix::sys::stat::fchmodat(
        parent.as_fd(),
        name.as_path(),
        Mode::from_bits_truncate(d.mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(dev_err)?;
    if d.uid != 0 || d.gid != 0 {
        fchownat(
            parent.as_fd(),
            name.as_path(),
            Some(Uid::from_raw(d.uid)),
            Some(Gid::from_raw(d.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(dev_err)?;
    }
    Ok(())
}

/// Switches the process's root to `rootfs`: pivot_root (then detaches the old root) or, when
/// asked, a move-mount and chroot.
pub fn switch_root(plan: &Plan, rootfs: &Path) -> Result<(), RootfsError> {
    let err = |step| {
        move |errno| RootfsError::Switch {
            step,
            rootfs: rootfs.to_path_buf(),
            errno,
        }
    };
    chdir(rootfs).map_err(err("chdir"))?;
    if plan.pivot_root {
        // pivot_root(".", ".") stacks the old root on top of the new one; detach it after
        // making sure the unmount does not propagate to the host.
        pivot_root(".", ".").map_err(err("pivot_root"))?;
        mount::<str, str, str, str>(None, ".", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
            .map_err(err("making the old root a slave"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(err("detaching the old root"))?;
    } else {
        mount::<str, str, str, str>(Some("."), "/", None, MsFlags::MS_MOVE, None)
            .map_err(err("moving the rootfs to /"))?;
        chroot(".").map_err(err("chroot"))?;
    }
    chdir("/").map_err(err("chdir /"))?;
    if let Some(flags) = plan.root_propagation {
        mount_call(None, Path::new("/"), None, flags, None, Path::new("/"))?;
    }
    Ok(())
}

/// Performs the steps that follow the switch of root.
pub fn after_pivot(plan: &Plan) -> Result<(), RootfsError> {
    for op in &plan.after_pivot {
        match op {
            Op::Sysctl { key, value } => {
                let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
                std::fs::write(&path, value.as_bytes()).map_err(|source| RootfsError::Sysctl {
                    key: key.clone(),
                    source,
                })?;
            }
            Op::ReadOnly(path) => {
                match mount_call(
                    Some(path),
                    path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    path,
                ) {
                    Err(RootfsError::Mount {
                        errno: Errno::ENOENT,
                        ..
                    }) => continue,
                    other => other?,
                }
                remount(
                    path,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
                    path,
                )?;
            }
            Op::Mask(path) => {
                let result = match std::fs::metadata(path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(source) => {
                        return Err(RootfsError::Path {
                            path: path.clone(),
                            source,
                        })
                    }
                    Ok(meta) if meta.is_dir() => mount_call(
                        Some(Path::new("tmpfs")),
                        path,
                        Some("tmpfs"),
                        MsFlags::MS_RDONLY,
                        None,
                        path,
                    ),
                    Ok(_) => mount_call(
                        Some(Path::new("/dev/null")),
                        path,
                        None,
                        MsFlags::MS_BIND,
                        None,
                        path,
                    ),
                };
                result?;
            }
            Op::ReadOnlyRoot => {
                remount(
                    Path::new("/"),
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    Path::new("/"),
                )?;
            }
            other => unreachable!("{other:?} is planned before the pivot"),
        }
    }
    Ok(())
}

/// A remount that keeps the flags the kernel locked on the mount (a user namespace cannot clear
/// nosuid/nodev/noexec/atime flags that the mount had when it was copied in).
fn remount(path: &Path, flags: MsFlags, shown: &Path) -> Result<(), RootfsError> {
    match mount_call(None, path, None, flags, None, shown) {
        Err(RootfsError::Mount {
            errno: Errno::EPERM,
            ..
        }) => {
            let st = nix::sys::statvfs::statvfs(path).map_err(|errno| RootfsError::Mount {
                source_name: "remount".into(),
                fstype: "bind".into(),
                target: shown.to_path_buf(),
                errno,
            })?;
            use nix::sys::statvfs::FsFlags;
            let mut locked = MsFlags::empty();
            for (fs, ms) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if st.flags().contains(fs) {
                    locked |= ms;
                }
            }
            mount_call(None, path, None, flags | locked, None, shown)
        }
        other => other,
    }
}

fn mount_call(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    shown: &Path,
) -> Result<(), RootfsError> {
    mount(source, target, fstype, flags, data).map_err(|errno| RootfsError::Mount {
        source_name: source
            .map(|s| s.display().to_string())
            .unwrap_or_else(|| "none".into()),
        fstype: fstype.unwrap_or("bind").to_string(),
        target: shown.to_path_buf(),
        errno,
    })
}

/// Creates a directory inside the rootfs (e.g. the process's cwd), resolving safely.
pub fn ensure_dir(rootfs: &Path, path: &Path) -> Result<(), RootfsError> {
    let root = Root::open(rootfs).map_err(path_err(path))?;
    root.mkdir_all(path, 0o755).map_err(path_err(path))?;
    Ok(())
}
