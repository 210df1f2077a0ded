//! The limits a cgroup can carry, as plain data (shaped after the OCI runtime spec), and the
//! conversions both cgroup versions share.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Every limit this crate can apply; `None` (or an empty list) leaves the current value alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Memory and swap limits.
    pub memory: Memory,
    /// CPU time and placement.
    pub cpu: Cpu,
    /// The process count limit.
    pub pids: Pids,
    /// Block I/O weight.
    pub blkio: Blkio,
    /// Device access rules, applied in order (v1 only; see [`crate::v2`]).
    pub devices: Vec<DeviceRule>,
    /// Raw cgroup v2 files to write (`memory.high` → `"1G"`); refused on v1 when non-empty.
    pub unified: BTreeMap<String, String>,
}

/// Memory limits, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// Hard limit; negative means unlimited.
    pub limit: Option<i64>,
    /// Soft limit (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub reservation: Option<i64>,
    /// Memory plus swap, as in OCI; -1 means unlimited and 0 means unset (as runc treats it).
    pub swap: Option<i64>,
    /// How eagerly the kernel swaps this cgroup's memory, 0–100 (v1 only).
    pub swappiness: Option<u64>,
    /// Whether to pause instead of OOM-killing when the limit is hit (v1 only).
    pub disable_oom_killer: Option<bool>,
}

/// CPU limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpu {
    /// Relative weight (v1 `cpu.shares`, converted to v2 `cpu.weight`); 0 leaves it alone.
    pub shares: Option<u64>,
    /// CPU time allowed per period, in microseconds; zero or negative means unlimited.
    pub quota: Option<i64>,
    /// The period the quota applies to, in microseconds.
    pub period: Option<u64>,
    /// The CPUs the processes may run on, in list format (`0-3,6`).
    pub cpus: Option<String>,
    /// The memory nodes the processes may allocate from, in list format.
    pub mems: Option<String>,
}

/// Process count limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pids {
    /// The most processes (and threads) the cgroup may hold; zero or negative means unlimited.
    pub limit: Option<i64>,
}

/// Block I/O limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blkio {
    /// Relative weight, 10–1000 (converted to v2 `io.weight`); 0 leaves it alone.
    pub weight: Option<u16>,
}

/// One device access rule, in the OCI sense.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRule {
    /// Whether the rule grants (`true`) or revokes (`false`) access.
    pub allow: bool,
    /// `'a'` (all), `'b'` (block) or `'c'` (char); `None` means all.
    pub kind: Option<char>,
    /// The device major number; `None` means any.
    pub major: Option<i64>,
    /// The device minor number; `None` means any.
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m` (read, write, mknod).
    pub access: String,
}

impl DeviceRule {
    /// The rule as a v1 `devices.allow`/`devices.deny` line, such as `c 1:3 rwm` or `a *:* rwm`.
    pub(crate) fn v1_entry(&self) -> Result<String> {
        let kind = self.kind.unwrap_or('a');
        if !matches!(kind, 'a' | 'b' | 'c') {
            return Err(invalid(
                "devices.type",
                format!("{kind:?} is not one of 'a', 'b', 'c'"),
            ));
        }
        if self.access.is_empty() || !self.access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(invalid(
                "devices.access",
                format!(
                    "{:?} must be a non-empty combination of r, w and m",
                    self.access
                ),
            ));
        }
        let number = |n: Option<i64>| {
            n.filter(|n| *n >= 0)
                .map_or("*".to_string(), |n| n.to_string())
        };
        Ok(format!(
            "{kind} {}:{} {}",
            number(self.major),
            number(self.minor),
            self.access
        ))
    }
}

/// An [`Error::InvalidResource`] for `field`.
pub(crate) fn invalid(field: &str, reason: String) -> Error {
    Error::InvalidResource {
        field: field.to_string(),
        reason,
    }
}

/// The memory+swap limit to apply, or `None` to leave it: -1 for unlimited, else bytes.
///
/// As in runc, an unlimited memory limit with no swap given makes swap unlimited too (the
/// kernel would refuse a memory limit above the memory+swap limit otherwise).
pub(crate) fn memory_and_swap(memory: &Memory) -> Result<Option<i64>> {
    let limit = memory.limit;
    match memory.swap {
        None | Some(0) => Ok(limit.filter(|l| *l < 0).map(|_| -1)),
        Some(swap) if swap < 0 => Ok(Some(-1)),
        Some(swap) => match limit {
            Some(limit) if limit > 0 && swap < limit => Err(invalid(
                "memory.swap",
                format!(
                    "{swap} is memory+swap and must be at least the memory limit ({limit}), \
                     or -1 for unlimited"
                ),
            )),
            _ => Ok(Some(swap)),
        },
    }
}

/// The v2 `memory.swap.max` value (swap alone, where OCI gives memory+swap), or `None`.
pub(crate) fn v2_swap_max(memory: &Memory) -> Result<Option<String>> {
    match memory_and_swap(memory)? {
        None => Ok(None),
        Some(-1) => Ok(Some("max".to_string())),
        Some(total) => match memory.limit {
            Some(limit) if limit > 0 => Ok(Some((total - limit).to_string())),
            _ => Err(invalid(
                "memory.swap",
                format!(
                    "{total} is memory+swap, which cgroup v2 can only apply together with a \
                     memory limit; set memory.limit too"
                ),
            )),
        },
    }
}

/// The v2 `cpu.weight` for v1 `cpu.shares`, with runc's formula; `None` for 0 (unset).
pub(crate) fn cpu_weight(shares: u64) -> Option<u64> {
    if shares == 0 {
        return None;
    }
    // The kernel clamps shares to 2..=262144 on v1; clamping here keeps the weight in 1..=10000.
    let shares = shares.clamp(2, 262_144);
    Some(1 + ((shares - 2) * 9999) / 262_142)
}

/// The v2 `io.weight` for a v1 blkio weight (10–1000); `None` for 0 (unset).
pub(crate) fn io_weight(weight: u16) -> Result<Option<u64>> {
    match weight {
        0 => Ok(None),
        10..=1000 => Ok(Some(1 + (u64::from(weight) - 10) * 9999 / 990)),
        _ => Err(invalid(
            "blkio.weight",
            format!("{weight} is outside 10..=1000"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(limit: Option<i64>, swap: Option<i64>) -> Memory {
        Memory {
            limit,
            swap,
            ..Memory::default()
        }
    }

    #[test]
    fn swap_conversions() {
        let mib = 1 << 20;
        assert_eq!(
            v2_swap_max(&mem(Some(64 * mib), Some(96 * mib))).unwrap(),
            Some((32 * mib).to_string())
        );
        assert_eq!(
            v2_swap_max(&mem(Some(64 * mib), Some(64 * mib))).unwrap(),
            Some("0".into())
        );
        assert_eq!(
            v2_swap_max(&mem(Some(64 * mib), Some(-1))).unwrap(),
            Some("max".into())
        );
        assert_eq!(
            v2_swap_max(&mem(Some(-1), None)).unwrap(),
            Some("max".into())
        );
        assert_eq!(v2_swap_max(&mem(Some(64 * mib), None)).unwrap(), None);
        assert_eq!(v2_swap_max(&mem(Some(64 * mib), Some(0))).unwrap(), None);
        assert!(matches!(
            v2_swap_max(&mem(Some(64 * mib), Some(mib))),
            Err(Error::InvalidResource { .. })
        ));
        assert!(matches!(
            v2_swap_max(&mem(None, Some(mib))),
            Err(Error::InvalidResource { .. })
        ));
        assert_eq!(memory_and_swap(&mem(None, Some(mib))).unwrap(), Some(mib));
    }

    #[test]
    fn cpu_weight_matches_runc() {
        assert_eq!(cpu_weight(0), None);
        assert_eq!(cpu_weight(1), Some(1));
        assert_eq!(cpu_weight(2), Some(1));
        assert_eq!(cpu_weight(512), Some(20));
        assert_eq!(cpu_weight(1024), Some(39));
        assert_eq!(cpu_weight(262_144), Some(10_000));
        assert_eq!(cpu_weight(1 << 30), Some(10_000));
    }

    #[test]
    fn io_weight_conversion() {
        assert_eq!(io_weight(0).unwrap(), None);
        assert_eq!(io_weight(10).unwrap(), Some(1));
        assert_eq!(io_weight(500).unwrap(), Some(4950));
        assert_eq!(io_weight(1000).unwrap(), Some(10_000));
        assert!(io_weight(5).is_err());
    }

    #[test]
    fn device_entries() {
        let all = DeviceRule {
            allow: false,
            access: "rwm".into(),
            ..DeviceRule::default()
        };
        assert_eq!(all.v1_entry().unwrap(), "a *:* rwm");
        let null = DeviceRule {
            allow: true,
            kind: Some('c'),
            major: Some(1),
            minor: Some(3),
            access: "rw".into(),
        };
        assert_eq!(null.v1_entry().unwrap(), "c 1:3 rw");
        let any_minor = DeviceRule {
            kind: Some('b'),
            major: Some(8),
            minor: None,
            ..null.clone()
        };
        assert_eq!(any_minor.v1_entry().unwrap(), "b 8:* rw");
        assert!(DeviceRule {
            kind: Some('x'),
            ..null.clone()
        }
        .v1_entry()
        .is_err());
        assert!(DeviceRule {
            access: "rwx".into(),
            ..null
        }
        .v1_entry()
        .is_err());
    }
}
