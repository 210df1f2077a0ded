//! `/v1/envs/{env}/apps`: apply (JSON `AppSpec` or YAML compose file, `?dry_run=true`), list,
//! get, delete and history. An apply or delete is planned by `skiff_core::plan` over a
//! linearizable read and proposed as one transaction; when something it read changed before
//! the transaction committed (a `revision_conflict` from the state machine), it is read and
//! planned again, a few times, before the 409 goes back to the client.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use skiff_api::v1::{RollbackRequest, ScaleRequest, WriteResult};
use skiff_core::api::{AppHistory, ApplyResult};
use skiff_core::objects::{AppRevision, Role};
use skiff_core::plan::{self, PlanError};
use skiff_core::{Command, Key, Kind, Object, Record, Response, State as CoreState};

use super::auth::Caller;
use super::body::{Body, RawBody};
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::manifest::{self, invalid_manifest};
use super::{name, written, ApiState, List, NoParams, Params, ReadParams};

/// How many times an apply or delete is planned before a conflict is given back.
pub const PLAN_ATTEMPTS: usize = 5;

/// The query of an apply.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplyParams {
    /// Plan and answer the diff, write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Reads linearizably, plans with `plan` and proposes the command it returns (none: nothing to
/// write), again from a fresh read when the transaction conflicts. Returns what the plan
/// produced alongside, and the revision written at (`None` when nothing was written).
pub(super) async fn plan_and_write<T>(
    api: &ApiState,
    plan: impl Fn(&CoreState) -> Result<(Option<Command>, T), PlanError>,
) -> ApiResult<(Option<u64>, T)> {
    let fresh = ReadParams::default();
    let mut attempt = 1;
    loop {
        let (command, value) = api.read(&fresh, &plan).await?.map_err(plan_error)?;
        let Some(command) = command else {
            return Ok((None, value));
        };
        match api.control.propose(command).await? {
            Response::Ok { revision, .. } => return Ok((Some(revision), value)),
            Response::Conflict { .. } if attempt < PLAN_ATTEMPTS => attempt += 1,
            Response::Conflict {
                key,
                expected,
                found,
            } => return Err(ApiError::conflict(&key, expected, found)),
            Response::Invalid { reason } => return Err(reason.into()),
        }
    }
}

/// A plan's refusal; the ones about the spec itself are manifest problems.
fn plan_error(e: PlanError) -> ApiError {
    match e {
        PlanError::EnvironmentMismatch { .. }
        | PlanError::InvalidAppName { .. }
        | PlanError::InvalidServiceName { .. } => {
            invalid_manifest(vec![manifest::Problem::whole("", e.to_string())])
        }
        other => other.into(),
    }
}

fn app_key(caller: &Caller, role: Role, env: &str, app: &str) -> ApiResult<Key> {
    let env = caller.env(role, env)?;
    Ok(Key::App {
        env,
        app: name("app", app)?,
    })
}

/// `POST /v1/envs/{env}/apps`: makes the app what the body says.
#[utoipa::path(
    post,
    path = "/v1/envs/{env}/apps",
    tag = "apps",
    params(("env" = String, Path, description = "The environment"), ApplyParams),
    request_body(
        description = "A normalized AppSpec as JSON, or one compose file as YAML (loaded for \
                       the path's environment, with its x-skiff.environments overrides; no \
                       includes, env files or process environment)",
        content(
            (Object = "application/json"),
            (String = "application/yaml"),
        ),
    ),
    responses(
        ErrorResponses,
        (status = 200, description = "Applied (or planned, for a dry run); `revision` is null \
                                      when nothing was written", body = ApplyResult),
        (status = 400, description = "`invalid_manifest`, with `details.problems`",
         body = skiff_api::v1::ErrorBody),
        (status = 409, description = "`revision_conflict` (it kept changing) or \
                                      `quota_exceeded`", body = skiff_api::v1::ErrorBody),
        (status = 413, description = "`body_too_large`", body = skiff_api::v1::ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn apply(
    State(api): State<ApiState>,
    caller: Caller,
    Path(env): Path<String>,
    Params(params): Params<ApplyParams>,
    body: RawBody,
) -> ApiResult<Json<ApplyResult>> {
    let env = caller.env(Role::Deploy, &env)?;
    let spec = manifest::load(body.format, &body.bytes, &env).map_err(invalid_manifest)?;
    let dry_run = params.dry_run;
    let (revision, diff) = plan_and_write(&api, |state| {
        let plan = plan::apply_app(state, &env, &spec)?;
        let write = !dry_run && !plan.is_empty();
        Ok((write.then_some(plan.command), plan.diff))
    })
    .await?;
    Ok(Json(ApplyResult {
        revision,
        dry_run,
        diff,
    }))
}

/// `GET /v1/envs/{env}/apps`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/apps",
    tag = "apps",
    params(("env" = String, Path, description = "The environment"), ReadParams),
    responses(ErrorResponses, (status = 200, body = List)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Path(env): Path<String>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<List>> {
    let env = caller.env(Role::Read, &env)?;
    let prefix = format!("{}{env}/", Kind::App.prefix());
    Ok(Json(api.list(&params, &prefix).await?))
}

/// `GET /v1/envs/{env}/apps/{app}`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/apps/{app}",
    tag = "apps",
    params(
        ("env" = String, Path, description = "The environment"),
        ("app" = String, Path, description = "The app"),
        ReadParams,
    ),
    responses(ErrorResponses, (status = 200, body = Record)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path((env, app)): Path<(String, String)>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<Record>> {
    let key = app_key(&caller, Role::Read, &env, &app)?;
    api.get(&params, &key).await.map(Json)
}

/// `DELETE /v1/envs/{env}/apps/{app}`: the app, its services and its tasks, in one write.
#[utoipa::path(
    delete,
    path = "/v1/envs/{env}/apps/{app}",
    tag = "apps",
    params(
        ("env" = String, Path, description = "The environment"),
        ("app" = String, Path, description = "The app"),
    ),
    responses(
        ErrorResponses,
        (status = 200, body = WriteResult),
        (status = 409, description = "`revision_conflict`: it kept changing",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn delete(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path((env, app)): Path<(String, String)>,
) -> ApiResult<Json<WriteResult>> {
    let Key::App { env, app } = app_key(&caller, Role::Deploy, &env, &app)? else {
        unreachable!("app_key makes app keys")
    };
    let (revision, ()) = plan_and_write(&api, |state| {
        Ok((Some(plan::delete_app(state, &env, &app)?), ()))
    })
    .await?;
    let revision = revision.ok_or_else(|| ApiError::internal("a delete wrote nothing"))?;
    Ok(written(revision))
}

/// `GET /v1/envs/{env}/apps/{app}/history`: the current spec, then the earlier ones kept.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/apps/{app}/history",
    tag = "apps",
    params(
        ("env" = String, Path, description = "The environment"),
        ("app" = String, Path, description = "The app"),
        ReadParams,
    ),
    responses(ErrorResponses, (status = 200, body = AppHistory)),
)]
pub async fn history(
    State(api): State<ApiState>,
    caller: Caller,
    Path((env, app)): Path<(String, String)>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<AppHistory>> {
    let key = app_key(&caller, Role::Read, &env, &app)?;
    let record = api.get(&params, &key).await?;
    let Object::App(app) = record.object else {
        return Err(ApiError::internal(format!(
            "{key} holds something else than an app"
        )));
    };
    let current = AppRevision {
        spec_revision: app.spec_revision,
        spec: app.spec,
    };
    let revisions = std::iter::once(current)
        .chain(app.history.into_iter().rev())
        .collect();
    Ok(Json(AppHistory {
        mod_revision: record.mod_revision,
        revisions,
    }))
}

/// `POST /v1/envs/{env}/apps/{app}/services/{svc}/scale`: a new app revision in which the
/// service runs `replicas` tasks (in the history like any apply; the running tasks stay).
#[utoipa::path(
    post,
    path = "/v1/envs/{env}/apps/{app}/services/{svc}/scale",
    tag = "apps",
    params(
        ("env" = String, Path, description = "The environment"),
        ("app" = String, Path, description = "The app"),
        ("svc" = String, Path, description = "The service"),
    ),
    request_body = ScaleRequest,
    responses(
        ErrorResponses,
        (status = 200, description = "Scaled; `revision` is null when the count already was \
                                      that", body = ApplyResult),
        (status = 409, description = "`revision_conflict` (it kept changing) or \
                                      `quota_exceeded`", body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn scale(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path((env, app, svc)): Path<(String, String, String)>,
    Body(request): Body<ScaleRequest>,
) -> ApiResult<Json<ApplyResult>> {
    let Key::App { env, app } = app_key(&caller, Role::Deploy, &env, &app)? else {
        unreachable!("app_key makes app keys")
    };
    let svc = name("service", &svc)?;
    let (revision, diff) = plan_and_write(&api, |state| {
        let plan = plan::scale_service(state, &env, &app, &svc, request.replicas)?;
        Ok(((!plan.is_empty()).then_some(plan.command), plan.diff))
    })
    .await?;
    Ok(Json(ApplyResult {
        revision,
        dry_run: false,
        diff,
    }))
}

/// `POST /v1/envs/{env}/apps/{app}/rollback`: a new app revision restoring an earlier spec
/// (`skiff rollout undo`); the services it changes are marked `rollback_started` and the
/// orchestrator replaces their tasks per their `rollback_config`.
#[utoipa::path(
    post,
    path = "/v1/envs/{env}/apps/{app}/rollback",
    tag = "apps",
    params(
        ("env" = String, Path, description = "The environment"),
        ("app" = String, Path, description = "The app"),
    ),
    request_body = RollbackRequest,
    responses(
        ErrorResponses,
        (status = 200, description = "Rolled back: the diff from the current spec",
         body = ApplyResult),
        (status = 409, description = "`nothing_to_roll_back` (no earlier spec kept that \
                                      differs), `revision_conflict` or `quota_exceeded`",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn rollback(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path((env, app)): Path<(String, String)>,
    Body(request): Body<RollbackRequest>,
) -> ApiResult<Json<ApplyResult>> {
    let Key::App { env, app } = app_key(&caller, Role::Deploy, &env, &app)? else {
        unreachable!("app_key makes app keys")
    };
    let service = match &request.service {
        Some(svc) => Some(name("service", svc)?),
        None => None,
    };
    let now = super::now();
    let (revision, diff) = plan_and_write(&api, |state| {
        let plan = plan::rollback(state, &env, &app, service.as_ref(), now)?;
        Ok(((!plan.is_empty()).then_some(plan.command), plan.diff))
    })
    .await?;
    Ok(Json(ApplyResult {
        revision,
        dry_run: false,
        diff,
    }))
}
