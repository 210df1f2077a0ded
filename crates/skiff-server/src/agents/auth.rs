//! Every agent call carries `authorization: Bearer <token>`, an admin token checked as the
//! HTTP API checks its tokens ([`crate::api::auth`]), against this server's state.

use skiff_core::objects::{Role, Token};
use skiff_core::{Key, Object};
use tonic::metadata::MetadataMap;
use tonic::Status;

use crate::api::auth::TokenString;
use crate::control::{Consistency, ControlPlane};

/// The admin token `metadata` carries, or `Unauthenticated` / `PermissionDenied` saying what
/// is wrong.
pub async fn authorize(control: &ControlPlane, metadata: &MetadataMap) -> Result<Token, Status> {
    let value = metadata.get("authorization").ok_or_else(|| {
        Status::unauthenticated(
            "no token: send `authorization: Bearer <token>` metadata with an admin token",
        )
    })?;
    let text = value.to_str().unwrap_or_default();
    let presented = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(|| Status::unauthenticated("the authorization metadata must be Bearer"))?;
    let presented = TokenString::parse(presented).ok_or_else(|| {
        Status::unauthenticated("the token is malformed; expected skiff.ID.SECRET")
    })?;
    let key = Key::Token {
        id: presented.id.clone(),
    };
    let stored = control
        .read(Consistency::Stale, |state| {
            state.get(&key).map(|r| r.object.clone())
        })
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let token = match stored {
        // Both sides are fixed-length digests, so comparing them leaks nothing of the secret.
        Some(Object::Token(token)) if token.secret_sha256 == presented.secret_sha256() => token,
        _ => return Err(Status::unauthenticated("unknown or revoked token")),
    };
    if !token.allows(Role::Admin, None) {
        return Err(Status::permission_denied(format!(
            "token {} ({} role) may not run an agent; agents need a cluster-wide admin token",
            token.id,
            token.role.as_str()
        )));
    }
    Ok(token)
}
