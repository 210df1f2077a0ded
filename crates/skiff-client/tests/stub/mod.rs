//! Tiny HTTP servers on 127.0.0.1 that answer as the contract says (or as a broken server
//! would), to test the client without a cluster.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use skiff_api::v1::ErrorBody;

/// A running stub; the server stops when the test's runtime ends.
pub struct Stub {
    pub addr: SocketAddr,
}

impl Stub {
    /// Serves `router` on a free port of 127.0.0.1.
    pub async fn serve(router: Router) -> Stub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Stub { addr }
    }

    /// `host:port`.
    pub fn name(&self) -> String {
        self.addr.to_string()
    }
}

/// An address nothing listens on: a port the OS just handed out and took back.
pub fn refused() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A request counter shared with a handler.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// Counts one and returns how many came before.
    pub fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    /// How many so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// An API error answer.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        code: code.to_owned(),
        message: message.to_owned(),
        details: serde_json::Value::Null,
    };
    (status, Json(body)).into_response()
}

/// The server's 503 with its retry hint.
pub fn unavailable(retry_after_ms: u64) -> Response {
    let body = ErrorBody {
        code: "no_leader".to_owned(),
        message: "no leader is known; retry shortly".to_owned(),
        details: json!({ "retry_after_ms": retry_after_ms }),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// An empty listing at `revision`.
pub fn empty_list(revision: u64) -> Response {
    Json(json!({"revision": revision, "items": []})).into_response()
}
