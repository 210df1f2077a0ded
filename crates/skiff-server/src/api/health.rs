//! `/healthz` (the process answers) and `/readyz` (it knows a leader and has applied state).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;

/// 200 while the process serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    security(()),
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)),
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 once Raft runs, a leader is known and this server has applied the log; 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "Ready: `{ready, id, leader, term, applied}`", body = Object),
        (status = 503, description = "Not ready (same shape)", body = Object),
    ),
)]
pub async fn readyz(State(api): State<ApiState>) -> (StatusCode, Json<Value>) {
    let metrics = api.control.raft().metrics();
    let m = metrics.borrow().clone();
    let ready = m.running_state.is_ok() && m.current_leader.is_some() && m.last_applied.is_some();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "id": m.id,
        "leader": m.current_leader,
        "term": m.current_term,
        "applied": m.last_applied.map(|l| l.index),
        // Log compaction: the last snapshot's index and the last index purged from the log.
        "snapshot": m.snapshot.map(|l| l.index),
        "purged": m.purged.map(|l| l.index),
    });
    (status, Json(body))
}
