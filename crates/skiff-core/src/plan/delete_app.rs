//! Deleting an app: the app, its services and its tasks, in one transaction.

use crate::objects::{Key, Kind, Name, Object};
use crate::state::{Command, Expect, Op, State};

use super::PlanError;

/// Plans deleting app `app` of environment `env`: its tasks (found by scanning `/tasks/`), its
/// services and the app itself, children first, each expected at the revision read, in one
/// transaction. A task or service that changes in between (an agent's status report, say)
/// makes it conflict; the server then plans again from the newer state.
///
/// Deleting a task's record is what stops it: an agent is sent the full set of tasks assigned
/// to its node and stops the containers of tasks no longer in it.
pub fn delete_app(state: &State, env: &Name, app: &Name) -> Result<Command, PlanError> {
    let app_key = Key::App {
        env: env.clone(),
        app: app.clone(),
    };
    let Some(app_record) = state.get(&app_key) else {
        return Err(PlanError::NoSuchApp {
            env: env.clone(),
            app: app.clone(),
        });
    };
    let delete = |key: Key, revision: u64| Op::Delete {
        key,
        expect: Expect::Revision(revision),
    };
    let tasks = state
        .list(&Kind::Task.prefix())
        .into_iter()
        .filter(|r| matches!(&r.object, Object::Task(t) if t.env == *env && t.app == *app));
    let services = state.list(&format!("{}{env}/{app}/", Kind::Service.prefix()));
    let mut ops: Vec<Op> = tasks
        .chain(services)
        .map(|r| delete(r.key.clone(), r.mod_revision))
        .collect();
    ops.push(delete(app_key, app_record.mod_revision));
    Ok(Command::Txn { ops })
}
