//! The `linux` section: namespaces, cgroup and resources, device rules, sysctls, seccomp,
//! masked and read-only paths — Docker's defaults.

use std::collections::HashMap;

use oci_spec::runtime::{
    Capability, Linux, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxPids,
    LinuxResources,
};

use super::{namespaces, SpecContext, SpecError};
use crate::container::config::{ContainerConfig, NetworkMode};

/// Paths hidden from the container (Docker's list).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only in the container (Docker's list).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The CFS period the CPU limit is expressed in (Docker's).
pub(super) const CPU_PERIOD: u64 = 100_000;

/// The least memory limit or reservation Docker accepts (6 MiB).
pub(super) const MIN_MEMORY: u64 = 6 << 20;

/// The least CPU limit: 1% of a CPU, a quota of 1 ms (the kernel's minimum).
pub(super) const MIN_MILLICPUS: u64 = 10;

pub(super) fn linux(
    cfg: &ContainerConfig,
    ctx: &SpecContext,
    caps: &[Capability],
) -> Result<Linux, SpecError> {
    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces(cfg)));
    linux.set_cgroups_path(Some(ctx.cgroups_path.clone().into()));
    linux.set_resources(Some(resources(cfg)?));
    linux.set_devices(None);
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_rootfs_propagation(None);
    linux.set_mount_label(None);
    let mut sysctl = HashMap::new();
    if cfg.network != NetworkMode::Host {
        // Docker ≥ 20.10: any user may bind low ports and ping in its own network namespace.
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    linux.set_sysctl(Some(sysctl));
    linux.set_seccomp(Some(skiff_runtime::seccomp::docker_default(caps)));
    linux.set_masked_paths(Some(MASKED_PATHS.map(String::from).to_vec()));
    linux.set_readonly_paths(Some(READONLY_PATHS.map(String::from).to_vec()));
    Ok(linux)
}

fn signed(field: &str, value: u64) -> Result<i64, SpecError> {
    i64::try_from(value).map_err(|_| SpecError::TooLarge {
        field: field.into(),
        value,
    })
}

fn at_least(field: &str, value: u64, min: u64) -> Result<(), SpecError> {
    if value < min {
        return Err(SpecError::TooLow {
            field: field.into(),
            value,
            min,
        });
    }
    Ok(())
}

/// Memory, CPU and pids limits, and Docker's device rules.
fn resources(cfg: &ContainerConfig) -> Result<LinuxResources, SpecError> {
    let r = &cfg.resources;
    let mut out = LinuxResources::default();
    out.set_devices(Some(devices()));
    if r.memory.is_some() || r.memory_reservation.is_some() {
        let mut memory = LinuxMemory::default();
        if let Some(limit) = r.memory {
            at_least("resources.memory", limit, MIN_MEMORY)?;
            memory.set_limit(Some(signed("resources.memory", limit)?));
        }
        if let Some(reservation) = r.memory_reservation {
            let field = "resources.memory_reservation";
            at_least(field, reservation, MIN_MEMORY)?;
            if let Some(limit) = r.memory.filter(|l| reservation > *l) {
                return Err(SpecError::ReservationAboveLimit { reservation, limit });
            }
            memory.set_reservation(Some(signed(field, reservation)?));
        }
        out.set_memory(Some(memory));
    }
    if let Some(millicpus) = r.millicpus {
        let field = "resources.millicpus";
        at_least(field, millicpus, MIN_MILLICPUS)?;
        let quota =
            millicpus
                .checked_mul(CPU_PERIOD / 1000)
                .ok_or_else(|| SpecError::TooLarge {
                    field: field.into(),
                    value: millicpus,
                })?;
        let mut cpu = LinuxCpu::default();
        cpu.set_quota(Some(signed(field, quota)?));
        cpu.set_period(Some(CPU_PERIOD));
        out.set_cpu(Some(cpu));
    }
    // As Docker, 0 and negative numbers mean no limit.
    if let Some(pids) = r.pids.filter(|p| *p > 0) {
        let mut limit = LinuxPids::default();
        limit.set_limit(pids);
        out.set_pids(Some(limit));
    }
    Ok(out)
}

/// Docker's device cgroup rules: deny everything, then allow creating any device node and
/// using the ones /dev holds (null, zero, full, random, urandom, tty, console, ptys); fuse
/// stays denied.
fn devices() -> Vec<LinuxDeviceCgroup> {
    let rule = |allow: bool,
                typ: LinuxDeviceType,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(allow);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.into()));
        d
    };
    use LinuxDeviceType::{A, B, C};
    vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, None, None, "m"),
        rule(true, B, None, None, "m"),
        rule(true, C, Some(1), Some(3), "rwm"),
        rule(true, C, Some(1), Some(5), "rwm"),
        rule(true, C, Some(1), Some(7), "rwm"),
        rule(true, C, Some(1), Some(8), "rwm"),
        rule(true, C, Some(1), Some(9), "rwm"),
        rule(true, C, Some(5), Some(0), "rwm"),
        rule(true, C, Some(5), Some(1), "rwm"),
        rule(true, C, Some(5), Some(2), "rwm"),
        rule(true, C, Some(136), None, "rwm"),
        // runc's example spec also denies c 10:229 (fuse) after the wildcard `c *:* m`; on
        // cgroup v1 runc cannot take a device out of a wildcard rule and refuses the whole
        // spec, and the rule only withdraws mknod of /dev/fuse. Left out.
    ]
}
