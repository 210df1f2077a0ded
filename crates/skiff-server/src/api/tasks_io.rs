//! `/v1/tasks/{id}/logs` and `/v1/tasks/{id}/exec`: a task's output and a command in its
//! container, through this server to the agent of the task's node (its `Node` gRPC service,
//! called with the token of the node's session: [`crate::agents::links`]).
//!
//! Both need the leader, which holds the agents' sessions (followers forward them). Logs are
//! newline-delimited JSON [`LogLine`]s, so that standard output and standard error stay apart;
//! exec is non-interactive: the whole standard input in the request, the output and exit code
//! in the answer once the command ended (see docs/orchestration.md, "Logs and exec").

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use skiff_api::v1::{ExecRequest, ExecResponse, LogLine, OutputStream};
use skiff_core::objects::{Role, Token};
use skiff_core::{Key, Name, Object, State as ClusterState};
use skiff_proto::agent::exec_input::Kind as Input;
use skiff_proto::agent::exec_output::Kind as Output;
use skiff_proto::agent::{ExecInput, ExecStart, LogChunk, LogsRequest};

use super::auth::Caller;
use super::body::Body as JsonBody;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::events::NDJSON;
use super::{name, ApiState, Params, ReadParams};
use crate::agents::links::{AgentClient, LinkError};

/// Most arguments of an exec's command.
pub const MAX_EXEC_ARGS: usize = 256;
/// Most bytes of an exec's command, all arguments together.
pub const MAX_EXEC_COMMAND_BYTES: usize = 64 * 1024;
/// Standard input travels to the agent in chunks of at most this.
const STDIN_CHUNK: usize = 1024 * 1024;
/// Most output kept of each stream of an exec.
pub const MAX_EXEC_OUTPUT: usize = 8 * 1024 * 1024;

/// The query of `GET /v1/tasks/{id}/logs`.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsParams {
    /// Keep streaming new output until the container ends or the caller goes.
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines (0 or absent: all).
    #[serde(default)]
    pub tail: u32,
}

/// Where a task runs, as the state says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The task's id.
    pub task: Name,
    /// Its node.
    pub node: Name,
    /// Where the node's agent serves logs and exec (as registered; once reached, the address
    /// its live session began with).
    pub address: String,
}

/// Finds where task `id` runs, for a caller holding `token` that needs `role` on its
/// environment: 404 for a task it cannot see, 403 without the role, 409 for a task on no node.
pub fn locate(state: &ClusterState, id: &Name, token: &Token, role: Role) -> ApiResult<Target> {
    let key = Key::Task { id: id.clone() };
    let task = match state.get(&key).map(|r| &r.object) {
        Some(Object::Task(task)) if token.sees(&task.env) => task,
        _ => return Err(ApiError::not_found(&key)),
    };
    Caller(token.clone()).require(role, Some(&task.env))?;
    let Some(node) = task.node.clone() else {
        let why = if task.message.is_empty() {
            String::new()
        } else {
            format!(" ({})", task.message)
        };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_not_placed",
            format!(
                "task {id} is on no node yet{why}: it has no container to read or exec in; \
                 see `skiff ps` for why it is not placed"
            ),
        ));
    };
    let address = match state
        .get(&Key::Node { id: node.clone() })
        .map(|r| &r.object)
    {
        Some(Object::Node(n)) => n.address.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "node_gone",
                format!("task {id} was on node {node}, which is no longer registered"),
            ))
        }
    };
    Ok(Target {
        task: id.clone(),
        node,
        address,
    })
}

/// Checks an exec request's command.
pub fn check_command(command: &[String]) -> ApiResult<()> {
    if command.first().is_none_or(String::is_empty) {
        return Err(ApiError::invalid(
            "command is empty: give the program to run and its arguments",
        ));
    }
    if command.len() > MAX_EXEC_ARGS {
        return Err(ApiError::invalid(format!(
            "command has {} arguments; at most {MAX_EXEC_ARGS} are accepted",
            command.len()
        )));
    }
    let bytes: usize = command.iter().map(String::len).sum();
    if bytes > MAX_EXEC_COMMAND_BYTES {
        return Err(ApiError::invalid(format!(
            "command has {bytes} bytes; at most {MAX_EXEC_COMMAND_BYTES} are accepted"
        )));
    }
    Ok(())
}

/// Finds task `id` on the leader's state and a client of its node's agent.
async fn reach(
    api: &ApiState,
    caller: &Caller,
    id: &str,
    role: Role,
) -> ApiResult<(Target, AgentClient)> {
    let id = name("task id", id)?;
    let mut target = api
        .read(&ReadParams::default(), |state| {
            locate(state, &id, &caller.0, role)
        })
        .await??;
    let (client, address) = api
        .links
        .connect(target.node.as_str())
        .map_err(|e| match e {
            LinkError::NotConnected { node } => ApiError::unavailable(
                "node_not_connected",
                format!(
                    "the agent of node {node} holds no session with the leader (it is down or \
                     reconnecting); try again once `skiff node ls` shows it ready"
                ),
            ),
            e @ LinkError::BadAddress { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "agent_unreachable", e.to_string())
            }
        })?;
    // The address the node's session began with: its token goes nowhere else.
    target.address = address;
    Ok((target, client))
}

/// The API error for what the agent of `target` answered.
fn agent_error(target: &Target, status: &tonic::Status) -> ApiError {
    let node = &target.node;
    let message = status.message();
    match status.code() {
        tonic::Code::NotFound | tonic::Code::FailedPrecondition => ApiError::new(
            StatusCode::CONFLICT,
            "no_running_container",
            format!("on node {node}: {message}"),
        ),
        tonic::Code::InvalidArgument | tonic::Code::Unimplemented => {
            ApiError::invalid(format!("node {node} refused: {message}"))
        }
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "agent_refused",
            format!(
                "the agent of node {node} refused the server's token ({message}); \
                 restart the agent so that its session and its token agree"
            ),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "agent_unreachable",
            format!(
                "the agent of node {node} at {} cannot be reached: {message}",
                target.address
            ),
        ),
    }
}

/// The NDJSON line of one chunk of output.
fn log_line(chunk: &LogChunk) -> Bytes {
    let line = LogLine {
        stream: if chunk.stream == 2 {
            OutputStream::Stderr
        } else {
            OutputStream::Stdout
        },
        text: String::from_utf8_lossy(&chunk.data).into_owned(),
    };
    let mut bytes = serde_json::to_vec(&line).expect("log lines serialize");
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// `GET /v1/tasks/{id}/logs[?follow=true&tail=N]`.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/logs",
    tag = "tasks",
    params(("id" = String, Path, description = "The task's id"), LogsParams),
    responses(
        ErrorResponses,
        (status = 200, description = "One LogLine per line; with `follow`, live ones until the \
                                      container ends; a last line {\"error\": ErrorBody} if the \
                                      agent fails halfway", body = LogLine,
         content_type = "application/x-ndjson"),
        (status = 409, description = "`task_not_placed`, `node_gone` or \
                                      `no_running_container`", body = skiff_api::v1::ErrorBody),
        (status = 503, description = "`node_not_connected`: the node's agent has no session",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn logs(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<LogsParams>,
) -> ApiResult<Response> {
    let (target, mut client) = reach(&api, &caller, &id, Role::Read).await?;
    let request = LogsRequest {
        task_id: target.task.to_string(),
        follow: params.follow,
        tail: params.tail,
    };
    let chunks = client
        .logs(request)
        .await
        .map_err(|s| agent_error(&target, &s))?
        .into_inner();
    let stopped = {
        let api = api.clone();
        async move { api.stopped().await }
    };
    let lines = chunks
        .map(move |item| {
            Ok::<_, Infallible>(match item {
                Ok(chunk) => log_line(&chunk),
                Err(status) => super::events::error_line(&agent_error(&target, &status)),
            })
        })
        .take_until(Box::pin(stopped));
    let mut response = Body::from_stream(lines).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The messages of an exec: its start, then its standard input in chunks.
fn exec_inputs(target: &Target, request: ExecRequest) -> Vec<ExecInput> {
    let start = ExecInput {
        kind: Some(Input::Start(ExecStart {
            task_id: target.task.to_string(),
            command: request.command,
            tty: false,
        })),
    };
    let stdin = request.stdin.unwrap_or_default().into_bytes();
    let chunks = stdin.chunks(STDIN_CHUNK).map(|c| ExecInput {
        kind: Some(Input::Stdin(c.to_vec())),
    });
    std::iter::once(start).chain(chunks).collect()
}

/// `POST /v1/tasks/{id}/exec`.
#[utoipa::path(
    post,
    path = "/v1/tasks/{id}/exec",
    tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    request_body = ExecRequest,
    responses(
        ErrorResponses,
        (status = 200, description = "The command ended (whatever its exit code)",
         body = ExecResponse),
        (status = 409, description = "`task_not_placed`, `node_gone` or \
                                      `no_running_container`", body = skiff_api::v1::ErrorBody),
        (status = 503, description = "`node_not_connected`: the node's agent has no session",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn exec(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ExecRequest>,
) -> ApiResult<Json<ExecResponse>> {
    check_command(&request.command)?;
    let (target, mut client) = reach(&api, &caller, &id, Role::Deploy).await?;
    let inputs = exec_inputs(&target, request);
    let mut outputs = client
        .exec(tokio_stream::iter(inputs))
        .await
        .map_err(|s| agent_error(&target, &s))?
        .into_inner();
    let mut answer = ExecResponse {
        exit_code: -1,
        stdout: String::new(),
        stderr: String::new(),
        truncated: false,
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut exit_code = None;
    while let Some(output) = outputs.next().await {
        match output.map_err(|s| agent_error(&target, &s))?.kind {
            Some(Output::Output(chunk)) => {
                let into = if chunk.stream == 2 {
                    &mut stderr
                } else {
                    &mut stdout
                };
                let room = MAX_EXEC_OUTPUT.saturating_sub(into.len());
                answer.truncated |= chunk.data.len() > room;
                into.extend_from_slice(&chunk.data[..chunk.data.len().min(room)]);
            }
            Some(Output::ExitCode(code)) => exit_code = Some(code),
            None => {}
        }
    }
    answer.exit_code = exit_code.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "exec_interrupted",
            format!(
                "the agent of node {} ended the exec without an exit code",
                target.node
            ),
        )
    })?;
    answer.stdout = String::from_utf8_lossy(&stdout).into_owned();
    answer.stderr = String::from_utf8_lossy(&stderr).into_owned();
    Ok(Json(answer))
}

#[cfg(test)]
#[path = "tasks_io_tests.rs"]
mod tests;
