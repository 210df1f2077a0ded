//! The container's root filesystem.
//!
//! [`plan`] turns a spec into a list of [`Op`]s — plain data, tested without root — and
//! [`exec`](self::exec) carries them out inside the container's new mount namespace, resolving
//! every target inside the rootfs with `openat2(RESOLVE_IN_ROOT)` so that a symlink planted in an
//! image cannot redirect a mount onto the host.

pub mod exec;
pub mod options;
mod resolve;

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDeviceType, Spec};
use skiff_cgroups::Version;

pub use options::propagation as propagation_flags;

/// Errors while planning the root filesystem (bad spec input).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A mount option is not supported.
    #[error("config.json: `mounts[{index}].options`: \"{option}\" is not supported")]
    UnsupportedOption {
        /// Index of the mount.
        index: usize,
        /// The option.
        option: String,
    },
    /// A mount lacks a source where one is needed.
    #[error("config.json: `mounts[{index}].source`: a bind mount needs a source path")]
    MissingSource {
        /// Index of the mount.
        index: usize,
    },
    /// A device entry is not usable.
    #[error("config.json: `linux.devices[{index}]`: {message}")]
    Device {
        /// Index of the device.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// How to make a mount target that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A directory.
    Dir,
    /// A file if the (bind) source is not a directory, else a directory.
    LikeSource,
}

/// One mount(2) call, with an optional remount to apply flags a bind cannot take at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOp {
    /// Source (a host path for binds, a name such as "proc" otherwise).
    pub source: Option<PathBuf>,
    /// Target, absolute as seen from inside the container.
    pub target: PathBuf,
    /// Filesystem type; `None` for binds.
    pub fstype: Option<String>,
    /// Flags of the first call.
    pub flags: MsFlags,
    /// Filesystem data (`mode=755`).
    pub data: String,
    /// Flags of a second `MS_REMOUNT | MS_BIND` call, for binds with ro/nosuid/….
    pub remount: Option<MsFlags>,
    /// Propagation to set afterwards (empty: none).
    pub propagation: MsFlags,
    /// How to create a missing target.
    pub target_kind: TargetKind,
}

/// A device node to provide in the container's /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOp {
    /// Path inside the container.
    pub path: PathBuf,
    /// 'c' (character), 'b' (block) or 'p' (fifo).
    pub kind: char,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bind-mount the host's node instead of mknod (inside a user namespace, mknod is denied).
    pub bind_from_host: bool,
}

/// One step of setting up the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set the propagation of the whole mount tree (`/`) of the new namespace.
    RootPropagation(MsFlags),
    /// Bind the rootfs onto itself, so that it is a mount point pivot_root accepts.
    BindRootfs,
    /// Mount something inside the rootfs.
    Mount(MountOp),
    /// Create a device node.
    Device(DeviceOp),
    /// Create a symlink `link` → `target` (target is not resolved).
    Symlink {
        /// What the link points to.
        target: PathBuf,
        /// The link, inside the container.
        link: PathBuf,
    },
    /// Make a path inaccessible (ro tmpfs over a directory, /dev/null over a file).
    Mask(PathBuf),
    /// Make a path read-only.
    ReadOnly(PathBuf),
    /// Remount `/` read-only.
    ReadOnlyRoot,
    /// Write a sysctl.
    Sysctl {
        /// Dotted key.
        key: String,
        /// Value.
        value: String,
    },
}

/// The whole root filesystem setup: before the switch of root, the switch, after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Done in the new mount namespace while the host's tree is still visible.
    pub before_pivot: Vec<Op>,
    /// `true`: pivot_root; `false`: chroot (the spec or caller asked for no pivot).
    pub pivot_root: bool,
    /// Propagation of the new root after the switch, if the spec sets one.
    pub root_propagation: Option<MsFlags>,
    /// Done inside the new root.
    pub after_pivot: Vec<Op>,
}

/// What [`plan`] needs besides the spec.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The spec.
    pub spec: &'a Spec,
    /// The bundle, for relative bind sources.
    pub bundle: &'a Path,
    /// Whether the container has a new user namespace.
    pub user_ns: bool,
    /// Whether the container has its own cgroup namespace.
    pub cgroup_ns: bool,
    /// The host's cgroup version.
    pub cgroup_version: Version,
    /// The container's cgroup directory per hierarchy (from the cgroup manager).
    pub cgroup_paths: &'a [(Vec<String>, PathBuf)],
    /// chroot instead of pivot_root.
    pub no_pivot: bool,
}

/// The devices every container gets, as runc provides them.
const DEFAULT_DEVICES: [(&str, i64, i64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Turns the spec into the list of operations that build the container's root filesystem.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let spec = input.spec;
    let linux = spec.linux().as_ref();
    let mut before = vec![
        Op::RootPropagation(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        Op::BindRootfs,
    ];
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let mut has_dev_bind = false;
    let mut has_proc = false;
    let mut has_devpts = false;
    for (index, mount) in mounts.iter().enumerate() {
        let opts = options::parse(mount.options().as_deref().unwrap_or(&[]))
            .map_err(|o| PlanError::UnsupportedOption { index, option: o.0 })?;
        let fstype = mount.typ().as_deref().unwrap_or("");
        let dest = mount.destination().clone();
        let is_bind = opts.bind || fstype == "bind";
        if dest == Path::new("/dev") && is_bind {
            has_dev_bind = true;
        }
        has_proc |= fstype == "proc";
        has_devpts |= fstype == "devpts" && dest == Path::new("/dev/pts");
        if fstype == "cgroup" || fstype == "cgroup2" {
            cgroup_mount(input, dest, &opts, &mut before);
            continue;
        }
        if is_bind {
            let source = mount
                .source()
                .clone()
                .ok_or(PlanError::MissingSource { index })?;
            let source = if source.is_absolute() {
                source
            } else {
                input.bundle.join(source)
            };
            let base = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
            let rest = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
            before.push(Op::Mount(MountOp {
                source: Some(source),
                target: dest,
                fstype: None,
                flags: base | MsFlags::MS_BIND,
                data: String::new(),
                remount: (!rest.is_empty())
                    .then_some(rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT),
                propagation: opts.propagation,
                target_kind: TargetKind::LikeSource,
            }));
        } else {
            before.push(Op::Mount(MountOp {
                source: Some(
                    mount
                        .source()
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(fstype)),
                ),
                target: dest,
                fstype: Some(fstype.to_string()),
                flags: opts.flags,
                data: opts.data,
                remount: None,
                propagation: opts.propagation,
                target_kind: TargetKind::Dir,
            }));
        }
    }
    if !has_dev_bind {
        devices(input, &mut before)?;
        let mut links = vec![];
        if has_proc {
            links.extend([
                ("/proc/self/fd", "/dev/fd"),
                ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"),
                ("/proc/self/fd/2", "/dev/stderr"),
            ]);
            if Path::new("/proc/kcore").exists() {
                links.push(("/proc/kcore", "/dev/core"));
            }
        }
        if has_devpts {
            links.push(("pts/ptmx", "/dev/ptmx"));
        }
        before.extend(links.into_iter().map(|(target, link)| Op::Symlink {
            target: target.into(),
            link: link.into(),
        }));
    }

    let mut after = Vec::new();
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        let mut keys: Vec<_> = sysctl.iter().collect();
        keys.sort();
        after.extend(keys.into_iter().map(|(k, v)| Op::Sysctl {
            key: k.clone(),
            value: v.clone(),
        }));
    }
    if let Some(paths) = linux.and_then(|l| l.readonly_paths().as_ref()) {
        after.extend(paths.iter().map(|p| Op::ReadOnly(p.into())));
    }
    if let Some(paths) = linux.and_then(|l| l.masked_paths().as_ref()) {
        after.extend(paths.iter().map(|p| Op::Mask(p.into())));
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        after.push(Op::ReadOnlyRoot);
    }
    let root_propagation = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(options::propagation);
    Ok(Plan {
        before_pivot: before,
        pivot_root: !input.no_pivot,
        root_propagation,
        after_pivot: after,
    })
}

/// `/sys/fs/cgroup`: on v1 a tmpfs with one bind per hierarchy (as runc does); on v2 the
/// cgroup2 filesystem itself when the container has a cgroup namespace, else a bind of its own
/// cgroup directory.
fn cgroup_mount(
    input: &PlanInput<'_>,
    dest: PathBuf,
    opts: &options::MountOptions,
    ops: &mut Vec<Op>,
) {
    let readonly = opts.flags.contains(MsFlags::MS_RDONLY);
    let flags = opts.flags & !MsFlags::MS_RDONLY;
    let bind_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let ro = if readonly {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    match input.cgroup_version {
        Version::V2 if input.cgroup_ns => ops.push(Op::Mount(MountOp {
            source: Some("cgroup2".into()),
            target: dest,
            fstype: Some("cgroup2".into()),
            flags: opts.flags,
            data: String::new(),
            remount: None,
            propagation: MsFlags::empty(),
            target_kind: TargetKind::Dir,
        })),
        Version::V2 => {
            if let Some((_, path)) = input.cgroup_paths.first() {
                ops.push(bind(path.clone(), dest, bind_flags | ro));
            }
        }
        Version::V1 => {
            ops.push(Op::Mount(MountOp {
                source: Some("tmpfs".into()),
                target: dest.clone(),
                fstype: Some("tmpfs".into()),
                flags,
                data: "mode=755".into(),
                remount: None,
                propagation: MsFlags::empty(),
                target_kind: TargetKind::Dir,
            }));
            for (controllers, path) in input.cgroup_paths {
                let name = controllers.join(",");
                let name = name.strip_prefix("name=").unwrap_or(&name).to_string();
                ops.push(bind(path.clone(), dest.join(&name), bind_flags | ro));
                if controllers.len() > 1 {
                    for c in controllers {
                        ops.push(Op::Symlink {
                            target: name.clone().into(),
                            link: dest.join(c),
                        });
                    }
                }
            }
            if readonly {
                ops.push(Op::Mount(MountOp {
                    source: None,
                    target: dest,
                    fstype: None,
                    flags: flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    data: "mode=755".into(),
                    remount: None,
                    propagation: MsFlags::empty(),
                    target_kind: TargetKind::Dir,
                }));
            }
        }
    }
}

fn bind(source: PathBuf, target: PathBuf, flags: MsFlags) -> Op {
    Op::Mount(MountOp {
        source: Some(source),
        target,
        fstype: None,
        flags: MsFlags::MS_BIND,
        data: String::new(),
        remount: (!flags.is_empty()).then_some(flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT),
        propagation: MsFlags::empty(),
        target_kind: TargetKind::Dir,
    })
}

fn devices(input: &PlanInput<'_>, ops: &mut Vec<Op>) -> Result<(), PlanError> {
    let mut seen = Vec::new();
    if let Some(list) = input
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
    {
        for (index, dev) in list.iter().enumerate() {
            let bad = |message: &str| PlanError::Device {
                index,
                message: message.to_string(),
            };
            let path = dev.path().clone();
            if !path.starts_with("/dev") || path.components().any(|c| c.as_os_str() == "..") {
                return Err(bad("path must be under /dev"));
            }
            let kind = match dev.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => 'c',
                LinuxDeviceType::B => 'b',
                LinuxDeviceType::P => 'p',
                LinuxDeviceType::A => return Err(bad("type \"a\" is only for cgroup rules")),
            };
            seen.push(path.clone());
            ops.push(Op::Device(DeviceOp {
                path,
                kind,
                major: dev.major(),
                minor: dev.minor(),
                mode: dev.file_mode().unwrap_or(0o666),
                uid: dev.uid().unwrap_or(0),
                gid: dev.gid().unwrap_or(0),
                bind_from_host: input.user_ns,
            }));
        }
    }
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = PathBuf::from("/dev").join(name);
        if seen.contains(&path) {
            continue;
        }
        ops.push(Op::Device(DeviceOp {
            path,
            kind: 'c',
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
            bind_from_host: input.user_ns,
        }));
    }
    Ok(())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
