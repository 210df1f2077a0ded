//! The spec's `linux.resources` and `linux.cgroupsPath` in skiff-cgroups' terms.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, LinuxResources, Spec};
use skiff_cgroups::{Blkio, Cpu, DeviceRule, Memory, Pids, Resources};

/// Where containers go when the spec gives no cgroupsPath.
pub const DEFAULT_PARENT: &str = "/skiff";

/// The container's cgroup path: the spec's `linux.cgroupsPath` (relative paths are taken from
/// the hierarchy root), or `/skiff/<id>`.
pub fn path(spec: &Spec, id: &str) -> PathBuf {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
    {
        Some(p) if !p.as_os_str().is_empty() => Path::new("/").join(p),
        _ => Path::new(DEFAULT_PARENT).join(id),
    }
}

/// Converts the spec's resources.
pub fn resources(spec: &Spec) -> Resources {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Resources::default();
    };
    let mut out = convert(r);
    if !out.devices.is_empty() {
        // As runc does: after the spec's rules, allow mknod of anything and the devices every
        // container gets, so that a "deny all" rule does not break /dev/null.
        let rule = |kind, major, minor, access: &str| DeviceRule {
            allow: true,
            kind: Some(kind),
            major,
            minor,
            access: access.to_string(),
        };
        out.devices.push(rule('c', None, None, "m"));
        out.devices.push(rule('b', None, None, "m"));
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
        ] {
            out.devices.push(rule('c', Some(major), Some(minor), "rwm"));
        }
        out.devices.push(rule('c', Some(136), None, "rwm"));
        for d in spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
        {
            let kind = if d.typ() == LinuxDeviceType::B {
                'b'
            } else {
                'c'
            };
            out.devices
                .push(rule(kind, Some(d.major()), Some(d.minor()), "rwm"));
        }
    }
    out
}

fn convert(r: &LinuxResources) -> Resources {
    let mut out = Resources::default();
    if let Some(m) = r.memory() {
        out.memory = Memory {
            limit: m.limit(),
            reservation: m.reservation(),
            swap: m.swap(),
            swappiness: m.swappiness(),
            disable_oom_killer: m.disable_oom_killer(),
        };
    }
    if let Some(c) = r.cpu() {
        out.cpu = Cpu {
            shares: c.shares(),
            quota: c.quota(),
            period: c.period(),
            cpus: c.cpus().clone().filter(|s| !s.is_empty()),
            mems: c.mems().clone().filter(|s| !s.is_empty()),
        };
    }
    if let Some(p) = r.pids() {
        out.pids = Pids {
            limit: Some(p.limit()),
        };
    }
    if let Some(b) = r.block_io() {
        out.blkio = Blkio { weight: b.weight() };
    }
    if let Some(devices) = r.devices() {
        out.devices = devices
            .iter()
            .map(|d| DeviceRule {
                allow: d.allow(),
                kind: match d.typ() {
                    None | Some(LinuxDeviceType::A) => None,
                    Some(LinuxDeviceType::B) => Some('b'),
                    Some(_) => Some('c'),
                },
                major: d.major(),
                minor: d.minor(),
                access: d.access().clone().unwrap_or_else(|| "rwm".into()),
            })
            .collect();
    }
    if let Some(unified) = r.unified() {
        out.unified = unified
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    out
}
