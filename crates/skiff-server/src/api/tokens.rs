//! `/v1/tokens`: create (the secret is shown once), list (without secrets) and revoke tokens.
//! Creating or revoking a token scoped to some environments takes the admin role in each of
//! them; a token for every environment takes a cluster-wide admin.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use skiff_api::v1::{CreateToken, CreatedToken, WriteResult};
use skiff_core::objects::{Role, Token, TokenScope};
use skiff_core::{Command, Expect, Key, Kind, Name, Object};

use super::auth::{Caller, TokenString};
use super::body::Body;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{name, now, written, ApiState, List, NoParams, Params, ReadParams};

/// Longest description kept.
const MAX_DESCRIPTION: usize = 256;

fn role(text: &str) -> ApiResult<Role> {
    match text {
        "admin" => Ok(Role::Admin),
        "deploy" => Ok(Role::Deploy),
        "read" => Ok(Role::Read),
        other => Err(ApiError::invalid(format!(
            "field role: {other:?} is not a role; use admin, deploy or read"
        ))),
    }
}

/// Answers 403 unless `caller` administers everything `scope` reaches.
fn require_admin_over(caller: &Caller, scope: &TokenScope) -> ApiResult<()> {
    match scope {
        TokenScope::All => caller.require(Role::Admin, None),
        TokenScope::Envs(envs) => envs
            .iter()
            .try_for_each(|env| caller.require(Role::Admin, Some(env))),
    }
}

/// `POST /v1/tokens`: 201 with the token string.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body = CreateToken,
    responses(
        ErrorResponses,
        (status = 201, description = "Created; the only time the secret is shown",
         body = CreatedToken),
    ),
)]
pub async fn create(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Body(request): Body<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let role = role(&request.role)?;
    let scope = if request.envs.is_empty() {
        TokenScope::All
    } else {
        let mut envs = request
            .envs
            .iter()
            .map(|e| name("field envs: environment", e))
            .collect::<ApiResult<Vec<Name>>>()?;
        envs.sort();
        envs.dedup();
        TokenScope::Envs(envs)
    };
    if request.description.len() > MAX_DESCRIPTION {
        return Err(ApiError::invalid(format!(
            "field description: at most {MAX_DESCRIPTION} bytes"
        )));
    }
    require_admin_over(&caller, &scope)?;
    let mut id_bytes = [0u8; 6];
    getrandom::fill(&mut id_bytes)
        .map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    let id = name("token id", &hex::encode(id_bytes))?;
    let token = TokenString::generate(id.clone())
        .map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    let object = Object::Token(Token {
        id: id.clone(),
        role,
        scope,
        secret_sha256: token.secret_sha256(),
        description: request.description,
        created_at: now(),
    });
    let done = api.write(Command::put(object, Expect::Absent)).await?;
    let created = CreatedToken {
        id: id.to_string(),
        token: token.to_string(),
        revision: done.revision,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/tokens`: every token, with its secret's hash blanked (cluster-wide admins only).
#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "tokens",
    params(ReadParams),
    responses(ErrorResponses, (status = 200, body = List)),
)]
pub async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    Params(params): Params<ReadParams>,
) -> ApiResult<Json<List>> {
    caller.require(Role::Admin, None)?;
    let (revision, mut items) = api
        .read(&params, |state| {
            let items: Vec<_> = state
                .list(&Kind::Token.prefix())
                .into_iter()
                .cloned()
                .collect();
            (state.revision(), items)
        })
        .await?;
    for record in &mut items {
        if let Object::Token(token) = &mut record.object {
            token.secret_sha256.clear();
        }
    }
    Ok(Json(List { revision, items }))
}

/// `DELETE /v1/tokens/{id}`: revokes a token at once on every server.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses(ErrorResponses, (status = 200, body = WriteResult)),
)]
pub async fn delete(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path(id): Path<String>,
) -> ApiResult<Json<WriteResult>> {
    let key = Key::Token {
        id: name("token id", &id)?,
    };
    let params = ReadParams::default();
    let found = api.read(&params, |state| state.get(&key).cloned()).await?;
    let Some(record) = found else {
        return Err(ApiError::not_found(&key));
    };
    let Object::Token(token) = &record.object else {
        return Err(ApiError::internal(format!(
            "{key} holds something else than a token"
        )));
    };
    require_admin_over(&caller, &token.scope)?;
    let done = api
        .write(Command::Delete {
            key: key.clone(),
            expect: Expect::Revision(record.mod_revision),
        })
        .await?;
    Ok(written(done.revision))
}
