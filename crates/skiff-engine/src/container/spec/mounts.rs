//! The container's mounts: Docker's defaults (proc, /dev, devpts, sysfs, cgroup, mqueue, shm),
//! the prepared /etc files, and the config's volumes, binds and tmpfs mounts.
//!
//! As in Docker, a mount of the config replaces a default mount at the same target (and one at
//! `/dev` replaces all of `/dev/…`); the config's mounts come after the defaults, parents
//! before children (sorted by depth, otherwise in the given order).

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::{SpecContext, SpecError};
use crate::container::config::{ContainerConfig, MountConfig};
use crate::storage::volumes::valid_volume_name;

/// Docker's default size of /dev/shm.
const SHM_SIZE: u64 = 64 << 20;

fn mount(destination: &str, typ: &str, source: impl Into<PathBuf>, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.into()));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

fn bind(source: &Path, destination: &str, read_only: bool) -> Mount {
    let mut options = vec!["rbind", "rprivate"];
    if read_only {
        options.push("ro");
    }
    mount(destination, "bind", source, &options)
}

fn default_mounts() -> Vec<Mount> {
    let shm_size = format!("size={SHM_SIZE}");
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ]
}

/// `path` without `.`, `..` (not above `/`), repeated or trailing slashes.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn target_of(m: &MountConfig) -> &str {
    match m {
        MountConfig::Volume { target, .. }
        | MountConfig::Bind { target, .. }
        | MountConfig::Tmpfs { target, .. } => target,
    }
}

/// The checks that need nothing but the config.
fn validate(cfg: &ContainerConfig) -> Result<Vec<String>, SpecError> {
    let mut targets: Vec<String> = Vec::new();
    for (i, m) in cfg.mounts.iter().enumerate() {
        let field = |name: &str| format!("mounts[{i}].{name}");
        let target = target_of(m);
        if !target.starts_with('/') || target.contains('\0') {
            return Err(SpecError::RelativePath {
                field: field("target"),
                path: target.to_string(),
            });
        }
        let target = clean(target);
        if target == "/" {
            return Err(SpecError::RootTarget {
                field: field("target"),
            });
        }
        if target == "/proc" || target.starts_with("/proc/") {
            return Err(SpecError::ProcTarget {
                field: field("target"),
                target,
            });
        }
        if let Some(first) = targets.iter().position(|t| *t == target) {
            return Err(SpecError::DuplicateTarget {
                field: field("target"),
                target,
                first,
            });
        }
        targets.push(target);
        match m {
            MountConfig::Volume { name, .. } if !valid_volume_name(name) => {
                return Err(SpecError::InvalidVolumeName {
                    field: field("name"),
                    name: name.clone(),
                })
            }
            MountConfig::Bind { source, .. } if !source.is_absolute() => {
                return Err(SpecError::RelativePath {
                    field: field("source"),
                    path: source.display().to_string(),
                })
            }
            MountConfig::Tmpfs { size: Some(0), .. } => {
                return Err(SpecError::TmpfsSize {
                    field: field("size"),
                })
            }
            MountConfig::Tmpfs {
                mode: Some(mode), ..
            } if *mode > 0o7777 => {
                return Err(SpecError::TmpfsMode {
                    field: field("mode"),
                    mode: *mode,
                })
            }
            _ => {}
        }
    }
    Ok(targets)
}

/// Checks the config's mounts when a container is created: targets absolute, not `/`, not
/// twice; volume names valid; bind sources absolute and present on this host; tmpfs sizes and
/// modes sane.
pub fn check_mounts(cfg: &ContainerConfig) -> Result<(), SpecError> {
    validate(cfg)?;
    for (i, m) in cfg.mounts.iter().enumerate() {
        if let MountConfig::Bind { source, .. } = m {
            fs::metadata(source).map_err(|e| SpecError::BindSource {
                field: format!("mounts[{i}].source"),
                path: source.clone(),
                source: e,
            })?;
        }
    }
    Ok(())
}

/// All mounts of the spec, in order.
pub(super) fn mounts(cfg: &ContainerConfig, ctx: &SpecContext) -> Result<Vec<Mount>, SpecError> {
    let targets = validate(cfg)?;
    let mut own = Vec::new();
    for (i, (m, target)) in cfg.mounts.iter().zip(&targets).enumerate() {
        own.push(match m {
            MountConfig::Volume {
                name, read_only, ..
            } => {
                let path =
                    ctx.volume_paths
                        .get(name)
                        .ok_or_else(|| SpecError::VolumeNotPrepared {
                            field: format!("mounts[{i}].name"),
                            name: name.clone(),
                        })?;
                bind(path, target, *read_only)
            }
            MountConfig::Bind {
                source, read_only, ..
            } => bind(source, target, *read_only),
            MountConfig::Tmpfs { size, mode, .. } => {
                let mode = format!("mode={:o}", mode.unwrap_or(0o1777));
                let size = size.map(|s| format!("size={s}"));
                let mut options = vec!["nosuid", "nodev", &mode];
                options.extend(size.as_deref());
                mount(target, "tmpfs", "tmpfs", &options)
            }
        });
    }
    let files = [
        ("/etc/hosts", &ctx.hosts_file),
        ("/etc/hostname", &ctx.hostname_file),
        ("/etc/resolv.conf", &ctx.resolv_conf),
    ];
    for (target, file) in files {
        if let Some(file) = file {
            if !targets.iter().any(|t| t == target) {
                own.push(bind(file, target, cfg.read_only));
            }
        }
    }
    let replaced = |m: &Mount| {
        let dest = m.destination().to_string_lossy();
        own.iter().any(|o| {
            let o = o.destination().to_string_lossy();
            o == dest || (o == "/dev" && dest.starts_with("/dev/"))
        })
    };
    let mut out: Vec<Mount> = default_mounts()
        .into_iter()
        .filter(|m| !replaced(m))
        .collect();
    own.sort_by_key(|m| m.destination().components().count());
    out.extend(own);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned() {
        for (path, want) in [
            ("/a/b/", "/a/b"),
            ("//a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../..", "/"),
            ("/", "/"),
        ] {
            assert_eq!(clean(path), want, "{path}");
        }
    }
}
