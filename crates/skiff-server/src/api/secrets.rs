//! `/v1/envs/{env}/secrets`: payloads sealed at rest (see [`crate::sealing`]) and delivered only
//! to the containers that declare them. The payload goes in once, with a write; no answer ever
//! carries it or its ciphertext back: reads give [`SecretInfo`] (name, labels, size, revisions).
//! Writes take `If-Match: "<revision>"` or `If-None-Match: *` as configs do.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use skiff_api::v1::{PutPayload, SecretInfo, SecretList, WriteResult};
use skiff_core::objects::{Role, Secret};
use skiff_core::{Command, Key, Kind, Object, Record};

use super::auth::Caller;
use super::body::{self, RawBody};
use super::conditional::expectation;
use super::configs::check_labels;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{name, written, ApiState, NoParams, Params, ReadParams};
use crate::sealing::{self, SealError};

/// The largest secret payload, in bytes (Docker's limit too): a secret is a key or a password,
/// not a file system, and every one travels through the Raft log.
pub const MAX_SECRET_BYTES: usize = 500 * 1024;

fn key(caller: &Caller, role: Role, env: &str, secret: &str) -> ApiResult<Key> {
    let env = caller.env(role, env)?;
    Ok(Key::Secret {
        env,
        name: name("secret name", secret)?,
    })
}

/// The payload of a write, checked: base64, not empty, at most [`MAX_SECRET_BYTES`].
pub fn payload(request: &PutPayload) -> ApiResult<Vec<u8>> {
    // A base64 text 4/3 the size of the limit and more cannot fit: refuse before decoding.
    if request.data.len() > MAX_SECRET_BYTES.div_ceil(3) * 4 + 4 {
        return Err(too_large(request.data.len() / 4 * 3));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(request.data.as_bytes())
        .map_err(|e| ApiError::invalid(format!("field data: not base64: {e}")))?;
    if data.is_empty() {
        return Err(ApiError::invalid(
            "field data: empty; a secret holds at least one byte",
        ));
    }
    if data.len() > MAX_SECRET_BYTES {
        return Err(too_large(data.len()));
    }
    Ok(data)
}

fn too_large(len: usize) -> ApiError {
    ApiError::invalid(format!(
        "field data: about {len} bytes; a secret holds at most {MAX_SECRET_BYTES} bytes"
    ))
}

/// A sealing failure as an API error.
fn sealing(e: SealError) -> ApiError {
    match e {
        SealError::NoClusterSecret => ApiError::unavailable("not_joined", e.to_string()),
        _ => ApiError::internal(e.to_string()),
    }
}

/// What may be told of a stored secret.
pub fn info(record: &Record) -> Option<SecretInfo> {
    let Object::Secret(secret) = &record.object else {
        return None;
    };
    Some(SecretInfo {
        env: secret.env.to_string(),
        name: secret.name.to_string(),
        labels: secret.labels.clone(),
        size: sealing::plaintext_len(secret.ciphertext.len()) as u64,
        key_id: secret.key_id.clone(),
        create_revision: record.create_revision,
        mod_revision: record.mod_revision,
    })
}

/// `PUT /v1/envs/{env}/secrets/{name}`: seals the payload and stores it.
#[utoipa::path(
    put,
    path = "/v1/envs/{env}/secrets/{name}",
    tag = "secrets",
    params(
        ("env" = String, Path, description = "The environment"),
        ("name" = String, Path, description = "The secret"),
        ("If-Match" = Option<String>, Header, description = "Write only if the secret's \
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
    Path((env, secret)): Path<(String, String)>,
    headers: HeaderMap,
    raw: RawBody,
) -> ApiResult<Json<WriteResult>> {
    // Authorized before the body is parsed: a caller that may not write learns nothing more.
    let key = key(&caller, Role::Deploy, &env, &secret)?;
    let expect = expectation(&headers)?;
    let request: PutPayload = body::parse(raw.format, &raw.bytes)?;
    let data = payload(&request)?;
    check_labels(&request.labels)?;
    let Key::Secret { env, name } = key else {
        unreachable!("built above")
    };
    let (ciphertext, key_id) = api
        .sealer
        .seal(env.as_str(), name.as_str(), &data)
        .map_err(sealing)?;
    let object = Object::Secret(Secret {
        env,
        name,
        ciphertext,
        key_id,
        labels: request.labels,
    });
    let done = api.write(Command::put(object, expect)).await?;
    Ok(written(done.revision))
}

/// `GET /v1/envs/{env}/secrets/{name}`: what is known of it, never its payload.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/secrets/{name}",
    tag = "secrets",
    params(("env" = String, Path, description = "The environment"),
        ("name" = String, Path, description = "The secret"), ReadParams),
    responses(ErrorResponses, (status = 200, body = SecretInfo)),
)]
pub async fn get(
    State(api): State<ApiState>,
    caller: Caller,
    Path((env, secret)): Path<(String, String)>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<SecretInfo>> {
    let key = key(&caller, Role::Read, &env, &secret)?;
    let record = api.get(&params, &key).await?;
    info(&record)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(&key))
}

/// `GET /v1/envs/{env}/secrets`.
#[utoipa::path(
    get,
    path = "/v1/envs/{env}/secrets",
    tag = "secrets",
    params(("env" = String, Path, description = "The environment"), ReadParams),
    responses(ErrorResponses, (status = 200, body = SecretList)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Path(env): Path<String>,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<SecretList>> {
    let env = caller.env(Role::Read, &env)?;
    let prefix = format!("{}{env}/", Kind::Secret.prefix());
    let list = api.list(&params, &prefix).await?;
    Ok(Json(SecretList {
        revision: list.revision,
        items: list.items.iter().filter_map(info).collect(),
    }))
}

/// `DELETE /v1/envs/{env}/secrets/{name}` (with `If-Match` for a conditional delete).
#[utoipa::path(
    delete,
    path = "/v1/envs/{env}/secrets/{name}",
    tag = "secrets",
    params(
        ("env" = String, Path, description = "The environment"),
        ("name" = String, Path, description = "The secret"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the secret's \
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
    Path((env, secret)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<WriteResult>> {
    let key = key(&caller, Role::Deploy, &env, &secret)?;
    super::delete_object(&api, key, expectation(&headers)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(data: &str) -> PutPayload {
        PutPayload {
            data: data.to_owned(),
            labels: Default::default(),
        }
    }

    fn message(result: ApiResult<Vec<u8>>) -> String {
        result.unwrap_err().body().message
    }

    #[test]
    fn payloads_are_base64_not_empty_and_bounded() {
        assert_eq!(payload(&put("aGVsbG8=")).unwrap(), b"hello");
        assert!(message(payload(&put("not base64!"))).starts_with("field data: not base64"));
        assert!(message(payload(&put(""))).starts_with("field data: empty"));
        let b64 = base64::engine::general_purpose::STANDARD;
        let at_limit = b64.encode(vec![1u8; MAX_SECRET_BYTES]);
        assert_eq!(payload(&put(&at_limit)).unwrap().len(), MAX_SECRET_BYTES);
        let over = b64.encode(vec![1u8; MAX_SECRET_BYTES + 1]);
        assert!(message(payload(&put(&over))).contains("at most 512000 bytes"));
        let huge = "A".repeat(MAX_SECRET_BYTES * 2);
        assert!(message(payload(&put(&huge))).contains("at most 512000 bytes"));
    }

    #[test]
    fn info_tells_no_ciphertext() {
        let record = Record {
            key: Key::Secret {
                env: "dev".parse().unwrap(),
                name: "db".parse().unwrap(),
            },
            object: Object::Secret(Secret {
                env: "dev".parse().unwrap(),
                name: "db".parse().unwrap(),
                ciphertext: vec![0xAB; 40],
                key_id: "cluster-v1".into(),
                labels: Default::default(),
            }),
            create_revision: 3,
            mod_revision: 5,
        };
        let info = info(&record).unwrap();
        assert_eq!(info.size, 12);
        let text = serde_json::to_string(&info).unwrap();
        assert!(!text.contains("ciphertext"), "{text}");
        assert!(!text.contains("q6ur"), "{text}"); // base64 of 0xAB 0xAB 0xAB
    }
}
