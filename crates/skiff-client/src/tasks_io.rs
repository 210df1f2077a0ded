//! `GET /v1/tasks/{id}/logs` and `POST /v1/tasks/{id}/exec`: a task's output and a command in
//! its container, through the servers to the node's agent.

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use reqwest::{Method, StatusCode};
use skiff_api::v1::{ErrorBody, ExecRequest, ExecResponse, LogLine};

use crate::transport::Call;
use crate::{Client, Error};

/// The lines of a task's log, until the log ends (without `follow`: once read; with it: when
/// the container stops) or the server ends the stream. An `Err` is the last item.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogLine, Error>> + Send>>;

/// How long an exec may run before its answer: a day, that is, as long as it takes.
const EXEC_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Client {
    /// `GET /v1/tasks/{id}/logs[?follow=true&tail=N]`: what task `id`'s container wrote (only
    /// the last `tail` lines when given), then with `follow` what it writes until it ends.
    pub async fn task_logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<u32>,
    ) -> Result<LogStream, Error> {
        let mut call = Call::get(&["v1", "tasks", id, "logs"]);
        if follow {
            call = call.query("follow", "true");
        }
        if let Some(tail) = tail {
            call = call.query("tail", tail.to_string());
        }
        let response = self.open(&call).await?;
        Ok(Box::pin(crate::ndjson::stream(
            response,
            call.endpoint,
            parse_line,
        )))
    }

    /// `POST /v1/tasks/{id}/exec`: runs `request.command` in task `id`'s container with
    /// `request.stdin` as its input, and answers once it ended. Not retried once sent (a
    /// command may not be safe to run twice).
    pub async fn exec_task(&self, id: &str, request: &ExecRequest) -> Result<ExecResponse, Error> {
        let call = Call::new(Method::POST, &["v1", "tasks", id, "exec"])
            .json(request)?
            .timeout(EXEC_TIMEOUT);
        self.call(call).await
    }
}

/// A line of a log answer: `None` for a blank one, the server's `{"error": …}` as
/// [`Error::Api`] with status 502 (the agent failed halfway).
fn parse_line(line: &[u8], endpoint: &str) -> Option<Result<LogLine, Error>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let decode = |source| Error::Decode {
        endpoint: endpoint.to_owned(),
        source,
    };
    let value = match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(value) => value,
        Err(e) => return Some(Err(decode(e))),
    };
    Some(match value.get("error") {
        Some(error) => match serde_json::from_value::<ErrorBody>(error.clone()) {
            Ok(body) => Err(Error::Api {
                status: StatusCode::BAD_GATEWAY,
                body,
            }),
            Err(e) => Err(decode(e)),
        },
        None => serde_json::from_value(value).map_err(decode),
    })
}

#[cfg(test)]
mod tests {
    use skiff_api::v1::OutputStream;

    use super::*;

    #[test]
    fn log_lines_and_the_closing_error_are_read() {
        let line = parse_line(br#"{"stream":"stderr","text":"oops\n"}"#, "GET /x")
            .unwrap()
            .unwrap();
        assert_eq!(line.stream, OutputStream::Stderr);
        assert_eq!(line.text, "oops\n");
        assert!(parse_line(b"  \n", "GET /x").is_none());
        let error = br#"{"error":{"code":"agent_unreachable","message":"gone","details":null}}"#;
        match parse_line(error, "GET /x").unwrap() {
            Err(Error::Api { status, body }) => {
                assert_eq!(status, StatusCode::BAD_GATEWAY);
                assert_eq!(body.code, "agent_unreachable");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line(b"{not json", "GET /x"),
            Some(Err(Error::Decode { .. }))
        ));
    }
}
