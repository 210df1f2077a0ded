//! The HTTP API under `/v1` (docs/api.md): thin handlers, one file per resource, each turning a
//! request into a read of the state or one command proposed through Raft.
//!
//! Every request passes, outermost first: the body limit, [`forward::forward_to_leader`]
//! (followers hand writes and linearizable reads to the leader), then, under `/v1` (but for
//! the OpenAPI document), [`auth::authenticate`]. Routes are declared once, in [`routes`],
//! from the handlers' `#[utoipa::path]` attributes, which also make the OpenAPI document
//! ([`openapi`]).

mod apps;
pub mod auth;
pub mod body;
mod cluster;
pub mod conditional;
mod configs;
mod envs;
pub mod error;
pub mod events;
pub mod forward;
mod health;
pub mod manifest;
mod nodes;
pub mod openapi;
pub mod secrets;
mod services;
mod tasks;
pub mod tasks_io;
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::{middleware, Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use skiff_core::objects::Timestamp;
use skiff_core::{Command, Key, Name, Record, Response, State};
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error::{ApiError, ApiResult};
use crate::control::{Consistency, ControlPlane};
use crate::sealing::Sealer;

/// What every handler gets: the local member and an HTTP client for forwarding.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The local member of the control plane.
    pub control: ControlPlane,
    /// The client followers forward requests to the leader with.
    pub http: reqwest::Client,
    /// The largest request body read.
    pub body_limit: usize,
    /// The tokens of the agents' sessions with this server, to reach them for logs and exec.
    pub links: crate::agents::links::NodeLinks,
    /// Seals secrets before they are written.
    pub sealer: Sealer,
    /// Turns `true` when the server stops: open watch streams end.
    stopping: watch::Receiver<bool>,
}

impl ApiState {
    /// State for the API over `control`, reading bodies up to `body_limit` bytes; long-lived
    /// answers (watch streams) end when `stopping` turns `true`.
    pub fn new(control: ControlPlane, body_limit: usize, stopping: watch::Receiver<bool>) -> Self {
        Self {
            control,
            http: forward::client(),
            body_limit,
            links: Default::default(),
            sealer: Sealer::new(crate::raft_network::ClusterSecret::disabled()),
            stopping,
        }
    }

    /// The same, reaching agents through the sessions recorded in `links` (those the server's
    /// `Agent` service records into).
    pub fn with_links(mut self, links: crate::agents::links::NodeLinks) -> Self {
        self.links = links;
        self
    }

    /// The same, sealing secrets with `sealer` (without one, writing a secret is refused).
    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = sealer;
        self
    }

    /// Resolves once the server stops (never, if whoever could stop it is gone).
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        if stopping.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The records under `prefix` (a key prefix ending at a segment boundary) and the revision
    /// they were read at.
    pub async fn list(&self, params: &ReadParams, prefix: &str) -> ApiResult<List> {
        self.read(params, |state| List {
            revision: state.revision(),
            items: state.list(prefix).into_iter().cloned().collect(),
        })
        .await
    }

    /// The record at `key`; 404 `not_found` when there is none.
    pub async fn get(&self, params: &ReadParams, key: &Key) -> ApiResult<Record> {
        let record = self.read(params, |state| state.get(key).cloned()).await?;
        record.ok_or_else(|| ApiError::not_found(key))
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
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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

/// The query of a call that takes no parameters: any given is a 400, so that a typo (say
/// `?dry_run=true` on a delete) never passes unnoticed.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

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

pub use cluster::LEARNER_TIMEOUT;
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

/// The routes that need a token, each with its OpenAPI operation.
fn v1_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(envs::list, envs::create))
        .routes(routes!(envs::get, envs::delete))
        .routes(routes!(apps::list, apps::apply))
        .routes(routes!(apps::get, apps::delete))
        .routes(routes!(apps::history))
        .routes(routes!(apps::scale))
        .routes(routes!(apps::rollback))
        .routes(routes!(services::list))
        .routes(routes!(services::get))
        .routes(routes!(configs::list))
        .routes(routes!(configs::get, configs::put, configs::delete))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::get, secrets::put, secrets::delete))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks_io::logs))
        .routes(routes!(tasks_io::exec))
        .routes(routes!(nodes::list))
        .routes(routes!(nodes::get, nodes::update))
        .routes(routes!(events::watch))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::delete))
        .routes(routes!(cluster::status))
        .routes(routes!(cluster::join))
        .routes(routes!(cluster::leave))
        .routes(routes!(cluster::snapshot))
}

/// The routes anyone may call.
fn public_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::serve))
}

/// Every route with its OpenAPI operation, without the middleware (for the document).
pub fn routes() -> OpenApiRouter<ApiState> {
    public_routes().merge(v1_routes())
}

/// The API's router.
pub fn router(api: ApiState) -> Router {
    let body_limit = api.body_limit;
    let authenticated = v1_routes().layer(middleware::from_fn_with_state(
        api.control.clone(),
        auth::authenticate,
    ));
    let (router, _) = public_routes().merge(authenticated).split_for_parts();
    router
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_route",
                "no such API route; see /v1/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take this method; see /v1/openapi.json",
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

/// Deletes the object at `key` if `expect` admits it: its revision, or 404 when there was
/// nothing to delete (the state machine takes deleting nothing as done; the API says 404, as a
/// get would).
pub(crate) async fn delete_object(
    api: &ApiState,
    key: skiff_core::Key,
    expect: skiff_core::Expect,
) -> error::ApiResult<Json<skiff_api::v1::WriteResult>> {
    let done = api
        .write(skiff_core::Command::Delete {
            key: key.clone(),
            expect,
        })
        .await?;
    if !done.existed() {
        return Err(error::ApiError::not_found(&key));
    }
    Ok(written(done.revision))
}
