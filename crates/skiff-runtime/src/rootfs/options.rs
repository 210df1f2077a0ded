//! OCI mount options (`["nosuid", "mode=755", "rbind", "ro"]`) → mount(2) flags and data.

use nix::mount::MsFlags;

/// What a spec mount's options mean for mount(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call itself.
    pub flags: MsFlags,
    /// Propagation to set after mounting (shared, slave, …), applied with a second call.
    pub propagation: MsFlags,
    /// Comma-joined filesystem-specific options (`mode=755,size=65536k`).
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
}

/// An option the runtime does not understand and cannot pass to the filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOption(pub String);

/// Parses a spec mount's option list.
pub fn parse(options: &[String]) -> Result<MountOptions, UnsupportedOption> {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: String::new(),
        bind: false,
    };
    let mut data = Vec::new();
    for option in options {
        let (set, clear): (MsFlags, MsFlags) = match option.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "bind" => {
                out.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                out.bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                out.propagation |= propagation(option).unwrap_or(MsFlags::empty());
                continue;
            }
            "tmpcopyup" | "rro" | "rrw" | "rnosuid" | "rnodev" | "rnoexec" | "idmap" | "ridmap"
            | "nosymfollow" | "symfollow" => return Err(UnsupportedOption(option.clone())),
            other => {
                if other.is_empty() || other.contains(',') {
                    return Err(UnsupportedOption(option.clone()));
                }
                data.push(other.to_string());
                continue;
            }
        };
        out.flags = (out.flags | set) & !clear;
    }
    out.data = data.join(",");
    Ok(out)
}

/// The flags for a propagation name (`rslave` → `MS_SLAVE | MS_REC`).
pub fn propagation(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_data_split() {
        let o = parse(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"])).unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn later_options_win() {
        let o = parse(&opts(&["ro", "rw", "noexec", "exec", "nodev"])).unwrap();
        assert_eq!(o.flags, MsFlags::MS_NODEV);
    }

    #[test]
    fn bind_and_propagation() {
        let o = parse(&opts(&["rbind", "ro", "rslave"])).unwrap();
        assert!(o.bind);
        assert_eq!(
            o.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
    }

    #[test]
    fn unsupported_options_are_named() {
        assert_eq!(
            parse(&opts(&["tmpcopyup"])),
            Err(UnsupportedOption("tmpcopyup".into()))
        );
        assert_eq!(parse(&opts(&["a,b"])), Err(UnsupportedOption("a,b".into())));
        assert_eq!(parse(&opts(&[""])), Err(UnsupportedOption("".into())));
    }
}
