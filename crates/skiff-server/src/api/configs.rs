//! `/v1/envs/{env}/configs`: small payloads (delivered to containers as files in a later
//! release). Writes take `If-Match: "<revision>"` (compare-and-swap) or `If-None-Match: *`
//! (create only); a failed precondition is a 409 `revision_conflict`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use skiff_api::v1::{PutPayload, WriteResult};
use skiff_core::objects::{Config, Role};
use skiff_core::{Command, Key, Kind, Object, Record};

use super::auth::Caller;
use super::body::{self, RawBody};
use super::conditional::expectation;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{name, written, ApiState, List, NoParams, Params, ReadParams};

/// Labels a config may carry, and how long each may be.
const MAX_LABELS: usize = 64;
const MAX_LABEL_LEN: usize = 256;

fn key(caller: &Caller, role: Role, env: &str, config: &str) -> ApiResult<Key> {
    let env = caller.env(role, env)?;
    Ok(Key::Config {
        env,
        name: name("config name", config)?,
    })
}

/// `PUT /v1/envs/{env}/configs/{name}`.
#[utoipa::path(
    put,
    path = "/v1/envs/{env}/configs/{name}",
    tag = "configs",
    params(
        ("env" = String, Path, description = "The environment"),
        ("name" = String, Path, description = "The config"),
        ("If-Match" = Option<String>, Header, description = "Write only if the config's \
          revision is this (`\"12\"`)"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only"),
    ),
    request_body = PutPayload,
    responses(
        ErrorResponses,
        (status = 200, body = WriteResult),
        (status = 409, description = "`revision_conflict`: a precondition failed", body = skiff_api::v1::ErrorBody),
        (status = 413, description = "`body_too_large`", body = skiff_api::v1::ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn put(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path((env, config)): Path<(String, String)>,
    headers: HeaderMap,
    raw: RawBody,
) -> ApiResult<Json<WriteResult>> {
    // Authorized before the body is parsed: a caller that may not write learns nothing more.
    let key = key(&caller, Role::Deploy, &env, &config)?;
    let expect = expectation(&headers)?;
    let request: PutPayload = body::parse(raw.format, &raw.bytes)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(request.data.as_bytes())
        .map_err(|e| ApiError::invalid(format!("field data: not base64: {e}")))?;
    check_labels(&request.labels)?;
    let Key::Config { env, name } = key else {
        unreachable!("built above")
    };
    let object = Object::Config(Config {
        env,
        name,
        data,
        labels: request.labels,
    });
    let done = api.write(Command::put(object, expect)).await?;
    Ok(written(done.revision))
}

pub(super) fn check_labels(labels: &BTreeMap<String, String>) -> ApiResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::invalid(format!(
            "field labels: {} labels, at most {MAX_LABELS}",
            labels.len()
        )));
    }
    match labels
        .iter()
        .find(|(k, v)| k.is_empty() || k.len() > MAX_LABEL_LEN || v.len() > MAX_LABEL_LEN)
    {
        Some((k, _)) => Err(ApiError::invalid(format!(
            "field labels: label {:?} must have a key of 1 to {MAX_LABEL_LEN} bytes and a value \
             of at most {MAX_LABEL_LEN}",
            k.chars().take(64).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// `GET /v1/envs/{env}/configs/{name}`: the payload is base64 in `object.config.data`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/configs/{name}",
    tag = "configs",
    params(("env" = String, Path, description = "The environment"),
        ("name" = String, Path, description = "The config"), ReadParams),
    responses(ErrorResponses, (status = 200, body = Record)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path((env, config)): Path<(String, String)>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<Record>> {
    let key = key(&caller, Role::Read, &env, &config)?;
    Ok(Json(api.get(&params, &key).await?))
}

/// `GET /v1/envs/{env}/configs`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/configs",
    tag = "configs",
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
    let prefix = format!("{}{env}/", Kind::Config.prefix());
    Ok(Json(api.list(&params, &prefix).await?))
}

/// `DELETE /v1/envs/{env}/configs/{name}` (with `If-Match` for a conditional delete).
#[utoipa::path(
    delete,
    path = "/v1/envs/{env}/configs/{name}",
    tag = "configs",
    params(
        ("env" = String, Path, description = "The environment"),
        ("name" = String, Path, description = "The config"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the config's \
          revision is this"),
    ),
    responses(
        ErrorResponses,
        (status = 200, body = WriteResult),
        (status = 409, description = "`revision_conflict`: a precondition failed", body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn delete(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path((env, config)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<WriteResult>> {
    let key = key(&caller, Role::Deploy, &env, &config)?;
    super::delete_object(&api, key, expectation(&headers)?).await
}
