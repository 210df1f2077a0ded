//! cgroup v2: the cgroup is one directory of the unified hierarchy.
//!
//! What is not applied on v2:
//! - device rules: v2 enforces them with an eBPF program, which this crate does not load yet.
//!   [`V2Manager::apply`] ignores `Resources::devices` and [`V2Manager::devices_supported`]
//!   returns false, so the runtime can decide whether that is acceptable;
//! - `memory.swappiness` and `memory.disable_oom_killer`, which v2 has no files for.
//!
//! `cpu.max` holds quota and period together, so setting either writes both (an unset quota
//! becomes `max`, an unset period 100000 µs).

use std::path::{Path, PathBuf};

use crate::resources::{cpu_weight, io_weight, v2_swap_max, Blkio, Cpu, Memory};
use crate::{fs, CgroupManager, Error, Join, Resources, Result, Version};

/// The controllers `create` enables for the cgroup, in the order they are written.
const CONTROLLERS: [&str; 5] = ["memory", "cpu", "pids", "io", "cpuset"];
const PROCS: &str = "cgroup.procs";
const FREEZE: &str = "cgroup.freeze";
const DEFAULT_CPU_PERIOD: u64 = 100_000;

/// Drives one cgroup of the unified hierarchy.
#[derive(Debug, Clone)]
pub struct V2Manager {
    root: PathBuf,
    relative: PathBuf,
}

impl V2Manager {
    /// A manager for the cgroup at `path` (e.g. `/skiff/ctr1`) under the hierarchy mounted at
    /// `root`; fails if the path would leave the hierarchy.
    pub fn new(root: PathBuf, path: &Path) -> Result<Self> {
        Ok(Self {
            root,
            relative: crate::relative_path(path)?,
        })
    }

    /// Whether [`CgroupManager::apply`] enforces `Resources::devices` (not yet: it needs eBPF).
    pub fn devices_supported(&self) -> bool {
        false
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.relative)
    }

    /// Writes a controller's file; the file missing from an existing cgroup means the
    /// controller is not enabled here, which is reported as such.
    fn write_controller(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        let dir = self.dir();
        let path = dir.join(file);
        fs::write_raw(&path, value).map_err(|err| {
            if fs::is_missing(&err) && dir.is_dir() {
                Error::MissingController {
                    controller: controller.to_string(),
                    what: file.to_string(),
                }
            } else {
                fs::write_error(&path, value, err)
            }
        })
    }

    /// Enables the controllers the cgroup needs in `cgroup.subtree_control` of each ancestor,
    /// from the root down to the cgroup's parent, where available and not enabled yet.
    fn enable_controllers(&self) -> Result<()> {
        let mut level = self.root.clone();
        let mut parts: Vec<_> = self.relative.components().collect();
        parts.pop();
        for part in std::iter::once(None).chain(parts.into_iter().map(Some)) {
            if let Some(part) = part {
                level.push(part);
            }
            let available = fs::read(&level.join("cgroup.controllers"))?;
            let subtree = level.join("cgroup.subtree_control");
            let enabled = fs::read(&subtree)?;
            let has = |list: &str, c: &str| list.split_whitespace().any(|x| x == c);
            let wanted: Vec<String> = CONTROLLERS
                .iter()
                .filter(|c| has(&available, c) && !has(&enabled, c))
                .map(|c| format!("+{c}"))
                .collect();
            if !wanted.is_empty() {
                fs::write(&subtree, &wanted.join(" "))?;
            }
        }
        Ok(())
    }

    fn apply_memory(&self, memory: &Memory) -> Result<()> {
        // Computed first so an invalid swap fails before anything is written.
        let swap = v2_swap_max(memory)?;
        if let Some(limit) = memory.limit {
            self.write_controller("memory", "memory.max", &bytes_or_max(limit))?;
        }
        if let Some(reservation) = memory.reservation {
            self.write_controller("memory", "memory.low", &bytes_or_max(reservation))?;
        }
        if let Some(swap) = swap {
            let path = self.dir().join("memory.swap.max");
            match fs::write_raw(&path, &swap) {
                Ok(()) => {}
                // No swap accounting: fine as long as no swap beyond the memory limit is asked.
                Err(err) if fs::is_missing(&err) && self.dir().is_dir() => {
                    if swap != "0" && swap != "max" {
                        return Err(Error::NoSwapAccounting);
                    }
                }
                Err(err) => return Err(fs::write_error(&path, &swap, err)),
            }
        }
        Ok(())
    }

    fn apply_cpu(&self, cpu: &Cpu) -> Result<()> {
        if let Some(weight) = cpu.shares.and_then(cpu_weight) {
            self.write_controller("cpu", "cpu.weight", &weight.to_string())?;
        }
        if cpu.quota.is_some() || cpu.period.is_some() {
            let quota = match cpu.quota {
                Some(quota) if quota > 0 => quota.to_string(),
                _ => "max".to_string(),
            };
            let period = cpu.period.unwrap_or(DEFAULT_CPU_PERIOD);
            self.write_controller("cpu", "cpu.max", &format!("{quota} {period}"))?;
        }
        if let Some(cpus) = &cpu.cpus {
            self.write_controller("cpuset", "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = &cpu.mems {
            self.write_controller("cpuset", "cpuset.mems", mems)?;
        }
        Ok(())
    }

    fn apply_io(&self, blkio: &Blkio) -> Result<()> {
        let Some(raw) = blkio.weight else {
            return Ok(());
        };
        let Some(weight) = io_weight(raw)? else {
            return Ok(());
        };
        let dir = self.dir();
        // io.weight comes from blk-iocost; with only BFQ there is io.bfq.weight, on BFQ's scale.
        for (file, value) in [
            ("io.weight", weight.to_string()),
            ("io.bfq.weight", raw.to_string()),
        ] {
            let path = dir.join(file);
            match fs::write_raw(&path, &value) {
                Ok(()) => return Ok(()),
                Err(err) if fs::is_missing(&err) && dir.is_dir() => continue,
                Err(err) => return Err(fs::write_error(&path, &value, err)),
            }
        }
        Err(Error::Unsupported {
            what: format!(
                "an I/O weight on this host (neither io.weight nor io.bfq.weight exists in {}; \
                 enable the io controller with blk-iocost or BFQ, or drop the weight)",
                dir.display()
            ),
        })
    }

    fn apply_unified(&self, unified: &std::collections::BTreeMap<String, String>) -> Result<()> {
        for (key, value) in unified {
            match key.split('.').next() {
                Some("cgroup") | None => fs::write(&self.dir().join(key), value)?,
                Some(controller) => self.write_controller(controller, key, value)?,
            }
        }
        Ok(())
    }
}

/// A byte count for a v2 memory file, where a negative value means no limit.
fn bytes_or_max(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

/// Checks that a `unified` key names a file of the cgroup directory itself.
fn check_unified_key(key: &str) -> Result<()> {
    if key.is_empty() || key.contains('/') || key.contains('\0') || key == "." || key == ".." {
        return Err(Error::InvalidUnifiedKey {
            key: key.to_string(),
        });
    }
    Ok(())
}

impl CgroupManager for V2Manager {
    fn version(&self) -> Version {
        Version::V2
    }

    fn create(&self) -> Result<()> {
        fs::mkdir_all(&self.dir())?;
        self.enable_controllers()
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        for key in resources.unified.keys() {
            check_unified_key(key)?;
        }
        self.apply_memory(&resources.memory)?;
        self.apply_cpu(&resources.cpu)?;
        if let Some(limit) = resources.pids.limit {
            let value = if limit > 0 {
                limit.to_string()
            } else {
                "max".to_string()
            };
            self.write_controller("pids", "pids.max", &value)?;
        }
        self.apply_io(&resources.blkio)?;
        // Written last so they override the typed fields, as in runc.
        self.apply_unified(&resources.unified)
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        fs::write(&self.dir().join(PROCS), &pid.to_string())
    }

    fn prepare_join(&self) -> Result<Join> {
        let dir = self.dir();
        let file = std::fs::File::open(&dir).map_err(|source| Error::Read {
            path: dir.clone(),
            source,
        })?;
        Ok(Join {
            tasks: Vec::new(),
            dir: Some(file.into()),
        })
    }

    fn procs(&self) -> Result<Vec<i32>> {
        fs::read_procs(&self.dir().join(PROCS))
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let dir = self.dir();
        match std::fs::read_to_string(dir.join("memory.events")) {
            Ok(content) => Ok(fs::keyed_value(&content, "oom_kill").unwrap_or(0)),
            // No memory controller here: nothing was OOM-killed under our accounting.
            Err(err) if fs::is_missing(&err) && dir.is_dir() => Ok(0),
            Err(source) => Err(Error::Read {
                path: dir.join("memory.events"),
                source,
            }),
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let dir = self.dir();
        let path = dir.join(FREEZE);
        let value = if frozen { "1" } else { "0" };
        fs::write_raw(&path, value).map_err(|err| {
            if fs::is_missing(&err) && dir.is_dir() {
                Error::Unsupported {
                    what: "freezing (cgroup.freeze is missing; it needs Linux 5.2)".to_string(),
                }
            } else {
                fs::write_error(&path, value, err)
            }
        })?;
        if !frozen {
            return Ok(());
        }
        let events = dir.join("cgroup.events");
        if fs::poll(fs::FREEZE_TIMEOUT, || {
            Ok(fs::keyed_value(&fs::read(&events)?, "frozen") == Some(1))
        })? {
            return Ok(());
        }
        fs::write(&path, "0")?;
        Err(Error::FreezeTimeout {
            path: dir,
            timeout_ms: fs::FREEZE_TIMEOUT.as_millis() as u64,
        })
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        let dir = self.dir();
        if signal == libc::SIGKILL {
            let path = dir.join("cgroup.kill");
            match fs::write_raw(&path, "1") {
                Ok(()) => return Ok(()),
                // Before Linux 5.14: fall back to freeze, signal, thaw.
                Err(err) if fs::is_missing(&err) && dir.is_dir() => {}
                Err(err) => return Err(fs::write_error(&path, "1", err)),
            }
        }
        // Frozen processes cannot fork, so the list stays complete while we signal it.
        let has_freezer = dir.join(FREEZE).exists();
        let frozen = if has_freezer {
            self.set_frozen(true)
        } else {
            Ok(())
        };
        let killed = self.procs().and_then(|pids| fs::signal_each(&pids, signal));
        let thawed = if has_freezer {
            self.set_frozen(false)
        } else {
            Ok(())
        };
        killed.and(thawed).and(frozen)
    }

    fn destroy(&self) -> Result<()> {
        fs::rmdir_retry(&self.dir())
    }

    fn paths(&self) -> Vec<(Vec<String>, PathBuf)> {
        vec![(Vec::new(), self.dir())]
    }
}

#[cfg(test)]
#[path = "v2_tests.rs"]
mod tests;
