//! `/v1/nodes`: the machines agents run on (cluster-wide objects: a token scoped to some
//! environments cannot read them).

use axum::extract::{Path, State};
use axum::Json;
use skiff_api::v1::WriteResult;
use skiff_core::objects::Role;
use skiff_core::plan::{self, NodeUpdate};
use skiff_core::{Key, Kind, Record};

use super::apps::plan_and_write;
use super::auth::Caller;
use super::body::Body;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{name, ApiState, List, NoParams, Params, ReadParams};

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

/// `PATCH /v1/nodes/{id}`: an operator's change of a node's availability (drain, pause,
/// activate) or labels (a null value removes one). Answers the revision written, or the
/// node's current one when nothing changed.
#[utoipa::path(
    patch,
    path = "/v1/nodes/{id}",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id")),
    request_body = NodeUpdate,
    responses(ErrorResponses, (status = 200, body = WriteResult)),
)]
pub async fn update(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path(id): Path<String>,
    Body(update): Body<NodeUpdate>,
) -> ApiResult<Json<WriteResult>> {
    caller.require(Role::Admin, None)?;
    let id = name("node id", &id)?;
    let key = Key::Node { id: id.clone() };
    let (revision, current) = plan_and_write(&api, |state| {
        let current = state.get(&key).map(|r| r.mod_revision);
        Ok((plan::update_node(state, &id, &update)?, current))
    })
    .await?;
    let revision = revision
        .or(current)
        .ok_or_else(|| ApiError::internal("a node update found no node"))?;
    Ok(Json(WriteResult { revision }))
}
