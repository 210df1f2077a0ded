//! Rolling an app, or one of its services, back to an earlier spec kept in the app's history
//! (`skiff rollout undo`): a new app revision, planned as any apply is, whose changed services
//! are marked `rollback_started` so that the orchestrator replaces their tasks per their
//! `rollback_config` (as Swarm's `docker service rollback` does).

use super::apply_app::apply_app_with;
use super::{AppPlan, PlanError};
use crate::objects::{App, Key, Name, Object, Rollout, RolloutState, Service, Timestamp};
use crate::orchestrate::update::{previous_revision, restored_spec};
use crate::state::State;

/// Plans rolling back app `app` of `env` at `now`: with `service`, that service alone to the
/// newest earlier spec of it that runs differently (its other services and its replica count
/// stay); without, the whole app to its previous revision.
pub fn rollback(
    state: &State,
    env: &Name,
    app: &Name,
    service: Option<&Name>,
    now: Timestamp,
) -> Result<AppPlan, PlanError> {
    let key = Key::App {
        env: env.clone(),
        app: app.clone(),
    };
    let Some(Object::App(stored)) = state.get(&key).map(|r| &r.object) else {
        return Err(PlanError::NoSuchApp {
            env: env.clone(),
            app: app.clone(),
        });
    };
    let nothing = |what: String| PlanError::NothingToRollBack {
        env: env.clone(),
        app: app.clone(),
        what,
    };
    if let Some(name) = service {
        if !stored.spec.services.contains_key(name.as_str()) {
            return Err(PlanError::NoSuchService {
                env: env.clone(),
                app: app.clone(),
                service: name.clone(),
            });
        }
    }
    let (spec, restores) = match service {
        None => {
            let previous = stored
                .history
                .last()
                .ok_or_else(|| nothing("no earlier revision is kept".to_owned()))?;
            (previous.spec.clone(), previous.spec_revision)
        }
        Some(name) => {
            let (spec, revision) = restore_service(stored, name).ok_or_else(|| {
                nothing(format!(
                    "service {name} ran the same containers in every revision kept"
                ))
            })?;
            let mut app_spec = stored.spec.clone();
            app_spec.services.insert(name.to_string(), spec);
            (app_spec, revision)
        }
    };
    let mark = |old: &Service, to: u64| {
        let mut rollout = Rollout::start(RolloutState::RollbackStarted, old.spec_revision, to, now);
        rollout.restores_revision = Some(restores);
        rollout.message = format!("rollback to revision {restores} requested");
        Some(rollout)
    };
    apply_app_with(state, env, &spec, &mark)
}

/// Service `name`'s spec to restore, and the revision it comes from.
fn restore_service(app: &App, name: &Name) -> Option<(skiff_api::ServiceSpec, u64)> {
    let current = app.spec.services.get(name.as_str())?;
    let revision = previous_revision(app, name.as_str(), current)?;
    Some((
        restored_spec(app, revision, name.as_str(), current)?,
        revision,
    ))
}
