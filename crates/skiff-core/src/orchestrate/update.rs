//! How a task made from an older spec of its service is brought to the current one.
//!
//! A task whose spec changed only outside its container is re-stamped; one whose container
//! would run differently is replaced, paced by the service's rollout (`super::rollout`). The
//! spec history helpers here also tell what a rollback restores.

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
pub(crate) fn spec_at<'a>(app: &'a App, revision: u64, name: &str) -> Option<&'a ServiceSpec> {
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
pub(crate) fn runs_alike(old: &ServiceSpec, new: &ServiceSpec) -> bool {
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

/// The newest revision kept in `app`'s history whose spec of service `name` runs differently
/// from `current`: what rolling the service back restores.
pub(crate) fn previous_revision(app: &App, name: &str, current: &ServiceSpec) -> Option<u64> {
    app.history
        .iter()
        .rev()
        .find(|h| {
            h.spec
                .services
                .get(name)
                .is_some_and(|old| !runs_alike(old, current))
        })
        .map(|h| h.spec_revision)
}

/// Service `name`'s spec at `revision` as a rollback restores it over `current`: the earlier
/// spec, with the current replica count (a rollback brings back a version, not a scale).
pub(crate) fn restored_spec(
    app: &App,
    revision: u64,
    name: &str,
    current: &ServiceSpec,
) -> Option<ServiceSpec> {
    let mut old = spec_at(app, revision, name)?.clone();
    if let (ServiceMode::Replicated { .. }, ServiceMode::Replicated { .. }) =
        (old.deploy.mode, current.deploy.mode)
    {
        old.deploy.mode = current.deploy.mode;
    }
    Some(old)
}
