//! Capabilities: Docker's default set, changed by `cap_add` and `cap_drop` as Docker changes
//! it (moby's `TweakCapabilities`).

use oci_spec::runtime::Capability;

use super::SpecError;

/// Docker's default capabilities.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability, by its name without `CAP_`.
const ALL: [(&str, Capability); 41] = [
    ("CHOWN", Capability::Chown),
    ("DAC_OVERRIDE", Capability::DacOverride),
    ("DAC_READ_SEARCH", Capability::DacReadSearch),
    ("FOWNER", Capability::Fowner),
    ("FSETID", Capability::Fsetid),
    ("KILL", Capability::Kill),
    ("SETGID", Capability::Setgid),
    ("SETUID", Capability::Setuid),
    ("SETPCAP", Capability::Setpcap),
    ("LINUX_IMMUTABLE", Capability::LinuxImmutable),
    ("NET_BIND_SERVICE", Capability::NetBindService),
    ("NET_BROADCAST", Capability::NetBroadcast),
    ("NET_ADMIN", Capability::NetAdmin),
    ("NET_RAW", Capability::NetRaw),
    ("IPC_LOCK", Capability::IpcLock),
    ("IPC_OWNER", Capability::IpcOwner),
    ("SYS_MODULE", Capability::SysModule),
    ("SYS_RAWIO", Capability::SysRawio),
    ("SYS_CHROOT", Capability::SysChroot),
    ("SYS_PTRACE", Capability::SysPtrace),
    ("SYS_PACCT", Capability::SysPacct),
    ("SYS_ADMIN", Capability::SysAdmin),
    ("SYS_BOOT", Capability::SysBoot),
    ("SYS_NICE", Capability::SysNice),
    ("SYS_RESOURCE", Capability::SysResource),
    ("SYS_TIME", Capability::SysTime),
    ("SYS_TTY_CONFIG", Capability::SysTtyConfig),
    ("MKNOD", Capability::Mknod),
    ("LEASE", Capability::Lease),
    ("AUDIT_WRITE", Capability::AuditWrite),
    ("AUDIT_CONTROL", Capability::AuditControl),
    ("SETFCAP", Capability::Setfcap),
    ("MAC_OVERRIDE", Capability::MacOverride),
    ("MAC_ADMIN", Capability::MacAdmin),
    ("SYSLOG", Capability::Syslog),
    ("WAKE_ALARM", Capability::WakeAlarm),
    ("BLOCK_SUSPEND", Capability::BlockSuspend),
    ("AUDIT_READ", Capability::AuditRead),
    ("PERFMON", Capability::Perfmon),
    ("BPF", Capability::Bpf),
    ("CHECKPOINT_RESTORE", Capability::CheckpointRestore),
];

/// A capability by name, in any case, with or without `CAP_` (`net_admin`, `CAP_NET_ADMIN`).
pub fn parse_capability(name: &str) -> Option<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    ALL.iter().find(|(n, _)| *n == bare).map(|(_, c)| *c)
}

/// What one list holds: `ALL` or capabilities.
struct Parsed {
    all: bool,
    caps: Vec<Capability>,
}

fn parse_list(list: &[String], field: &str) -> Result<Parsed, SpecError> {
    let mut out = Parsed {
        all: false,
        caps: Vec::new(),
    };
    for (i, name) in list.iter().enumerate() {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ALL" || upper == "CAP_ALL" {
            out.all = true;
            continue;
        }
        let cap = parse_capability(name).ok_or_else(|| SpecError::UnknownCapability {
            field: format!("{field}[{i}]"),
            name: name.clone(),
        })?;
        if !out.caps.contains(&cap) {
            out.caps.push(cap);
        }
    }
    Ok(out)
}

/// The container's capabilities: `cap_add` containing `ALL` gives every capability but those
/// dropped; `cap_drop` containing `ALL` gives only those added; otherwise Docker's defaults,
/// less those dropped, plus those added (an added capability wins over a drop).
pub fn capabilities(cap_add: &[String], cap_drop: &[String]) -> Result<Vec<Capability>, SpecError> {
    let add = parse_list(cap_add, "cap_add")?;
    let drop = parse_list(cap_drop, "cap_drop")?;
    let caps: Vec<Capability> = if add.all {
        ALL.iter()
            .map(|(_, c)| *c)
            .filter(|c| !drop.caps.contains(c))
            .collect()
    } else if drop.all {
        add.caps
    } else {
        let mut caps: Vec<Capability> = DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !drop.caps.contains(c))
            .collect();
        for c in add.caps {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
        caps
    };
    Ok(caps)
}
