//! The runtime's record of each container: `<root>/<id>/state.json`, plus the `exec.fifo` that
//! holds a created container until `start`.
//!
//! A container's status is not stored: it is derived each time from the record and the kernel
//! (is the process alive, is it still the same process, has `start` consumed the fifo), so it
//! can never go stale.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default state directory, as runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/skiff-runtime";

const STATE_FILE: &str = "state.json";
const FIFO_FILE: &str = "exec.fifo";
const CONFIG_FILE: &str = "config.json";

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id cannot be used as a directory name.
    #[error("invalid container id {id:?}: use 1 to 128 characters of letters, digits, '_', '-' and '.', not starting with '.'")]
    InvalidId {
        /// The id given.
        id: String,
    },
    /// `create` with an id that is taken.
    #[error("container {id} already exists; delete it first or choose another id")]
    Exists {
        /// The id.
        id: String,
    },
    /// No container with that id.
    #[error("container {id} does not exist")]
    NotFound {
        /// The id.
        id: String,
    },
    /// Reading, writing or removing a state file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The state file is not valid JSON of the expected shape.
    #[error("state file {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// A container's status, as the OCI runtime spec defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created (only seen by hooks).
    Creating,
    /// Created, waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// The process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers of a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Container id.
    pub id: String,
    /// The init process's pid in the runtime's pid namespace.
    pub pid: i32,
    /// The init process's start time (clock ticks since boot, /proc/PID/stat field 22), so that
    /// a recycled pid is not mistaken for the container.
    pub pid_start_time: u64,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Root filesystem.
    pub rootfs: PathBuf,
    /// Annotations from the spec.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The cgroup path, relative to the hierarchy roots.
    pub cgroup_path: PathBuf,
    /// Whether the container has its own pid namespace (then killing init kills everything).
    pub own_pid_ns: bool,
    /// poststart hooks, run by `start`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    /// poststop hooks, run by `delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// The directory that holds all containers.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one container.
    pub fn dir(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        Ok(self.root.join(id))
    }

    /// Claims the id by creating its directory; fails if it exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf, StateError> {
        let dir = self.dir(id)?;
        fs::create_dir_all(&self.root).map_err(|source| StateError::Io {
            action: "creating state root",
            path: self.root.clone(),
            source,
        })?;
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists { id: id.to_string() })
            }
            Err(source) => Err(StateError::Io {
                action: "creating",
                path: dir,
                source,
            }),
        }
    }

    /// Writes the record atomically (write to a temporary file, then rename).
    pub fn save(&self, record: &Record) -> Result<(), StateError> {
        let dir = self.dir(&record.id)?;
        let bytes = serde_json::to_vec(record).map_err(|source| StateError::Corrupt {
            path: dir.join(STATE_FILE),
            source,
        })?;
        write_atomic(&dir.join(STATE_FILE), &bytes)
    }

    /// Reads a container's record.
    pub fn load(&self, id: &str) -> Result<Record, StateError> {
        self.read_json(id, STATE_FILE)
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        file: &str,
    ) -> Result<T, StateError> {
        let path = self.dir(id)?.join(file);
        let bytes = fs::read(&path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                StateError::NotFound { id: id.to_string() }
            } else {
                StateError::Io {
                    action: "reading",
                    path: path.clone(),
                    source,
                }
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Keeps a copy of the container's config.json (as read at create) for `exec`.
    pub fn save_config(&self, id: &str, text: &[u8]) -> Result<(), StateError> {
        write_atomic(&self.dir(id)?.join(CONFIG_FILE), text)
    }

    /// Reads the copy of the container's spec.
    pub fn load_config(&self, id: &str) -> Result<oci_spec::runtime::Spec, StateError> {
        self.read_json(id, CONFIG_FILE)
    }

    /// The path of the fifo that holds a created container until `start`.
    pub fn fifo(&self, id: &str) -> Result<PathBuf, StateError> {
        Ok(self.dir(id)?.join(FIFO_FILE))
    }

    /// Removes the container's directory (whatever it holds).
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        let dir = self.dir(id)?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                action: "removing",
                path: dir,
                source,
            }),
        }
    }

    /// The ids of every container in the store.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    action: "listing",
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Ids become directory names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId { id: id.to_string() })
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers never see half a
/// file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let io_err = |action, source| StateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::create(&tmp).map_err(|e| io_err("creating", e))?;
    file.write_all(bytes).map_err(|e| io_err("writing", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io_err("renaming into place", e))
}

/// Facts about a live process read from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// State letter (R, S, D, Z, T, …).
    pub state: char,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
}

/// Reads `/proc/PID/stat`; `None` if the process does not exist.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&text)
}

/// Parses the text of `/proc/PID/stat` (the command name may contain spaces and parentheses).
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; start time is field 22, i.e. 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

impl Record {
    /// Whether the recorded process is alive and still the container's (not a zombie, not a
    /// recycled pid).
    pub fn process_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some(stat) => stat.state != 'Z' && stat.start_time == self.pid_start_time,
            None => false,
        }
    }
}

/// The current UTC time in RFC 3339 with nanoseconds, without a date crate.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for good in ["a", "ctr-1", "web_2.x", &"a".repeat(128)] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a b",
            "é",
            &"a".repeat(129),
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proc_stat_handles_odd_names() {
        let text =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(
            parse_proc_stat(text),
            Some(ProcStat {
                state: 'S',
                start_time: 987654
            })
        );
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let stat = proc_stat(me).expect("own stat");
        let rec = Record {
            id: "x".into(),
            pid: me,
            pid_start_time: stat.start_time,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            annotations: HashMap::new(),
            created: now_rfc3339(),
            cgroup_path: "/x".into(),
            own_pid_ns: true,
            poststart: vec![],
            poststop: vec![],
        };
        assert!(rec.process_alive());
        let recycled = Record {
            pid_start_time: stat.start_time + 1,
            ..rec
        };
        assert!(!recycled.process_alive());
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn store_claims_once_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("root"));
        store.claim("c1").unwrap();
        assert!(matches!(store.claim("c1"), Err(StateError::Exists { .. })));
        assert!(matches!(store.load("c2"), Err(StateError::NotFound { .. })));
        let rec = Record {
            id: "c1".into(),
            pid: 1,
            pid_start_time: 2,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            annotations: HashMap::from([("k".into(), "v".into())]),
            created: now_rfc3339(),
            cgroup_path: "/skiff/c1".into(),
            own_pid_ns: false,
            poststart: vec![],
            poststop: vec![],
        };
        store.save(&rec).unwrap();
        assert_eq!(store.load("c1").unwrap().annotations["k"], "v");
        assert_eq!(store.list().unwrap(), vec!["c1".to_string()]);
        store.remove("c1").unwrap();
        assert!(store.list().unwrap().is_empty());
    }
}

/// The state document of the OCI runtime spec (`skiff-runtime state`, and hooks' stdin), with
/// two additions as runc makes: `created` and, once stopped, whether the OOM killer struck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Runtime-spec version of this document.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Init process pid (0 once stopped).
    pub pid: i32,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Annotations from the spec.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Root filesystem.
    pub rootfs: PathBuf,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Whether the kernel's OOM killer killed a process of the container (known while its
    /// cgroup exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_killed: Option<bool>,
}

/// The runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";

impl Record {
    /// The state document for a given status.
    pub fn state(&self, status: Status) -> State {
        State {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.clone(),
            annotations: self.annotations.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            oom_killed: None,
        }
    }
}
