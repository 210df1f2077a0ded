//! What a call can fail with: the API's own answer, no server to answer, or an answer that does
//! not read as the contract says.

use reqwest::StatusCode;
use skiff_api::v1::ErrorBody;
use skiff_core::Compacted;

/// The error of every call of [`crate::Client`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error (any 4xx or 5xx; a 503 only once retrying gave up).
    #[error("{}", body.message)]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The API's error: a stable code, a message for people, structured details.
        body: ErrorBody,
    },
    /// No server answered before the retry deadline.
    #[error(
        "no server of the control plane answered (tried {}): {last}; is `skiff server` running \
         there? Name the servers with --server or SKIFF_SERVER",
        tried.join(", ")
    )]
    Unreachable {
        /// The servers tried, as given (`host:port`).
        tried: Vec<String>,
        /// The last failure, naming its server.
        last: String,
    },
    /// A write that was sent but not answered (a timeout, a broken connection, a 503
    /// `timeout`): it may or may not have been applied, so it is not sent again.
    #[error(
        "{endpoint}: no answer from {server} ({reason}); the write may or may not have been \
         applied: read the object before trying again"
    )]
    Indeterminate {
        /// The endpoint called.
        endpoint: String,
        /// The server it was sent to.
        server: String,
        /// What happened.
        reason: String,
    },
    /// A watch asked for changes older than the server still keeps (410 `compacted`, or the
    /// watcher fell behind mid-stream): list again, then watch from the listing's revision.
    #[error(transparent)]
    Compacted(Compacted),
    /// The server ended a watch with an error other than [`Error::Compacted`].
    #[error("the server ended the watch: {}", body.message)]
    WatchEnded {
        /// The error it sent as the stream's last line.
        body: ErrorBody,
    },
    /// The connection broke while an answer was being streamed.
    #[error("the connection broke while reading the answer of {endpoint}: {source}")]
    Interrupted {
        /// The call, as `METHOD /path`.
        endpoint: String,
        /// What broke.
        source: reqwest::Error,
    },
    /// A successful answer did not decode as the contract's type.
    #[error("cannot read the answer of {endpoint}: {source}")]
    Decode {
        /// The call, as `METHOD /path`.
        endpoint: String,
        /// Why it did not decode.
        source: serde_json::Error,
    },
    /// A request body could not be encoded.
    #[error("cannot encode the request of {endpoint}: {source}")]
    Encode {
        /// The call, as `METHOD /path`.
        endpoint: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A server address is not usable.
    #[error("server address {server:?}: {reason}")]
    InvalidServer {
        /// The address as given.
        server: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The client was given no server at all.
    #[error("no server address given: set --server or SKIFF_SERVER (host:port, comma-separated)")]
    NoServers,
    /// The HTTP client could not be built (no TLS or resolver backend, for instance).
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

impl Error {
    /// The API error code (`forbidden`, `invalid_manifest`, …) when the server answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } | Error::WatchEnded { body } => Some(&body.code),
            Error::Compacted(_) => Some("compacted"),
            _ => None,
        }
    }

    /// The HTTP status when the server answered with an error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Compacted(_) => Some(StatusCode::GONE),
            _ => None,
        }
    }

    /// The problems of an `invalid_manifest` answer (`details.problems`), in the server's order;
    /// empty for any other error.
    pub fn problems(&self) -> Vec<Problem> {
        let Error::Api { body, .. } = self else {
            return Vec::new();
        };
        body.details
            .get("problems")
            .cloned()
            .and_then(|p| serde_json::from_value(p).ok())
            .unwrap_or_default()
    }
}

/// One problem of a refused manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Problem {
    /// Where: a file position or a field path.
    #[serde(default)]
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}
