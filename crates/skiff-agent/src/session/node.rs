//! What the agent says about its node when it registers: its id (made once and kept in the data
//! directory), its capacity (read from the machine) and, once registered, its pod subnet (kept
//! in the data directory so that a restarted agent knows it before it reaches a server).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The file in the agent's data directory that holds the node's id.
pub const NODE_ID_FILE: &str = "node-id";
/// The file in the agent's data directory that holds the pod subnet of the last registration.
pub const POD_SUBNET_FILE: &str = "pod-subnet";

/// What a node has: CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// CPUs, in thousandths.
    pub cpus_milli: u64,
    /// Memory, in bytes.
    pub memory_bytes: u64,
}

/// Why the node's id, capacity or subnet could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file of the data directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file of the data directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A node id (given, or found in the data directory) is not a DNS label.
    #[error("node id {id:?} (from {origin}) is not valid: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit")]
    BadId {
        /// The id.
        id: String,
        /// Where it came from: `--node-id` or the file's path.
        origin: String,
    },
    /// Neither a node id nor a data directory to keep one in was given.
    #[error("no node id: give one (--node-id) or a data directory to keep a generated one in")]
    NoId,
    /// No random bytes for a new node id.
    #[error("cannot get random bytes for a node id: {0}")]
    Random(getrandom::Error),
    /// `/proc/meminfo` has no `MemTotal` line.
    #[error("{} has no MemTotal line", path.display())]
    NoMemTotal {
        /// The file read.
        path: PathBuf,
    },
}

/// Whether `id` is a DNS label, as the control plane's names are.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// The node's id: `given` when there is one (and then stored, so a later start without it
/// keeps it), else the one stored in `data_dir`, else a new one (`node-` and 12 random hex
/// digits) stored there.
pub fn node_id(given: Option<&str>, data_dir: Option<&Path>) -> Result<String, NodeError> {
    if let Some(id) = given {
        if !is_valid_id(id) {
            return Err(NodeError::BadId {
                id: id.to_owned(),
                origin: "--node-id".into(),
            });
        }
        if let Some(dir) = data_dir {
            write_file(dir, NODE_ID_FILE, id)?;
        }
        return Ok(id.to_owned());
    }
    let dir = data_dir.ok_or(NodeError::NoId)?;
    if let Some(stored) = read_file(dir, NODE_ID_FILE)? {
        if !is_valid_id(&stored) {
            return Err(NodeError::BadId {
                id: stored,
                origin: dir.join(NODE_ID_FILE).display().to_string(),
            });
        }
        return Ok(stored);
    }
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(NodeError::Random)?;
    let id = format!("node-{}", hex(&bytes));
    write_file(dir, NODE_ID_FILE, &id)?;
    Ok(id)
}

/// The pod subnet stored by the last registration, if any.
pub fn stored_pod_subnet(data_dir: &Path) -> Result<Option<String>, NodeError> {
    read_file(data_dir, POD_SUBNET_FILE)
}

/// Stores the pod subnet a registration returned.
pub fn store_pod_subnet(data_dir: &Path, subnet: &str) -> Result<(), NodeError> {
    write_file(data_dir, POD_SUBNET_FILE, subnet)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The trimmed content of `dir/name`; `None` when the file does not exist or is empty.
fn read_file(dir: &Path, name: &str) -> Result<Option<String>, NodeError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NodeError::Read { path, source }),
    }
}

/// Writes `dir/name` whole: to a temporary file renamed over it, so a crash leaves the old
/// content or the new, never half.
fn write_file(dir: &Path, name: &str, content: &str) -> Result<(), NodeError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::create_dir_all(dir).map_err(|source| NodeError::Write {
        path: dir.to_owned(),
        source,
    })?;
    std::fs::write(&tmp, format!("{content}\n")).map_err(|source| NodeError::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| NodeError::Write { path, source })
}

impl Capacity {
    /// The capacity of the machine this runs on: the CPUs the process may use (affinity and
    /// its cgroup's `cpu.max`), and the memory (`MemTotal`, or its cgroup's `memory.max` when
    /// lower).
    pub fn of_this_machine() -> Result<Capacity, NodeError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        Capacity::detect(Path::new("/"), cpus)
    }

    /// The capacity as read under `root` (`/` for the machine; a directory of fixture files
    /// in tests): `proc/meminfo`, `proc/self/cgroup` and the cgroup v2 files under
    /// `sys/fs/cgroup`. `cpus` is how many CPUs the scheduler lets the process use.
    pub fn detect(root: &Path, cpus: u64) -> Result<Capacity, NodeError> {
        let meminfo = root.join("proc/meminfo");
        let text = std::fs::read_to_string(&meminfo).map_err(|source| NodeError::Read {
            path: meminfo.clone(),
            source,
        })?;
        let mut memory_bytes = mem_total(&text).ok_or(NodeError::NoMemTotal { path: meminfo })?;
        let mut cpus_milli = cpus.max(1) * 1000;
        if let Some(group) = cgroup_dir(root) {
            if let Some(quota) = read_opt(&group.join("cpu.max")).and_then(|t| cpu_max_milli(&t)) {
                cpus_milli = cpus_milli.min(quota.max(1));
            }
            if let Some(limit) = read_opt(&group.join("memory.max")).and_then(|t| memory_max(&t)) {
                memory_bytes = memory_bytes.min(limit);
            }
        }
        Ok(Capacity {
            cpus_milli,
            memory_bytes,
        })
    }
}

fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The process's cgroup v2 directory under `root`, from `proc/self/cgroup`'s `0::` line.
fn cgroup_dir(root: &Path) -> Option<PathBuf> {
    let text = read_opt(&root.join("proc/self/cgroup"))?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(
        root.join("sys/fs/cgroup")
            .join(path.trim().trim_start_matches('/')),
    )
}

/// `MemTotal` of a `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// The CPUs a cgroup v2 `cpu.max` (`"150000 100000"`, or `"max 100000"`) allows, in
/// thousandths; `None` when unlimited or unreadable.
fn cpu_max_milli(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    let quota: u64 = words.next()?.parse().ok()?;
    let period: u64 = words.next()?.parse().ok().filter(|p| *p > 0)?;
    Some(quota * 1000 / period)
}

/// A cgroup v2 `memory.max` in bytes; `None` for `max` or unreadable.
fn memory_max(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dns_labels() {
        for good in ["node-1", "a", "sim-999", &"a".repeat(63)] {
            assert!(is_valid_id(good), "{good:?}");
        }
        for bad in ["", "-a", "a-", "Node", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_id_is_made_once_then_kept_and_a_given_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let made = node_id(None, Some(dir.path())).unwrap();
        assert!(made.starts_with("node-") && made.len() == 17 && is_valid_id(&made));
        assert_eq!(node_id(None, Some(dir.path())).unwrap(), made);
        assert_eq!(node_id(Some("n1"), Some(dir.path())).unwrap(), "n1");
        assert_eq!(node_id(None, Some(dir.path())).unwrap(), "n1");
        let err = node_id(Some("N_1"), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("--node-id"), "{err}");
        assert!(matches!(node_id(None, None), Err(NodeError::NoId)));
        std::fs::write(dir.path().join(NODE_ID_FILE), "bad id\n").unwrap();
        let err = node_id(None, Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains(NODE_ID_FILE), "{err}");
    }

    #[test]
    fn the_pod_subnet_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(stored_pod_subnet(dir.path()).unwrap(), None);
        store_pod_subnet(dir.path(), "10.88.3.0/24").unwrap();
        assert_eq!(
            stored_pod_subnet(dir.path()).unwrap().as_deref(),
            Some("10.88.3.0/24")
        );
    }

    #[test]
    fn kernel_files_are_read() {
        assert_eq!(
            mem_total("MemFree: 1 kB\nMemTotal:       16314528 kB\n"),
            Some(16314528 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: x kB\n"), None);
        assert_eq!(cpu_max_milli("150000 100000\n"), Some(1500));
        assert_eq!(cpu_max_milli("max 100000\n"), None);
        assert_eq!(cpu_max_milli("100 0\n"), None);
        assert_eq!(memory_max("1073741824\n"), Some(1 << 30));
        assert_eq!(memory_max("max\n"), None);
    }

    #[test]
    fn capacity_takes_the_lower_of_the_machine_and_its_cgroup() {
        let root = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        put("proc/meminfo", "MemTotal: 4194304 kB\n");
        assert_eq!(
            Capacity::detect(root.path(), 8).unwrap(),
            Capacity {
                cpus_milli: 8000,
                memory_bytes: 4 << 30
            }
        );
        put("proc/self/cgroup", "0::/skiff.slice/agent\n");
        put("sys/fs/cgroup/skiff.slice/agent/cpu.max", "250000 100000\n");
        put("sys/fs/cgroup/skiff.slice/agent/memory.max", "1073741824\n");
        assert_eq!(
            Capacity::detect(root.path(), 8).unwrap(),
            Capacity {
                cpus_milli: 2500,
                memory_bytes: 1 << 30
            }
        );
        let empty = tempfile::tempdir().unwrap();
        let err = Capacity::detect(empty.path(), 1).unwrap_err();
        assert!(err.to_string().contains("meminfo"), "{err}");
    }
}
