//! `GET /v1/events?from=REV[&prefix=/apps/dev/]`: every change after revision `from`, then the
//! live ones, as NDJSON (one `skiff_core::Event` per line).
//!
//! A watch is served by the server that receives it, from its own applied state, and is never
//! forwarded: a follower's stream may run a little behind the leader's, and each server keeps
//! its own history (a server restored from a snapshot, or restarted, answers only from then
//! on). The stream is woken whenever this server's Raft applies more of the log
//! (`RaftMetrics::last_applied`), reads the history after the last revision it sent, and sends
//! what the caller may see:
//!
//! * events of an environment (its environment, apps, services, tasks, secrets, configs) only
//!   to tokens that can read that environment;
//! * events of cluster-wide objects (nodes) only to tokens with cluster-wide read, and of
//!   tokens only to cluster-wide admins, with the secret's hash blanked;
//! * secrets with their ciphertext blanked (the API never hands out a secret's payload, sealed
//!   or not).
//!
//! When `from` is older than the history kept, the answer is 410 `compacted` with
//! `details.oldest`: re-list, then watch from the listing's revision. A watcher that falls
//! that far behind while streaming gets a last line `{"error": ErrorBody}` and the stream ends.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openraft::RaftMetrics;
use serde::Deserialize;
use serde_json::json;
use skiff_core::objects::MAX_KEY_LEN;
use skiff_core::objects::{Role, Token};
use skiff_core::{Compacted, Event, Key, Name, Object};
use skiff_store::NodeId;
use tokio::sync::watch;

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{ApiState, Params};
use crate::control::Consistency;

/// The content type of the stream.
pub const NDJSON: &str = "application/x-ndjson";

/// The query of a watch.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WatchParams {
    /// Send the changes after this revision (a listing's `revision`).
    pub from: u64,
    /// Only keys that start with this (end it at a segment boundary: `/apps/dev/`).
    pub prefix: Option<String>,
}

/// 410 `compacted`: the history no longer reaches back to the revision asked for.
pub fn compacted(c: Compacted) -> ApiError {
    ApiError::new(StatusCode::GONE, "compacted", c.to_string())
        .with_details(json!({ "oldest": c.oldest }))
}

/// The environment an event belongs to, if any: from its key, or — for a task, whose key has
/// none — from the task it carries.
fn environment(event: &Event) -> Option<&Name> {
    match &event.key {
        Key::Environment { env }
        | Key::App { env, .. }
        | Key::Service { env, .. }
        | Key::Secret { env, .. }
        | Key::Config { env, .. } => Some(env),
        Key::Task { .. } => match &event.object {
            Some(Object::Task(task)) => Some(&task.env),
            _ => None,
        },
        Key::Node { .. } | Key::Token { .. } => None,
    }
}

/// `event` as `token` may see it, or `None` when it may not see it at all.
pub fn visible(token: &Token, event: &Event) -> Option<Event> {
    match (&event.key, environment(event)) {
        (Key::Token { .. }, _) => {
            if !token.allows(Role::Admin, None) {
                return None;
            }
            let mut event = event.clone();
            if let Some(Object::Token(t)) = &mut event.object {
                t.secret_sha256.clear();
            }
            Some(event)
        }
        (_, Some(env)) => token.sees(env).then(|| {
            let mut event = event.clone();
            // The watch history holds only ciphertext, and even that is not handed out.
            if let Some(Object::Secret(s)) = &mut event.object {
                s.ciphertext.clear();
            }
            event
        }),
        // Nodes, and a task without its object (never written so, but not to be leaked).
        (_, None) => token.allows(Role::Read, None).then(|| event.clone()),
    }
}

/// What one read of the history gives a watcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The lines to send (each ends with a newline).
    pub lines: Vec<u8>,
    /// The revision the state was at: the next read starts after it.
    pub revision: u64,
}

/// The lines of the events after `from` that `token` may see, under `prefix`.
pub fn batch(
    state: &skiff_core::State,
    from: u64,
    prefix: &str,
    token: &Token,
) -> Result<Batch, Compacted> {
    let mut lines = Vec::new();
    for event in state.events_since(from)? {
        if !event.key.to_string().starts_with(prefix) {
            continue;
        }
        if let Some(event) = visible(token, &event) {
            serde_json::to_writer(&mut lines, &event).expect("events serialize");
            lines.push(b'\n');
        }
    }
    Ok(Batch {
        lines,
        revision: state.revision().max(from),
    })
}

fn applied(metrics: &RaftMetrics<NodeId, openraft::BasicNode>) -> u64 {
    metrics.last_applied.map_or(0, |l| l.index)
}

/// Whether `token` is still stored as it was (not revoked, not replaced).
fn still_valid(state: &skiff_core::State, token: &Token) -> bool {
    let key = Key::Token {
        id: token.id.clone(),
    };
    matches!(
        state.get(&key).map(|r| &r.object),
        Some(Object::Token(stored)) if stored.secret_sha256 == token.secret_sha256
    )
}

/// The last line of a stream that ends on an error.
pub(super) fn error_line(error: &ApiError) -> Bytes {
    let mut line = serde_json::to_vec(&json!({ "error": error.body() })).expect("errors serialize");
    line.push(b'\n');
    Bytes::from(line)
}

/// One open watch.
struct Watcher {
    api: ApiState,
    token: Token,
    prefix: String,
    /// The revision sent up to.
    next: u64,
    /// The log index applied when the state was last read.
    seen: u64,
    metrics: watch::Receiver<RaftMetrics<NodeId, openraft::BasicNode>>,
    /// What to send first (the catch-up read made before answering).
    pending: Option<Bytes>,
    done: bool,
}

impl Watcher {
    /// The next chunk to send, or `None` when the stream ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(first) = self.pending.take() {
            return Some(first);
        }
        while !self.done {
            let seen = self.seen;
            tokio::select! {
                changed = self.metrics.wait_for(|m| applied(m) > seen) => {
                    // Raft stopped: no more changes will come.
                    changed.ok()?;
                }
                () = self.api.stopped() => return None,
            }
            self.seen = applied(&self.metrics.borrow_and_update());
            let (from, prefix, token) = (self.next, &self.prefix, &self.token);
            let read = self
                .api
                .control
                .read(Consistency::Stale, |state| {
                    // A token revoked (or replaced) since the watch began ends it.
                    still_valid(state, token).then(|| batch(state, from, prefix, token))
                })
                .await
                .ok()?;
            let Some(read) = read else {
                self.done = true;
                let revoked = ApiError::unauthenticated("the watch's token was revoked");
                return Some(error_line(&revoked));
            };
            match read {
                Ok(batch) => {
                    self.next = batch.revision;
                    if !batch.lines.is_empty() {
                        return Some(Bytes::from(batch.lines));
                    }
                }
                Err(c) => {
                    self.done = true;
                    return Some(error_line(&compacted(c)));
                }
            }
        }
        None
    }
}

/// `GET /v1/events?from=REV[&prefix=P]`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(WatchParams),
    responses(
        ErrorResponses,
        (status = 200, description = "One event per line, then live ones as they are applied; \
                                      a last line {\"error\": ErrorBody} if the watcher falls \
                                      behind the history", body = Event,
         content_type = "application/x-ndjson"),
        (status = 410, description = "`compacted`: re-list, then watch from the listing's \
                                      revision; `details.oldest` is the oldest revision kept",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn watch(
    State(api): State<ApiState>,
    caller: Caller,
    Params(params): Params<WatchParams>,
) -> ApiResult<Response> {
    let prefix = params.prefix.unwrap_or_default();
    if !prefix.is_empty() && !prefix.starts_with('/') || prefix.len() > MAX_KEY_LEN {
        return Err(ApiError::invalid(format!(
            "prefix {:?} must start with / and be at most {MAX_KEY_LEN} bytes, as keys are",
            prefix.chars().take(64).collect::<String>()
        )));
    }
    let mut metrics = api.control.raft().metrics();
    let seen = applied(&metrics.borrow_and_update());
    let token = caller.0;
    let first = api
        .control
        .read(Consistency::Stale, |state| {
            batch(state, params.from, &prefix, &token)
        })
        .await?
        .map_err(compacted)?;
    let watcher = Watcher {
        api,
        token,
        prefix,
        next: first.revision,
        seen,
        metrics,
        pending: (!first.lines.is_empty()).then(|| Bytes::from(first.lines)),
        done: false,
    };
    let stream = futures_util::stream::unfold(watcher, |mut w| async move {
        let chunk = w.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), w))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
