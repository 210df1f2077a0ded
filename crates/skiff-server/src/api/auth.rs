//! Authentication: `Authorization: Bearer skiff.{id}.{secret}` checked against the token
//! stored at `/tokens/{id}` (only the secret's SHA-256 is stored). Authorization — may this
//! token do this in this environment — is `skiff_core::objects::Token::allows`; handlers ask
//! through [`Caller::require`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use skiff_core::objects::{Role, Token};
use skiff_core::{Key, Name, Object};

use super::error::ApiError;
use crate::control::{Consistency, ControlPlane};

/// The prefix of every token string.
pub const TOKEN_PREFIX: &str = "skiff";

/// A token string's two halves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenString {
    /// The id: the key of the stored token.
    pub id: Name,
    /// The secret, as presented.
    pub secret: String,
}

impl TokenString {
    /// Parses `skiff.{id}.{secret}`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '.');
        if parts.next()? != TOKEN_PREFIX {
            return None;
        }
        let id = Name::new(parts.next()?).ok()?;
        let secret = parts.next()?;
        if secret.is_empty() || secret.len() > 256 {
            return None;
        }
        Some(Self {
            id,
            secret: secret.to_owned(),
        })
    }

    /// A new token for `id` with a fresh 256-bit secret from the OS.
    pub fn generate(id: Name) -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self {
            id,
            secret: hex::encode(secret),
        })
    }

    /// SHA-256 of the secret, lowercase hex: what the state stores.
    pub fn secret_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }
}

impl std::fmt::Display for TokenString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{TOKEN_PREFIX}.{}.{}", self.id, self.secret)
    }
}

/// The authenticated caller of a request: its stored token.
#[derive(Debug, Clone)]
pub struct Caller(pub Token);

impl Caller {
    /// Answers 403 unless the caller may act with `role` on `env` (`None`: cluster-wide).
    pub fn require(&self, role: Role, env: Option<&Name>) -> Result<(), ApiError> {
        if self.0.allows(role, env) {
            return Ok(());
        }
        let what = match env {
            Some(env) => format!("environment {env}"),
            None => "cluster-wide objects".to_owned(),
        };
        Err(ApiError::forbidden(format!(
            "token {} ({} role) may not do this on {what}; it needs the {} role there",
            self.0.id,
            self.0.role.as_str(),
            role.as_str()
        )))
    }
}

impl Caller {
    /// The environment named `text` in a path, once the caller may act with `role` in it:
    /// 400 for a bad name, 403 for a token that may not.
    pub fn env(&self, role: Role, text: &str) -> Result<Name, ApiError> {
        let env = super::name("environment", text)?;
        self.require(role, Some(&env))?;
        Ok(env)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("this request carries no valid token"))
    }
}

fn bearer(headers: &HeaderMap) -> Result<TokenString, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated(
            "no token: send Authorization: Bearer <token> (the CLI reads SKIFF_TOKEN)",
        )
    })?;
    let text = value.to_str().unwrap_or_default();
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthenticated("the Authorization header must be Bearer"))?;
    TokenString::parse(token).ok_or_else(|| {
        ApiError::unauthenticated("the token is malformed; expected skiff.ID.SECRET")
    })
}

/// Middleware: looks the bearer token up in this server's state and attaches the [`Caller`].
/// The lookup is a local read: a request that needs the leader was forwarded there first, and
/// is authenticated against the leader's state.
pub async fn authenticate(
    State(control): State<ControlPlane>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = match bearer(req.headers()) {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let key = Key::Token {
        id: presented.id.clone(),
    };
    let stored = control
        .read(Consistency::Stale, |state| {
            state.get(&key).map(|r| r.object.clone())
        })
        .await;
    let token = match stored {
        Ok(Some(Object::Token(token))) => token,
        Ok(_) => return ApiError::unauthenticated("unknown or revoked token").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    // Both sides are fixed-length digests, so comparing them leaks nothing about the secret.
    if token.secret_sha256 != presented.secret_sha256() {
        return ApiError::unauthenticated("unknown or revoked token").into_response();
    }
    req.extensions_mut().insert(Caller(token));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_strings_round_trip() {
        let token = TokenString::generate(Name::new("abc123").unwrap()).unwrap();
        let text = token.to_string();
        assert!(text.starts_with("skiff.abc123."));
        assert_eq!(TokenString::parse(&text), Some(token.clone()));
        assert_eq!(token.secret_sha256().len(), 64);
        for bad in [
            "",
            "skiff",
            "skiff.abc",
            "skiff.abc.",
            "other.abc.x",
            "skiff.A_B.x",
        ] {
            assert_eq!(TokenString::parse(bad), None, "{bad}");
        }
    }
}
