//! `/v1/nodes`: the machines agents run on (cluster-wide objects: a token scoped to some
//! environments cannot read them).

use axum::extract::{Path, State};
use axum::Json;
use skiff_core::objects::Role;
use skiff_core::{Key, Kind, Record};

use super::auth::Caller;
use super::error::{ApiResult, ErrorResponses};
use super::{name, ApiState, List, Params, ReadParams};

/// `GET /v1/nodes`.
#[utoipa::path(
    get,
    path = "/v1/nodes",
    tag = "nodes",
    params(ReadParams),
    responses(ErrorResponses, (status = 200, body = List)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<List>> {
    caller.require(Role::Read, None)?;
    Ok(Json(api.list(&params, &Kind::Node.prefix()).await?))
}

/// `GET /v1/nodes/{id}`.
#[utoipa::path(
    get,
    path = "/v1/nodes/{id}",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id"), ReadParams),
    responses(ErrorResponses, (status = 200, body = Record)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<Record>> {
    caller.require(Role::Read, None)?;
    let key = Key::Node {
        id: name("node id", &id)?,
    };
    api.get(&params, &key).await.map(Json)
}
