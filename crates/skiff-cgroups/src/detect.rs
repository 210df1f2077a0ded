//! Finding the host's cgroup hierarchies in the mount table.

use std::path::{Path, PathBuf};

use crate::{fs, Error, Result, Version};

/// Where the host's cgroup hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1: one mount per controller or group of co-mounted controllers.
    V1 {
        /// Every v1 mount, in mount-table order (named ones such as `name=systemd` included).
        hierarchies: Vec<Hierarchy>,
    },
    /// cgroup v2: the unified hierarchy.
    V2 {
        /// Where the unified hierarchy is mounted, normally `/sys/fs/cgroup`.
        root: PathBuf,
    },
}

impl Layout {
    /// The cgroup version of this layout.
    pub fn version(&self) -> Version {
        match self {
            Layout::V1 { .. } => Version::V1,
            Layout::V2 { .. } => Version::V2,
        }
    }
}

/// One cgroup v1 mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The controllers mounted together here (`["cpu", "cpuacct"]`, or `["name=systemd"]`).
    pub controllers: Vec<String>,
    /// The mount point.
    pub mount: PathBuf,
}

impl Hierarchy {
    /// Whether `controller` is mounted in this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The mount table [`detect`] reads.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Where systemd and every distribution mount cgroups.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers the kernel knows; other super options (`rw`, `xattr`, `noprefix`, …) are
/// mount flags, not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// Reads `/proc/self/mountinfo` once and works out the host's [`Layout`].
pub fn detect() -> Result<Layout> {
    detect_from(&fs::read(Path::new(MOUNTINFO))?)
}

/// Works out the [`Layout`] from the text of a `/proc/self/mountinfo`.
///
/// A cgroup2 mount at `/sys/fs/cgroup` (the last mount there wins) means v2. Otherwise any v1
/// mounts mean v1 — a cgroup2 mount elsewhere, such as a hybrid host's `/sys/fs/cgroup/unified`,
/// is ignored. A host with only a cgroup2 mount elsewhere uses that mount as v2.
pub fn detect_from(mountinfo: &str) -> Result<Layout> {
    let mut at_root_is_v2 = false;
    let mut other_v2 = None;
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
    for (index, line) in mountinfo.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mount = parse_line(line).map_err(|reason| Error::Parse {
            path: PathBuf::from(MOUNTINFO),
            line: index + 1,
            reason,
        })?;
        if mount.point == Path::new(CGROUP_ROOT) {
            at_root_is_v2 = mount.fstype == "cgroup2";
        }
        match mount.fstype {
            "cgroup2" => {
                other_v2.get_or_insert(mount.point);
            }
            "cgroup" => {
                let controllers: Vec<String> = mount
                    .super_options
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                // The same hierarchy can be mounted twice (bind mounts); the first one serves.
                if !controllers.is_empty()
                    && !hierarchies.iter().any(|h| h.controllers == controllers)
                {
                    hierarchies.push(Hierarchy {
                        controllers,
                        mount: mount.point,
                    });
                }
            }
            _ => {}
        }
    }
    if at_root_is_v2 {
        Ok(Layout::V2 {
            root: PathBuf::from(CGROUP_ROOT),
        })
    } else if !hierarchies.is_empty() {
        Ok(Layout::V1 { hierarchies })
    } else if let Some(root) = other_v2 {
        Ok(Layout::V2 { root })
    } else {
        Err(Error::NoCgroupMounts)
    }
}

/// The fields of one mountinfo line that detection needs.
struct Mount<'a> {
    point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

/// Splits one mountinfo line: `id parent maj:min root point options [optional…] - fstype source
/// super-options`.
fn parse_line(line: &str) -> std::result::Result<Mount<'_>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let separator = fields
        .iter()
        .skip(6)
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .ok_or_else(|| "expected a \" - \" separator after six fields".to_string())?;
    let (fstype, super_options) = match fields[separator + 1..] {
        [fstype, _source, super_options, ..] => (fstype, super_options),
        _ => return Err("expected filesystem type, source and options after \" - \"".to_string()),
    };
    Ok(Mount {
        point: PathBuf::from(unescape(fields[4])),
        fstype,
        super_options,
    })
}

/// Undoes the kernel's octal escaping of spaces, tabs, newlines and backslashes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // At most \377, so the value fits a byte.
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            (b'0'..=b'3').contains(&d[0]) && d[1..].iter().all(|b| (b'0'..=b'7').contains(b))
        });
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
