//! The rules of the state that are cheap to check on every write.

use super::apply::View;
use super::command::{Rejection, TaskIdentity};
use crate::objects::{Key, Kind, Name, Object, Task, APP_HISTORY_LIMIT};

/// Checks a put of `object` at `key` over `current` (what the key holds at that point of the
/// command, if anything), with `view` the state at that point.
pub(crate) fn check_put(
    key: &Key,
    object: &Object,
    current: Option<&Object>,
    view: &View<'_>,
) -> Result<(), Box<Rejection>> {
    check_object(key, object, current)?;
    if let Some(env) = environment_of(object) {
        let env_key = Key::Environment { env: env.clone() };
        if !view.contains(&env_key) {
            return Err(Box::new(Rejection::NoSuchEnvironment {
                key: key.clone(),
                env: env.clone(),
            }));
        }
    }
    Ok(())
}

/// Checks a delete of the object at `key` (which holds one), with `view` the state at that
/// point of the command: an environment goes only once nothing lives in it.
pub(crate) fn check_delete(key: &Key, view: &View<'_>) -> Result<(), Box<Rejection>> {
    let Key::Environment { env } = key else {
        return Ok(());
    };
    for kind in [Kind::App, Kind::Service, Kind::Secret, Kind::Config] {
        let prefix = format!("{}{env}/", kind.prefix());
        if let Some(holds) = view.first_under(&prefix) {
            return Err(Box::new(Rejection::EnvironmentNotEmpty {
                key: key.clone(),
                holds,
            }));
        }
    }
    Ok(())
}

/// The environment an object lives in, for the objects that need theirs to exist. Tasks are
/// left out: they are the orchestrator's and the agents' to write and delete, and an agent's
/// last status report must not be refused because the environment just went.
fn environment_of(object: &Object) -> Option<&Name> {
    match object {
        Object::App(app) => Some(&app.env),
        Object::Service(service) => Some(&service.env),
        Object::Secret(secret) => Some(&secret.env),
        Object::Config(config) => Some(&config.env),
        Object::Environment(_) | Object::Task(_) | Object::Node(_) | Object::Token(_) => None,
    }
}

/// The rules about the object itself and what it replaces.
fn check_object(
    key: &Key,
    object: &Object,
    current: Option<&Object>,
) -> Result<(), Box<Rejection>> {
    let object_key = object.key();
    if object_key != *key {
        return Err(Box::new(Rejection::KeyMismatch {
            key: key.clone(),
            object_key,
        }));
    }
    match (object, current) {
        (Object::App(app), _) => {
            if app.spec.name != app.name.as_str() || app.spec.environment != app.env.as_str() {
                return Err(Box::new(Rejection::AppSpecMismatch {
                    key: key.clone(),
                    spec_app: app.spec.name.clone(),
                    spec_env: app.spec.environment.clone(),
                }));
            }
            if app.history.len() > APP_HISTORY_LIMIT {
                return Err(Box::new(Rejection::AppHistoryTooLong {
                    key: key.clone(),
                    len: app.history.len(),
                    limit: APP_HISTORY_LIMIT,
                }));
            }
            Ok(())
        }
        (Object::Task(next), Some(Object::Task(stored))) => check_task_update(key, stored, next),
        _ => Ok(()),
    }
}

fn identity(task: &Task) -> TaskIdentity {
    TaskIdentity {
        env: task.env.clone(),
        app: task.app.clone(),
        service: task.service.clone(),
        slot: task.slot.clone(),
    }
}

/// A task keeps its service and slot; its observed state moves forward; its restart count
/// does not go down.
fn check_task_update(key: &Key, stored: &Task, next: &Task) -> Result<(), Box<Rejection>> {
    let (was, now) = (identity(stored), identity(next));
    if was != now {
        return Err(Box::new(Rejection::TaskIdentityChanged {
            key: key.clone(),
            was,
            now,
        }));
    }
    if next.restart_count < stored.restart_count {
        return Err(Box::new(Rejection::RestartCountDecreased {
            key: key.clone(),
            from: stored.restart_count,
            to: next.restart_count,
        }));
    }
    let restarted = next.restart_count > stored.restart_count;
    if !stored.observed.may_become(next.observed, restarted) {
        return Err(Box::new(Rejection::TaskStateBackward {
            key: key.clone(),
            from: stored.observed,
            to: next.observed,
        }));
    }
    Ok(())
}
