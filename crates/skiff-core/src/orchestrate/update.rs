//! How a task made from an older spec of its service is brought to the current one.
//!
//! This is the seam rolling updates (`update_config`: parallelism, delay, order, failure
//! action, monitor window) will replace. For now every outdated task whose container would
//! run differently is replaced at once, stop-first: the old task is told to stop in the same
//! transaction that creates its successor, and the scheduler places the successor (a host
//! port the old one still holds keeps it pending until the old one is over).

use skiff_api::{ServiceMode, ServiceSpec};

use crate::objects::{App, Service, Task};

/// What to do with a task whose `spec_revision` is not its service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outdated {
    /// The spec changed only outside the container: write the new revision on the task.
    Restamp,
    /// The container would run differently: replace the task.
    Replace,
}

/// Judges a task made from an older spec of `service`, looked up in `app`'s spec history.
/// When that spec is no longer kept, the task is replaced: nothing says it runs alike.
pub(super) fn judge(app: Option<&App>, service: &Service, task: &Task) -> Outdated {
    let old = app.and_then(|app| spec_at(app, task.spec_revision, service.name.as_str()));
    match old {
        Some(old) if runs_alike(old, &service.spec) => Outdated::Restamp,
        _ => Outdated::Replace,
    }
}

/// Service `name`'s spec in `app`'s spec at `revision`, current or kept in its history.
fn spec_at<'a>(app: &'a App, revision: u64, name: &str) -> Option<&'a ServiceSpec> {
    let spec = if app.spec_revision == revision {
        &app.spec
    } else {
        &app.history
            .iter()
            .find(|h| h.spec_revision == revision)?
            .spec
    };
    spec.services.get(name)
}

/// Whether two specs of a service give the same containers: equal but for the replica count,
/// the update and rollback settings and the service's own labels.
pub(super) fn runs_alike(old: &ServiceSpec, new: &ServiceSpec) -> bool {
    let mut old = old.clone();
    let (a, b) = (&mut old.deploy, &new.deploy);
    if let (ServiceMode::Replicated { .. }, ServiceMode::Replicated { .. }) = (a.mode, b.mode) {
        a.mode = b.mode;
    }
    a.update_config = b.update_config;
    a.rollback_config = b.rollback_config;
    a.labels = b.labels.clone();
    old == *new
}
