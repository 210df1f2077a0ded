//! `/v1/envs/{env}/services`: the services of an environment's apps (written by applies; read
//! here).

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use skiff_core::objects::Role;
use skiff_core::{Key, Kind, Record};

use super::auth::Caller;
use super::error::{ApiResult, ErrorResponses};
use super::{name, ApiState, List, Params, ReadParams};

/// The query of a service listing.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceParams {
    /// Only this app's services.
    pub app: Option<String>,
    /// Read this server's state without asking the leader.
    #[serde(default)]
    pub stale: bool,
}

/// `GET /v1/envs/{env}/services[?app=APP]`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/services",
    tag = "services",
    params(("env" = String, Path, description = "The environment"), ServiceParams),
    responses(ErrorResponses, (status = 200, body = List)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Path(env): Path<String>,
    Params(params): Params<ServiceParams>,
) -> ApiResult<Json<List>> {
    let env = caller.env(Role::Read, &env)?;
    let prefix = match &params.app {
        Some(app) => format!("{}{env}/{}/", Kind::Service.prefix(), name("app", app)?),
        None => format!("{}{env}/", Kind::Service.prefix()),
    };
    let read = ReadParams {
        stale: params.stale,
    };
    Ok(Json(api.list(&read, &prefix).await?))
}

/// `GET /v1/envs/{env}/apps/{app}/services/{svc}`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/apps/{app}/services/{svc}",
    tag = "services",
    params(
        ("env" = String, Path, description = "The environment"),
        ("app" = String, Path, description = "The app"),
        ("svc" = String, Path, description = "The service"),
        ReadParams,
    ),
    responses(ErrorResponses, (status = 200, body = Record)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path((env, app, svc)): Path<(String, String, String)>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<Record>> {
    let env = caller.env(Role::Read, &env)?;
    let key = Key::Service {
        env,
        app: name("app", &app)?,
        service: name("service", &svc)?,
    };
    api.get(&params, &key).await.map(Json)
}
