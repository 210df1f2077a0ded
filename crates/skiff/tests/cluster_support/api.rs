//! The HTTP calls the fault tests make, straight to the API with reqwest: environments,
//! configs (the payloads the tests write and read back) and cluster status. Every call names the
//! server it goes to; what came back is a [`Reply`], which keeps "no answer" apart from errors.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

/// How long a call waits for its answer unless told otherwise (the server gives up on a write
/// after 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(12);

/// What one request got.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A 2xx, with its JSON body.
    Ok(Value),
    /// An error answer.
    Error {
        /// The HTTP status.
        status: u16,
        /// The API's error code (`revision_conflict`, `no_leader`, …).
        code: String,
        /// The whole body, for messages.
        body: String,
    },
    /// The connection was refused or could not be made: the request was never sent.
    Refused(String),
    /// No answer: the connection was cut after the request was sent, or the call timed out.
    NoAnswer(String),
}

impl Reply {
    /// The revision of a write's 2xx answer.
    pub fn revision(&self) -> Option<u64> {
        match self {
            Reply::Ok(body) => body["revision"].as_u64(),
            _ => None,
        }
    }

    /// Whether the call surely changed nothing: an error answered before or instead of
    /// proposing (everything but a timeout, a 5xx that may come after the proposal, or no
    /// answer at all).
    pub fn surely_not_applied(&self) -> bool {
        match self {
            Reply::Refused(_) => true,
            Reply::Ok(_) | Reply::NoAnswer(_) => false,
            Reply::Error { status, code, .. } => match *status {
                503 => matches!(
                    code.as_str(),
                    "no_leader" | "not_leader" | "leader_unreachable" | "no_quorum"
                ),
                s => (400..500).contains(&s),
            },
        }
    }

    /// For a 409 `revision_conflict`: the revision the key had (`None`: it held nothing).
    pub fn conflict_found(&self) -> Option<Option<u64>> {
        let Reply::Error {
            status: 409,
            code,
            body,
        } = self
        else {
            return None;
        };
        if code != "revision_conflict" {
            return None;
        }
        let body: Value = serde_json::from_str(body).ok()?;
        // `details.found` is "absent" or {"revision": n}.
        let found = &body["details"]["found"];
        if found.as_str() == Some("absent") {
            return Some(None);
        }
        Some(Some(found["revision"].as_u64()?))
    }

    /// The error code, if an error came back.
    pub fn code(&self) -> Option<&str> {
        match self {
            Reply::Error { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The precondition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// None.
    Any,
    /// `If-None-Match: *`.
    Absent,
    /// `If-Match: "<rev>"`.
    Revision(u64),
}

/// A config as read back: its payload and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The payload.
    pub data: Vec<u8>,
    /// The revision that created it.
    pub create_revision: u64,
    /// The revision that last changed it.
    pub mod_revision: u64,
}

/// An HTTP client of the API with a token.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    token: String,
}

impl Api {
    /// A client sending `token`.
    pub fn new(token: String) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .expect("a plain HTTP client");
        Api { http, token }
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Reply {
        let answer = match request.bearer_auth(&self.token).send().await {
            Ok(answer) => answer,
            Err(e) if e.is_connect() => return Reply::Refused(format!("{e:?}")),
            Err(e) => return Reply::NoAnswer(format!("{e:?}")),
        };
        let status = answer.status().as_u16();
        let body = match answer.text().await {
            Ok(body) => body,
            Err(e) => return Reply::NoAnswer(format!("reading the body: {e:?}")),
        };
        if (200..300).contains(&status) {
            return match serde_json::from_str(&body) {
                Ok(value) => Reply::Ok(value),
                Err(e) => panic!("a {status} answer that is not JSON ({e}): {body}"),
            };
        }
        let code = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Reply::Error { status, code, body }
    }

    /// `GET /v1/cluster` on `addr` (answered by that server itself).
    pub async fn cluster(&self, addr: &str) -> Result<Value, Reply> {
        match self
            .call(self.http.get(format!("http://{addr}/v1/cluster")))
            .await
        {
            Reply::Ok(value) => Ok(value),
            other => Err(other),
        }
    }

    /// `GET /readyz` on `addr`: the body whatever the status, or `None` without an answer.
    pub async fn readyz(&self, addr: &str) -> Option<Value> {
        let answer = self
            .http
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .ok()?;
        answer.json().await.ok()
    }

    /// `POST /v1/envs` through `addr`.
    pub async fn create_env(&self, addr: &str, name: &str) -> Reply {
        let url = format!("http://{addr}/v1/envs");
        self.call(self.http.post(url).json(&json!({ "name": name })))
            .await
    }

    /// `PUT /v1/envs/{env}/configs/{name}` through `addr`.
    pub async fn put(
        &self,
        addr: &str,
        (env, name): (&str, &str),
        data: &[u8],
        precondition: Precondition,
        timeout: Duration,
    ) -> Reply {
        let url = format!("http://{addr}/v1/envs/{env}/configs/{name}");
        let body = json!({ "data": base64::engine::general_purpose::STANDARD.encode(data) });
        let mut request = self.http.put(url).json(&body).timeout(timeout);
        request = match precondition {
            Precondition::Any => request,
            Precondition::Absent => request.header("If-None-Match", "*"),
            Precondition::Revision(rev) => request.header("If-Match", format!("\"{rev}\"")),
        };
        self.call(request).await
    }

    /// `GET /v1/envs/{env}/configs/{name}` on `addr`, linearizable or `?stale=true`.
    pub async fn get(
        &self,
        addr: &str,
        (env, name): (&str, &str),
        stale: bool,
        timeout: Duration,
    ) -> Reply {
        let query = if stale { "?stale=true" } else { "" };
        let url = format!("http://{addr}/v1/envs/{env}/configs/{name}{query}");
        self.call(self.http.get(url).timeout(timeout)).await
    }

    /// `GET /v1/envs/{env}/configs` on `addr`: the revision of the list and every config by name.
    pub async fn list(
        &self,
        addr: &str,
        env: &str,
        stale: bool,
    ) -> Result<(u64, std::collections::BTreeMap<String, Config>), Reply> {
        let query = if stale { "?stale=true" } else { "" };
        let url = format!("http://{addr}/v1/envs/{env}/configs{query}");
        let body = match self.call(self.http.get(url)).await {
            Reply::Ok(body) => body,
            other => return Err(other),
        };
        let revision = body["revision"].as_u64().expect("a list has a revision");
        let items = body["items"]
            .as_array()
            .expect("a list has items")
            .iter()
            .map(|record| {
                let name = record["object"]["config"]["name"].as_str().expect("a name");
                (name.to_owned(), config(record))
            })
            .collect();
        Ok((revision, items))
    }
}

/// The config in a record (`{key, object: {config: {data, …}}, create_revision, mod_revision}`);
/// its `data` may be base64 text or an array of byte numbers.
pub fn config(record: &Value) -> Config {
    let data = &record["object"]["config"]["data"];
    let data = match data {
        Value::String(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("data is base64"),
        Value::Array(bytes) => bytes
            .iter()
            .map(|b| {
                b.as_u64()
                    .and_then(|b| u8::try_from(b).ok())
                    .expect("a byte")
            })
            .collect(),
        other => panic!("a config's data is neither base64 nor bytes: {other}"),
    };
    Config {
        data,
        create_revision: record["create_revision"].as_u64().expect("create_revision"),
        mod_revision: record["mod_revision"].as_u64().expect("mod_revision"),
    }
}
