//! Undoing what the runtime made for a container — its processes, cgroup and state — whatever
//! point the run reached. The shim does it at the end of a run and before starting one (a shim
//! killed during `create` leaves a state directory, maybe without `state.json`, a cgroup and a
//! process waiting to be started, which would make every later start fail with "already
//! exists"); `rm` does it for a container whose shim died.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::shim::{builtin_root, cgroup_path, external_root};
use crate::engine::RuntimeChoice;

/// Removes the runtime's state, processes and cgroup of container `id`; what cannot be
/// removed is reported through `warn`.
pub fn clean_runtime(data_dir: &Path, id: &str, runtime: &RuntimeChoice, warn: &dyn Fn(&str)) {
    match runtime {
        RuntimeChoice::Builtin => clean_builtin(data_dir, id, warn),
        RuntimeChoice::External(program) => {
            let _ = Command::new(program)
                .arg("--root")
                .arg(external_root(data_dir))
                .args(["delete", "--force", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn clean_builtin(data_dir: &Path, id: &str, warn: &dyn Fn(&str)) {
    let runtime = skiff_runtime::Runtime::new(builtin_root(data_dir)).with_warnings(|_| {});
    if runtime.store().load(id).is_ok() {
        match runtime.delete(id, true) {
            Ok(()) => return,
            Err(e) => warn(&format!("runtime delete: {e}")),
        }
    }
    // A create cut short (no state.json yet) or a delete that failed: the container's
    // cgroup and state directory by hand.
    if let Ok(layout) = skiff_cgroups::detect() {
        if let Ok(cgroup) = skiff_cgroups::manager(&layout, &cgroup_path(id)) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while cgroup.procs().is_ok_and(|p| !p.is_empty()) && Instant::now() < deadline {
                let _ = cgroup.kill_all(libc::SIGKILL);
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Err(e) = cgroup.destroy() {
                warn(&format!("removing the cgroup: {e}"));
            }
        }
    }
    if let Err(e) = runtime.store().remove(id) {
        warn(&format!("removing the runtime state: {e}"));
    }
}
