//! `/v1/tasks`: every task the caller may see (those of its environments), filtered by query.
//! Task keys carry no environment, so a task of an environment the caller cannot see answers
//! 404, as if it did not exist, rather than 403.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use skiff_core::objects::{Role, Task};
use skiff_core::{Key, Kind, Name, Object, Record};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{name, ApiState, List, Params, ReadParams};

/// The filters of a task listing; each one given must match.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskParams {
    /// Only tasks of this environment (403 if the token cannot read it).
    pub env: Option<String>,
    /// Only tasks of apps of this name.
    pub app: Option<String>,
    /// Only tasks of services of this name.
    pub service: Option<String>,
    /// Only tasks assigned to this node.
    pub node: Option<String>,
    /// Read this server's state without asking the leader.
    #[serde(default)]
    pub stale: bool,
}

/// [`TaskParams`] checked: names parsed.
#[derive(Debug, Default)]
struct Filter {
    env: Option<Name>,
    app: Option<Name>,
    service: Option<Name>,
    node: Option<Name>,
}

impl Filter {
    fn parse(params: &TaskParams) -> ApiResult<Self> {
        let parse =
            |what, text: &Option<String>| text.as_deref().map(|t| name(what, t)).transpose();
        Ok(Self {
            env: parse("environment", &params.env)?,
            app: parse("app", &params.app)?,
            service: parse("service", &params.service)?,
            node: parse("node", &params.node)?,
        })
    }

    fn matches(&self, task: &Task) -> bool {
        let is = |want: &Option<Name>, have: &Name| want.as_ref().is_none_or(|w| w == have);
        is(&self.env, &task.env)
            && is(&self.app, &task.app)
            && is(&self.service, &task.service)
            && self
                .node
                .as_ref()
                .is_none_or(|n| task.node.as_ref() == Some(n))
    }
}

/// `GET /v1/tasks[?env=E&app=A&service=S&node=N]`.
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "tasks",
    params(TaskParams),
    responses(ErrorResponses, (status = 200, body = List)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Params(params): Params<TaskParams>,
) -> ApiResult<Json<List>> {
    let filter = Filter::parse(&params)?;
    if let Some(env) = &filter.env {
        caller.require(Role::Read, Some(env))?;
    }
    let read = ReadParams {
        stale: params.stale,
    };
    let list = api
        .read(&read, |state| {
            let items = state
                .list(&Kind::Task.prefix())
                .into_iter()
                .filter(|r| match &r.object {
                    Object::Task(t) => caller.0.sees(&t.env) && filter.matches(t),
                    _ => false,
                })
                .cloned()
                .collect();
            List {
                revision: state.revision(),
                items,
            }
        })
        .await?;
    Ok(Json(list))
}

/// `GET /v1/tasks/{id}`.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path, description = "The task's id"), ReadParams),
    responses(ErrorResponses, (status = 200, body = Record)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<Record>> {
    let key = Key::Task {
        id: name("task id", &id)?,
    };
    let record = api.get(&params, &key).await?;
    match &record.object {
        Object::Task(t) if caller.0.sees(&t.env) => Ok(Json(record)),
        _ => Err(ApiError::not_found(&key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_every_given_field() {
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "t1", "env": "dev", "app": "shop", "service": "web", "slot": {"replica": 1},
            "spec_revision": 1, "desired": "running", "node": "n1", "observed": "running",
            "created_at": 0, "updated_at": 0,
        }))
        .unwrap();
        let params = |json| serde_json::from_value::<TaskParams>(json).unwrap();
        let f = |json| Filter::parse(&params(json)).unwrap();
        assert!(f(serde_json::json!({})).matches(&task));
        assert!(f(serde_json::json!({"env": "dev", "app": "shop", "node": "n1"})).matches(&task));
        assert!(!f(serde_json::json!({"service": "db"})).matches(&task));
        assert!(!f(serde_json::json!({"node": "n2"})).matches(&task));
        assert!(Filter::parse(&params(serde_json::json!({"env": "Dev"}))).is_err());
    }
}
