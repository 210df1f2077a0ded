//! Forwarding: a request that needs the leader (a write, a linearizable read) and reaches a
//! follower is sent on to the leader over HTTP, and the leader's answer is passed back as is.
//! A request that was already forwarded is never forwarded again: if it lands on a server that
//! no longer leads (an election in between), it gets a 503 and the client retries.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::error::ApiError;
use super::ApiState;
use crate::control::{Unavailable, WRITE_TIMEOUT};

/// Marks a request a follower forwarded.
pub const FORWARDED: HeaderName = HeaderName::from_static("x-skiff-forwarded-by");

/// How long a follower waits to connect to the leader.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a follower waits for the leader's answer: a little longer than the leader itself
/// waits for a write, so that a stalled leader does not hold the request forever.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(WRITE_TIMEOUT.as_secs() + 2);

/// Whether `req` must be served by the leader: everything under `/v1/` except local reads
/// (`GET` with `stale=true`), the watch stream, the OpenAPI document and cluster status, which
/// every server answers for itself.
fn needs_leader(req: &Request) -> bool {
    let path = req.uri().path();
    if !path.starts_with("/v1/") {
        return false;
    }
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    if read {
        if matches!(path, "/v1/events" | "/v1/openapi.json" | "/v1/cluster") {
            return false;
        }
        let stale = req
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|pair| pair == "stale=true");
        return !stale;
    }
    true
}

/// Whether `path` answers for as long as it takes (a followed log, an exec): forwarded
/// without [`ANSWER_TIMEOUT`], which would cut it.
fn long_lived(path: &str) -> bool {
    path.starts_with("/v1/tasks/") && (path.ends_with("/logs") || path.ends_with("/exec"))
}

/// The HTTP client followers forward with.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client builds")
}

/// Middleware: serve locally, or forward to the leader.
pub async fn forward_to_leader(State(api): State<ApiState>, req: Request, next: Next) -> Response {
    if !needs_leader(&req) || api.control.is_leader() {
        return next.run(req).await;
    }
    let leader = api
        .control
        .leader()
        .filter(|(id, _)| *id != api.control.id());
    let Some((_, addr)) = leader else {
        return ApiError::from(Unavailable::NotLeader { leader: None }).into_response();
    };
    if req.headers().contains_key(&FORWARDED) {
        return ApiError::from(Unavailable::NotLeader {
            leader: api.control.leader(),
        })
        .into_response();
    }
    let (parts, body) = req.into_parts();
    // Read the body here, within the limit, so that an oversized one gets its 413 from this
    // server rather than a connection the leader cut halfway through the upload.
    let body = match axum::body::to_bytes(body, api.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than this server accepts; send a smaller one",
            )
            .into_response()
        }
    };
    match proxy(&api, &addr, parts, body).await {
        Ok(response) => response,
        Err(e) => forward_error(&addr, &e).into_response(),
    }
}

/// The answer when forwarding to the leader at `addr` failed. Only a failed connection proves
/// the leader never saw the request; once it was sent, the leader may have applied it before
/// it died or stalled, so the client must treat it as a timeout: read before writing again.
fn forward_error(addr: &str, e: &reqwest::Error) -> ApiError {
    let e_is_connect = e.is_connect();
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = format!("{cause}: {s}");
        source = s.source();
    }
    let e = cause;
    if e_is_connect {
        return ApiError::unavailable(
            "leader_unreachable",
            format!("the leader at {addr} cannot be reached from this server ({e}); retry shortly"),
        );
    }
    ApiError::unavailable(
        "timeout",
        format!(
            "the leader at {addr} took the request but its answer did not arrive ({e}); \
             a write may or may not have been applied: read before writing again"
        ),
    )
}

async fn proxy(
    api: &ApiState,
    addr: &str,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Result<Response, reqwest::Error> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("http://{addr}{path}");
    let mut headers = parts.headers.clone();
    for hop in [
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(hop);
    }
    headers.insert(FORWARDED, api.control.id().into());
    let mut request = api.http.request(parts.method, url);
    if !long_lived(parts.uri.path()) {
        request = request.timeout(ANSWER_TIMEOUT);
    }
    let answer = request.headers(headers).body(body).send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "connection" | "keep-alive" | "transfer-encoding"
        ) {
            response = response.header(name, value);
        }
    }
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    Ok(response
        .body(Body::from_stream(stream))
        .expect("status and headers come from a valid response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, uri: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap()
    }

    /// What forwarding to `leader` answers (the first connection's request is read, then the
    /// connection is dropped unanswered, as by a leader that dies).
    async fn forward_failure(leader: std::net::SocketAddr) -> ApiError {
        let e = client()
            .put(format!("http://{leader}/v1/envs/dev/configs/x"))
            .body("{}")
            .send()
            .await
            .expect_err("no answer");
        forward_error(&leader.to_string(), &e)
    }

    #[tokio::test]
    async fn a_leader_that_never_saw_the_request_is_unreachable_one_that_did_is_a_timeout() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let error = forward_failure(closed_addr).await;
        assert_eq!(error.code, "leader_unreachable", "{error:?}");

        let dying = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dying_addr = dying.local_addr().unwrap();
        tokio::spawn(async move {
            let (conn, _) = dying.accept().await.unwrap();
            let _ = conn.readable().await;
            let _ = conn.try_read(&mut [0u8; 4096]);
        });
        let error = forward_failure(dying_addr).await;
        assert_eq!(error.code, "timeout", "{error:?}");
        assert!(
            error.message.contains("may or may not"),
            "{}",
            error.message
        );
    }

    #[test]
    fn which_requests_need_the_leader() {
        assert!(needs_leader(&req(Method::POST, "/v1/envs")));
        assert!(needs_leader(&req(Method::GET, "/v1/envs")));
        assert!(needs_leader(&req(Method::DELETE, "/v1/envs/dev")));
        assert!(!needs_leader(&req(Method::GET, "/v1/envs?stale=true")));
        assert!(!needs_leader(&req(Method::GET, "/v1/events?from=3")));
        assert!(!needs_leader(&req(Method::GET, "/v1/cluster")));
        assert!(needs_leader(&req(Method::POST, "/v1/cluster/members")));
        assert!(!needs_leader(&req(Method::GET, "/healthz")));
        assert!(!needs_leader(&req(Method::GET, "/v1/openapi.json")));
        assert!(needs_leader(&req(
            Method::GET,
            "/v1/tasks/t1/logs?follow=true"
        )));
        assert!(needs_leader(&req(Method::POST, "/v1/tasks/t1/exec")));
    }

    #[test]
    fn logs_and_exec_are_forwarded_without_an_answer_timeout() {
        assert!(long_lived("/v1/tasks/t1/logs"));
        assert!(long_lived("/v1/tasks/t1/exec"));
        assert!(!long_lived("/v1/tasks/t1"));
        assert!(!long_lived("/v1/envs/dev/apps/logs"));
    }
}
