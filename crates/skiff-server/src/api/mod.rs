//! The HTTP API under `/v1` (docs/api.md): thin handlers, one file per resource, each turning a
//! request into a read of the state or one command proposed through Raft.
//!
//! Every request passes, outermost first: the body limit, [`forward::forward_to_leader`]
//! (followers hand writes and linearizable reads to the leader), then, under `/v1`,
//! [`auth::authenticate`].

pub mod auth;
pub mod body;
mod cluster;
mod configs;
mod envs;
pub mod error;
pub mod forward;
mod health;
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use skiff_core::objects::Timestamp;
use skiff_core::{Command, Name, Response, State};

use self::error::{ApiError, ApiResult};
use crate::control::{Consistency, ControlPlane};

/// What every handler gets: the local member and an HTTP client for forwarding.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The local member of the control plane.
    pub control: ControlPlane,
    /// The client followers forward requests to the leader with.
    pub http: reqwest::Client,
    /// The largest request body read.
    pub body_limit: usize,
}

impl ApiState {
    /// State for the API over `control`, reading bodies up to `body_limit` bytes.
    pub fn new(control: ControlPlane, body_limit: usize) -> Self {
        Self {
            control,
            http: forward::client(),
            body_limit,
        }
    }

    /// Runs `read` on the state, as fresh as `params` asks.
    pub async fn read<R>(
        &self,
        params: &ReadParams,
        read: impl FnOnce(&State) -> R,
    ) -> ApiResult<R> {
        Ok(self.control.read(params.consistency(), read).await?)
    }

    /// Proposes `command` and turns a refusal into its API error.
    pub async fn write(&self, command: Command) -> ApiResult<Written> {
        match self.control.propose(command).await? {
            Response::Ok { revision, results } => Ok(Written {
                revision,
                prev_revisions: results.into_iter().map(|r| r.prev_revision).collect(),
            }),
            Response::Conflict {
                key,
                expected,
                found,
            } => Err(ApiError::conflict(&key, expected, found)),
            Response::Invalid { reason } => Err(reason.into()),
        }
    }
}

/// What an accepted write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The revision it was applied at.
    pub revision: u64,
    /// Per op, the key's revision before (`None`: it held nothing).
    pub prev_revisions: Vec<Option<u64>>,
}

impl Written {
    /// Whether the first op's key held an object before (for a delete: whether it deleted one).
    pub fn existed(&self) -> bool {
        self.prev_revisions.first().copied().flatten().is_some()
    }
}

/// The query of a read: `?stale=true` reads this server's state without asking the leader.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Read locally, possibly behind the leader.
    #[serde(default)]
    pub stale: bool,
}

impl ReadParams {
    fn consistency(&self) -> Consistency {
        if self.stale {
            Consistency::Stale
        } else {
            Consistency::Linearizable
        }
    }
}

/// A query string parsed into `T`, with errors as API errors.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| ApiError::invalid(format!("query string: {}", e.body_text())))
    }
}

pub use skiff_core::api::List;

/// Parses a name from a path segment or body field, naming `what` in the error.
pub fn name(what: &str, text: &str) -> ApiResult<Name> {
    Name::new(text).map_err(|e| ApiError::invalid(format!("{what} {text:?}: {e}")))
}

/// Milliseconds since the Unix epoch, for the timestamps a command carries.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    Timestamp(ms)
}

/// The API's router.
pub fn router(api: ApiState) -> Router {
    let body_limit = api.body_limit;
    let v1 = Router::new()
        .route("/v1/envs", get(envs::list).post(envs::create))
        .route("/v1/envs/{env}", get(envs::get).delete(envs::delete))
        .route("/v1/envs/{env}/configs", get(configs::list))
        .route(
            "/v1/envs/{env}/configs/{name}",
            get(configs::get).put(configs::put).delete(configs::delete),
        )
        .route("/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/v1/tokens/{id}", delete(tokens::delete))
        .route("/v1/cluster", get(cluster::status))
        .route("/v1/cluster/members", post(cluster::join))
        .route("/v1/cluster/snapshot", get(cluster::snapshot))
        .route("/v1/cluster/members/{id}", delete(cluster::leave))
        .layer(middleware::from_fn_with_state(
            api.control.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(v1)
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "no_such_route",
                "no such API route; see /v1/openapi.json",
            )
        })
        .layer(middleware::from_fn_with_state(
            api.clone(),
            forward::forward_to_leader,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(api)
}

/// `Json` of a write's revision.
pub fn written(revision: u64) -> Json<skiff_api::v1::WriteResult> {
    Json(skiff_api::v1::WriteResult { revision })
}
