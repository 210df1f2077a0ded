//! cgroup v1: the cgroup is one directory in each mounted hierarchy.
//!
//! Each limit is written only to the hierarchy that owns its controller; a limit whose controller
//! the host lacks is an [`Error::MissingController`]. Named hierarchies (`name=systemd`) get the
//! directory and the processes but no limits. `Resources::unified` is refused.

use std::path::{Path, PathBuf};

use crate::resources::{memory_and_swap, Blkio, Cpu, DeviceRule, Memory, Pids};
use crate::{fs, CgroupManager, Error, Hierarchy, Join, Resources, Result, Version};

const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";
const FREEZER_STATE: &str = "freezer.state";
const PROCS: &str = "cgroup.procs";
/// The cpuset files the kernel leaves empty in a new cgroup and that must be filled before a
/// process can join it.
const CPUSET_FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];

/// Drives one cgroup across the host's v1 hierarchies.
#[derive(Debug, Clone)]
pub struct V1Manager {
    hierarchies: Vec<Hierarchy>,
    relative: PathBuf,
}

impl V1Manager {
    /// A manager for the cgroup at `path` (e.g. `/skiff/ctr1`) in each of `hierarchies`; fails
    /// if the path would leave the hierarchy.
    pub fn new(hierarchies: Vec<Hierarchy>, path: &Path) -> Result<Self> {
        Ok(Self {
            hierarchies,
            relative: crate::relative_path(path)?,
        })
    }

    /// The cgroup's directory in the hierarchy holding `controller`, if the host has one.
    pub fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .map(|h| h.mount.join(&self.relative))
    }

    /// Like [`Self::controller_dir`], but a missing controller is an error naming `what` needs it.
    fn require(&self, controller: &str, what: &str) -> Result<PathBuf> {
        self.controller_dir(controller)
            .ok_or_else(|| Error::MissingController {
                controller: controller.to_string(),
                what: what.to_string(),
            })
    }

    /// Fills empty `cpuset.cpus`/`cpuset.mems` on every level below `mount` down to the cgroup
    /// with the nearest ancestor's value. Existing levels are checked too (as runc does): a
    /// parent made by another tool may have been left empty, and then nothing below can join.
    fn init_cpuset(&self, mount: &Path) -> Result<()> {
        let mut inherited = Vec::with_capacity(CPUSET_FILES.len());
        for file in CPUSET_FILES {
            inherited.push(fs::read(&mount.join(file))?.trim().to_string());
        }
        let mut dir = mount.to_path_buf();
        for part in self.relative.components() {
            dir.push(part);
            for (file, value) in CPUSET_FILES.iter().zip(inherited.iter_mut()) {
                let path = dir.join(file);
                let current = fs::read(&path)?;
                if current.trim().is_empty() {
                    fs::write(&path, value)?;
                } else {
                    *value = current.trim().to_string();
                }
            }
        }
        Ok(())
    }

    fn apply_memory(&self, memory: &Memory) -> Result<()> {
        if *memory == Memory::default() {
            return Ok(());
        }
        let dir = self.require("memory", "memory limits")?;
        let swap = memory_and_swap(memory)?;
        let limit = memory.limit.map(|l| l.max(-1));
        match (limit, swap) {
            (Some(limit), Some(swap)) => set_limit_and_swap(&dir, limit, swap)?,
            (Some(limit), None) => fs::write(&dir.join(MEMORY_LIMIT), &limit.to_string())?,
            (None, Some(swap)) => set_swap(&dir, swap, None)?,
            (None, None) => {}
        }
        if let Some(reservation) = memory.reservation {
            let value = reservation.max(-1).to_string();
            fs::write(&dir.join("memory.soft_limit_in_bytes"), &value)?;
        }
        if let Some(swappiness) = memory.swappiness {
            fs::write(&dir.join("memory.swappiness"), &swappiness.to_string())?;
        }
        if let Some(disable) = memory.disable_oom_killer {
            fs::write(
                &dir.join("memory.oom_control"),
                if disable { "1" } else { "0" },
            )?;
        }
        Ok(())
    }

    fn apply_cpu(&self, cpu: &Cpu) -> Result<()> {
        let shares = cpu.shares.filter(|s| *s != 0);
        if shares.is_some() || cpu.quota.is_some() || cpu.period.is_some() {
            let dir = self.require("cpu", "CPU shares and quota")?;
            if let Some(shares) = shares {
                fs::write(&dir.join("cpu.shares"), &shares.to_string())?;
            }
            if let Some(period) = cpu.period {
                fs::write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
            }
            if let Some(quota) = cpu.quota {
                let value = if quota > 0 { quota } else { -1 };
                fs::write(&dir.join("cpu.cfs_quota_us"), &value.to_string())?;
            }
        }
        if cpu.cpus.is_some() || cpu.mems.is_some() {
            let dir = self.require("cpuset", "CPU and memory node placement")?;
            for (file, value) in CPUSET_FILES.iter().zip([&cpu.cpus, &cpu.mems]) {
                if let Some(value) = value {
                    fs::write(&dir.join(file), value)?;
                }
            }
        }
        Ok(())
    }

    fn apply_pids(&self, pids: &Pids) -> Result<()> {
        if let Some(limit) = pids.limit {
            let dir = self.require("pids", "a process limit")?;
            let value = if limit > 0 {
                limit.to_string()
            } else {
                "max".to_string()
            };
            fs::write(&dir.join("pids.max"), &value)?;
        }
        Ok(())
    }

    fn apply_blkio(&self, blkio: &Blkio) -> Result<()> {
        let Some(weight) = blkio.weight.filter(|w| *w != 0) else {
            return Ok(());
        };
        let dir = self.require("blkio", "a block I/O weight")?;
        let value = weight.to_string();
        // Kernels with the BFQ scheduler (and no CFQ) only have the bfq-prefixed file.
        for file in ["blkio.weight", "blkio.bfq.weight"] {
            let path = dir.join(file);
            match fs::write_raw(&path, &value) {
                Ok(()) => return Ok(()),
                Err(err) if fs::is_missing(&err) && dir.is_dir() => continue,
                Err(err) => return Err(fs::write_error(&path, &value, err)),
            }
        }
        Err(Error::Unsupported {
            what: format!(
                "a block I/O weight on this host (neither blkio.weight nor blkio.bfq.weight exists \
                 in {}; use the BFQ I/O scheduler or drop the weight)",
                dir.display()
            ),
        })
    }

    fn apply_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let dir = self.require("devices", "device rules")?;
        for (file, entry) in device_writes(rules)? {
            fs::write(&dir.join(file), &entry)?;
        }
        Ok(())
    }
}

/// The `(file, line)` writes that apply `rules` in order on v1.
pub(crate) fn device_writes(rules: &[DeviceRule]) -> Result<Vec<(&'static str, String)>> {
    rules
        .iter()
        .map(|rule| {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            Ok((file, rule.v1_entry()?))
        })
        .collect()
}

/// Writes the memory limit and the memory+swap limit. The kernel keeps memory+swap >= memory at
/// every moment, so which write must go first depends on the current values; rather than read
/// them, try the limit first and swap the order if the kernel refuses it.
fn set_limit_and_swap(dir: &Path, limit: i64, swap: i64) -> Result<()> {
    let path = dir.join(MEMORY_LIMIT);
    let value = limit.to_string();
    match fs::write_raw(&path, &value) {
        Ok(()) => set_swap(dir, swap, Some(limit)),
        Err(err) if fs::is_conflict(&err) => {
            set_swap(dir, swap, Some(limit))?;
            fs::write(&path, &value)
        }
        Err(err) => Err(fs::write_error(&path, &value, err)),
    }
}

/// Writes the memory+swap limit; without swap accounting that is only fine when it asks for
/// nothing beyond the memory limit.
fn set_swap(dir: &Path, swap: i64, limit: Option<i64>) -> Result<()> {
    let path = dir.join(MEMSW_LIMIT);
    let value = swap.to_string();
    match fs::write_raw(&path, &value) {
        Ok(()) => Ok(()),
        Err(err) if fs::is_missing(&err) && dir.is_dir() => {
            if swap == -1 || Some(swap) == limit {
                Ok(())
            } else {
                Err(Error::NoSwapAccounting)
            }
        }
        Err(err) => Err(fs::write_error(&path, &value, err)),
    }
}

impl CgroupManager for V1Manager {
    fn version(&self) -> Version {
        Version::V1
    }

    fn create(&self) -> Result<()> {
        for hierarchy in &self.hierarchies {
            fs::mkdir_all(&hierarchy.mount.join(&self.relative))?;
            if hierarchy.has("cpuset") {
                self.init_cpuset(&hierarchy.mount)?;
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        if !resources.unified.is_empty() {
            let keys: Vec<&str> = resources.unified.keys().map(String::as_str).collect();
            return Err(Error::Unsupported {
                what: format!(
                    "setting cgroup v2 files ({}) on this cgroup v1 host",
                    keys.join(", ")
                ),
            });
        }
        self.apply_memory(&resources.memory)?;
        self.apply_cpu(&resources.cpu)?;
        self.apply_pids(&resources.pids)?;
        self.apply_blkio(&resources.blkio)?;
        self.apply_devices(&resources.devices)
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        let value = pid.to_string();
        for hierarchy in &self.hierarchies {
            fs::write(&hierarchy.mount.join(&self.relative).join(PROCS), &value)?;
        }
        Ok(())
    }

    fn prepare_join(&self) -> Result<Join> {
        let mut tasks = Vec::with_capacity(self.hierarchies.len());
        for hierarchy in &self.hierarchies {
            let path = hierarchy.mount.join(&self.relative).join("tasks");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|source| fs::write_error(&path, "0", source))?;
            tasks.push((path, file));
        }
        Ok(Join { tasks, dir: None })
    }

    fn procs(&self) -> Result<Vec<i32>> {
        match self.hierarchies.first() {
            Some(hierarchy) => fs::read_procs(&hierarchy.mount.join(&self.relative).join(PROCS)),
            None => Ok(Vec::new()),
        }
    }

    fn oom_kill_count(&self) -> Result<u64> {
        match self.controller_dir("memory") {
            Some(dir) => {
                let content = fs::read(&dir.join("memory.oom_control"))?;
                Ok(fs::keyed_value(&content, "oom_kill").unwrap_or(0))
            }
            None => Ok(0),
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let dir = self.require("freezer", "freezing")?;
        let path = dir.join(FREEZER_STATE);
        if !frozen {
            return fs::write(&path, "THAWED");
        }
        fs::write(&path, "FROZEN")?;
        // The state reads FREEZING until every task has stopped.
        if fs::poll(fs::FREEZE_TIMEOUT, || {
            Ok(fs::read(&path)?.trim() == "FROZEN")
        })? {
            return Ok(());
        }
        fs::write(&path, "THAWED")?;
        Err(Error::FreezeTimeout {
            path: dir,
            timeout_ms: fs::FREEZE_TIMEOUT.as_millis() as u64,
        })
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        // Frozen processes cannot fork, so the list stays complete while we signal it.
        let has_freezer = self.controller_dir("freezer").is_some();
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
        let mut first_error = None;
        for hierarchy in &self.hierarchies {
            if let Err(err) = fs::rmdir_retry(&hierarchy.mount.join(&self.relative)) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn paths(&self) -> Vec<(Vec<String>, PathBuf)> {
        self.hierarchies
            .iter()
            .map(|h| (h.controllers.clone(), h.mount.join(&self.relative)))
            .collect()
    }
}

#[cfg(test)]
#[path = "v1_tests.rs"]
mod tests;
