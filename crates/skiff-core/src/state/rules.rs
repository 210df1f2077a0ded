//! The rules of the state that are cheap to check on every write.

use super::command::{Rejection, TaskIdentity};
use crate::objects::{Key, Object, Task, APP_HISTORY_LIMIT};

/// Checks a put of `object` at `key` over `current` (what the key holds at that point of the
/// command, if anything).
pub(crate) fn check_put(
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
