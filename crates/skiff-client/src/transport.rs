//! Sending one call: to the server that answered last, failing over to the next one on a
//! connection error or a 503, and backing off between rounds until the retry deadline.
//!
//! Only "nobody could serve this now" is retried: a refused or broken connection, a timeout, a
//! 503 (no leader, an election, a lost quorum). Any other answer, error or not, is final. A write
//! that may have been applied (broken connection, timeout) is not sent again unless the call is
//! idempotent ([`Call::idempotent`]).

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use skiff_api::v1::ErrorBody;
use tokio::time::Instant;

use crate::{Client, Error};

/// The first pause after a round in which every server failed without a hint.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The most of an unexpected error page quoted in an error.
const MAX_QUOTE: usize = 200;

/// One server of the list.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// As the user named it, for messages.
    pub(crate) name: String,
    /// `http://host:port/`.
    pub(crate) base: Url,
}

/// One API call, before it is sent to some server.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<(&'static str, Vec<u8>)>,
    timeout: Option<Duration>,
    /// Whether sending it twice does what sending it once does (see [`Call::idempotent`]).
    idempotent: bool,
    /// `METHOD /path`, for messages.
    pub(crate) endpoint: String,
}

impl Call {
    /// Whether the route reads the state and takes `?stale=true`: not the watch (always served
    /// by the server it reaches), cluster status (each server answers for itself), the backup
    /// (always a linearizable read) or a task's logs (the leader holds the agents' sessions).
    fn takes_stale(&self) -> bool {
        let path: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        !matches!(
            path.as_slice(),
            ["v1", "events"]
                | ["v1", "cluster"]
                | ["v1", "cluster", "snapshot"]
                | ["v1", "tasks", _, "logs"]
        )
    }

    /// A call of `method` on `/seg/seg/…`; each segment is percent-encoded as needed.
    pub(crate) fn new(method: Method, segments: &[&str]) -> Self {
        let segments: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
        let endpoint = format!("{method} /{}", segments.join("/"));
        Self {
            method,
            segments,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            idempotent: false,
            endpoint,
        }
    }

    /// A `GET`.
    pub(crate) fn get(segments: &[&str]) -> Self {
        Self::new(Method::GET, segments)
    }

    /// Adds `?name=value`.
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A JSON body.
    pub(crate) fn json(mut self, body: &impl serde::Serialize) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body).map_err(|source| Error::Encode {
            endpoint: self.endpoint.clone(),
            source,
        })?;
        self.body = Some(("application/json", bytes));
        Ok(self)
    }

    /// A body of another type.
    pub(crate) fn body(mut self, content_type: &'static str, bytes: Vec<u8>) -> Self {
        self.body = Some((content_type, bytes));
        self
    }

    /// Waits this long for each attempt instead of the client's attempt timeout.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Marks a write whose second application changes nothing more than the first (an apply
    /// of a whole app, a scale to N): when its outcome is unknown (the connection broke, no
    /// answer in time, a 503 `timeout`) it is sent again, like a read, instead of failing
    /// with [`Error::Indeterminate`].
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// The URL of the call on `server`.
    pub(crate) fn url(&self, server: &Server) -> Url {
        let mut url = server.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(&self.segments);
        }
        if !self.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(self.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }
}

/// An answer read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// The last failure of a round.
enum Last {
    /// A 503.
    Answered(Error),
    /// No answer, described with its server.
    NoAnswer(String),
}

/// How one attempt on one server went.
enum Attempt<T> {
    /// It answered something other than a 503: final.
    Answered(T),
    /// It answered 503: try another server, or again after `hint`.
    Unavailable {
        hint: Option<Duration>,
        error: Error,
    },
    /// No answer (connection refused or broken, timeout).
    Failed(String),
    /// A write sent without an answer that says whether it was applied: final, never retried.
    Indeterminate(Error),
}

impl Client {
    /// Sends `call` and reads the whole answer, whatever its status (but 503s are retried).
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer, Error> {
        self.failover(call, |response, timeout| async move {
            let status = response.status();
            match tokio::time::timeout(timeout, response.bytes()).await {
                Ok(Ok(body)) => Ok(Answer {
                    status,
                    body: body.to_vec(),
                }),
                Ok(Err(e)) => Err(describe(&e)),
                Err(_) => Err(format!("no complete answer within {timeout:?}")),
            }
        })
        .await
    }

    /// Sends `call` and returns the response as soon as its headers are in, for streaming: a
    /// success as is, an error status as [`Error::Api`].
    pub(crate) async fn open(&self, call: &Call) -> Result<Response, Error> {
        let response = self
            .failover(call, |response, _| async move { Ok(response) })
            .await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Err(api_error(&call.endpoint, status, &body))
    }

    /// Sends `call` and decodes a success as `T`; an error status is [`Error::Api`].
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let answer = self.send(&call).await?;
        if !answer.status.is_success() {
            return Err(api_error(&call.endpoint, answer.status, &answer.body));
        }
        serde_json::from_slice(&answer.body).map_err(|source| Error::Decode {
            endpoint: call.endpoint,
            source,
        })
    }

    /// The retry loop: one round over every server (from the one that answered last), then a
    /// pause (the servers' `retry_after_ms`, or a growing back-off), until the deadline.
    async fn failover<T, F, Fut>(&self, call: &Call, read: F) -> Result<T, Error>
    where
        F: Fn(Response, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let started = Instant::now();
        let mut tried: Vec<String> = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        let count = self.servers.len();
        loop {
            let first = self.preferred.load(std::sync::atomic::Ordering::Relaxed) % count;
            let mut hint: Option<Duration> = None;
            let mut last = None;
            for i in (0..count).map(|k| (first + k) % count) {
                let server = &self.servers[i];
                if !tried.contains(&server.name) {
                    tried.push(server.name.clone());
                }
                match self.attempt(call, server, &read).await {
                    Attempt::Answered(t) => {
                        self.preferred
                            .store(i, std::sync::atomic::Ordering::Relaxed);
                        return Ok(t);
                    }
                    Attempt::Unavailable { hint: h, error } => {
                        hint = hint.max(h);
                        last = Some(Last::Answered(error));
                    }
                    Attempt::Failed(why) => {
                        last = Some(Last::NoAnswer(format!("{}: {why}", server.name)));
                    }
                    Attempt::Indeterminate(error) => return Err(error),
                }
            }
            let elapsed = started.elapsed();
            if elapsed >= self.retry_deadline {
                // The last server's 503 says more (no leader, no quorum) than "unreachable".
                return Err(match last {
                    Some(Last::Answered(error)) => error,
                    Some(Last::NoAnswer(last)) => Error::Unreachable { tried, last },
                    None => Error::NoServers,
                });
            }
            let pause = hint.unwrap_or(backoff).min(self.retry_deadline - elapsed);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            tokio::time::sleep(pause).await;
        }
    }

    /// One attempt of `call` on `server`.
    async fn attempt<T, F, Fut>(&self, call: &Call, server: &Server, read: &F) -> Attempt<T>
    where
        F: Fn(Response, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let timeout = call.timeout.unwrap_or(self.attempt_timeout);
        let mut request = self.http.request(call.method.clone(), call.url(server));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some((content_type, bytes)) = &call.body {
            request = request
                .header(CONTENT_TYPE, *content_type)
                .body(bytes.clone());
        }
        if self.stale_reads && call.method == Method::GET && call.takes_stale() {
            request = request.query(&[("stale", "true")]);
        }
        // A read may be sent again anywhere, and so may an idempotent write; any other write
        // only when it surely was not applied: the connection was refused, or a 503 that is
        // answered before anything is proposed.
        let write = !call.idempotent && call.method != Method::GET && call.method != Method::HEAD;
        let indeterminate = |reason: String| {
            Attempt::Indeterminate(Error::Indeterminate {
                endpoint: call.endpoint.clone(),
                server: server.name.clone(),
                reason,
            })
        };
        let response = match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) if write && !e.is_connect() => return indeterminate(describe(&e)),
            Ok(Err(e)) => return Attempt::Failed(describe(&e)),
            Err(_) if write => return indeterminate(format!("no answer within {timeout:?}")),
            Err(_) => return Attempt::Failed(format!("no answer within {timeout:?}")),
        };
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            return match read(response, timeout).await {
                Ok(t) => Attempt::Answered(t),
                Err(why) => Attempt::Failed(why),
            };
        }
        let header_hint = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match tokio::time::timeout(timeout, response.bytes()).await {
            Ok(Ok(body)) => body.to_vec(),
            _ => Vec::new(),
        };
        let error = api_error(&call.endpoint, StatusCode::SERVICE_UNAVAILABLE, &body);
        if write && error.code() == Some("timeout") {
            return Attempt::Indeterminate(error);
        }
        let body_hint = match &error {
            Error::Api { body, .. } => body.details.get("retry_after_ms").and_then(|v| v.as_u64()),
            _ => None,
        };
        Attempt::Unavailable {
            hint: body_hint.map(Duration::from_millis).or(header_hint),
            error,
        }
    }
}

/// A transport error in a few words, with its innermost cause (`Connection refused`).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "the connection failed"
    };
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    format!("{what}: {source}")
}

/// The error of an answer with an error `status`: its [`ErrorBody`], or one made up from the
/// status and the start of the page when the body is not the API's (a proxy's error page).
pub(crate) fn api_error(endpoint: &str, status: StatusCode, body: &[u8]) -> Error {
    let body = serde_json::from_slice::<ErrorBody>(body).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(body);
        let text: String = text.trim().chars().take(MAX_QUOTE).collect();
        let message = if text.is_empty() {
            format!("the server answered {status} to {endpoint}")
        } else {
            format!("the server answered {status} to {endpoint}: {text}")
        };
        ErrorBody {
            code: format!("http_{}", status.as_u16()),
            message,
            details: serde_json::Value::Null,
        }
    });
    Error::Api { status, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_reads_go_only_to_routes_that_take_them() {
        assert!(Call::get(&["v1", "envs"]).takes_stale());
        assert!(Call::get(&["v1", "envs", "dev", "apps"]).takes_stale());
        assert!(!Call::get(&["v1", "events"]).takes_stale());
        assert!(!Call::get(&["v1", "cluster"]).takes_stale());
        assert!(!Call::get(&["v1", "cluster", "snapshot"]).takes_stale());
        // Logs need the leader, which holds the agents' sessions.
        assert!(!Call::get(&["v1", "tasks", "t1", "logs"]).takes_stale());
    }
}
