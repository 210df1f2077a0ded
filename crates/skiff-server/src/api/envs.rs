//! `/v1/envs`: create, list, get and delete environments.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use skiff_api::v1::{CreateEnvironment, WriteResult};
use skiff_core::objects::{Environment, Quota, Role};
use skiff_core::{Command, Expect, Key, Kind, Object, Record};

use super::auth::Caller;
use super::body::Body;
use super::error::{ApiResult, ErrorResponses};
use super::{name, written, ApiState, List, NoParams, Params, ReadParams};

/// `POST /v1/envs`: 201 with the revision; 409 if it exists.
#[utoipa::path(
    post,
    path = "/v1/envs",
    tag = "envs",
    request_body = CreateEnvironment,
    responses(
        ErrorResponses,
        (status = 201, description = "Created", body = WriteResult),
        (status = 409, description = "`revision_conflict`: it exists", body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn create(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Body(request): Body<CreateEnvironment>,
) -> ApiResult<(StatusCode, Json<WriteResult>)> {
    let env = name("environment name", &request.name)?;
    caller.require(Role::Admin, Some(&env))?;
    let environment = Environment {
        name: env,
        quota: Quota {
            max_cpus: request.quota.max_cpus,
            max_memory: request.quota.max_memory,
            max_tasks: request.quota.max_tasks,
        },
        node_selector: request.node_selector,
    };
    let command = Command::put(Object::Environment(environment), Expect::Absent);
    let done = api.write(command).await?;
    Ok((StatusCode::CREATED, written(done.revision)))
}

/// `GET /v1/envs`: the environments the caller may see.
#[utoipa::path(
    get,
    path = "/v1/envs",
    tag = "envs",
    params(ReadParams),
    responses(ErrorResponses, (status = 200, body = List)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<List>> {
    let (revision, items) = api
        .read(&params, |state| {
            let items: Vec<Record> = state
                .list(&Kind::Environment.prefix())
                .into_iter()
                .filter(|r| matches!(&r.key, Key::Environment { env } if caller.0.sees(env)))
                .cloned()
                .collect();
            (state.revision(), items)
        })
        .await?;
    Ok(Json(List { revision, items }))
}

/// `GET /v1/envs/{env}`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}",
    tag = "envs",
    params(("env" = String, Path, description = "The environment"), ReadParams),
    responses(ErrorResponses, (status = 200, body = Record)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path(env): Path<String>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<Record>> {
    let env = caller.env(Role::Read, &env)?;
    let key = Key::Environment { env };
    Ok(Json(api.get(&params, &key).await?))
}

/// `DELETE /v1/envs/{env}`: 409 `not_empty` while apps, secrets or configs live in it.
#[utoipa::path(
    delete,
    path = "/v1/envs/{env}",
    tag = "envs",
    params(("env" = String, Path, description = "The environment")),
    responses(
        ErrorResponses,
        (status = 200, body = WriteResult),
        (status = 409, description = "`not_empty`: apps, secrets or configs live in it",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn delete(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path(env): Path<String>,
) -> ApiResult<Json<WriteResult>> {
    let env = caller.env(Role::Admin, &env)?;
    super::delete_object(&api, Key::Environment { env }, Expect::Any).await
}
