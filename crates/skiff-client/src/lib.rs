//! A typed async client of Skiff's HTTP API (`/v1`, docs/api.md), used by the `skiff` CLI and
//! by tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), skiff_client::Error> {
//! let client = skiff_client::Client::from_env()?; // SKIFF_SERVER, SKIFF_TOKEN
//! let envs = client.list_envs().await?;
//! println!("{} environments at revision {}", envs.items.len(), envs.revision);
//! # Ok(()) }
//! ```
//!
//! One method per endpoint; answers are the wire types of `skiff_api::v1` and `skiff_core::api`.
//!
//! **Failover and retries.** The client holds a list of servers. A call goes to the server that
//! answered last; on a connection error, a timeout or a 503 (no leader, an election, no quorum)
//! it tries the next one, and after a round in which none could serve it waits — the servers'
//! `details.retry_after_ms`, or a back-off from 100 ms doubling to 2 s — and goes round again,
//! until the retry deadline (15 s by default, [`Client::with_retry_deadline`]). Any other answer
//! is final: a 4xx or a 500 is never retried.
//!
//! Writes are retried when they surely were not applied (the connection was refused, a 503
//! answered before anything was proposed). A write whose connection broke or timed out after the
//! server got it may have been applied: it fails with [`Error::Indeterminate`], except the
//! idempotent ones — applying an app ([`Client::apply_app`], [`Client::apply_compose`]) and
//! scaling a service ([`Client::scale_service`]) — which are sent again (the second answer then
//! shows no change when the first was applied). Where a retry matters, make the write
//! conditional: configs take an [`Expect`] (compare-and-swap), and creates are create-only.
#![warn(missing_docs)]

mod apps;
mod cluster;
mod configs;
mod envs;
mod error;
mod events;
mod ndjson;
mod nodes;
mod secrets;
mod tasks_io;
mod tokens;
mod transport;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, Problem};
pub use events::EventStream;
pub use nodes::TaskFilter;
pub use reqwest::StatusCode;
pub use skiff_core::Expect;
pub use tasks_io::LogStream;
use transport::Server;

/// The server asked when none is named.
pub const DEFAULT_SERVER: &str = "127.0.0.1:7400";
/// The port of a server named without one.
pub const DEFAULT_PORT: u16 = 7400;
/// How long a call keeps retrying when no server can serve it.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(15);
/// How long one attempt on one server may take.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a TCP connection to one server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A client of the control plane's HTTP API. Cheap to clone; clones share the knowledge of
/// which server answered last.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    servers: Arc<[Server]>,
    token: Option<String>,
    preferred: Arc<AtomicUsize>,
    retry_deadline: Duration,
    attempt_timeout: Duration,
    stale_reads: bool,
}

impl Client {
    /// A client of `servers` (`host:port`, `host` for port 7400, or `http://host:port`), sending
    /// `token` as `Authorization: Bearer` when there is one.
    pub fn new(servers: Vec<String>, token: Option<String>) -> Result<Self, Error> {
        let servers = servers
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(parse_server)
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err(Error::NoServers);
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map_err(Error::Http)?;
        Ok(Self {
            http,
            servers: servers.into(),
            token: token.filter(|t| !t.trim().is_empty()),
            preferred: Arc::new(AtomicUsize::new(0)),
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            stale_reads: false,
        })
    }

    /// A client configured from the process environment: `SKIFF_SERVER` (comma-separated,
    /// default `127.0.0.1:7400`) and `SKIFF_TOKEN`.
    pub fn from_env() -> Result<Self, Error> {
        let servers = std::env::var("SKIFF_SERVER").unwrap_or_else(|_| DEFAULT_SERVER.to_owned());
        let token = std::env::var("SKIFF_TOKEN").ok();
        Self::new(split_servers(&servers), token)
    }

    /// Keeps retrying for `deadline` when no server can serve a call (zero: one round only).
    pub fn with_retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// Gives up on one server after `timeout` without a complete answer (then tries the next).
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Reads with `?stale=true`: whichever server answers serves from its own state, without
    /// asking the leader (faster, and possible without a leader, but maybe behind).
    pub fn with_stale_reads(mut self, stale: bool) -> Self {
        self.stale_reads = stale;
        self
    }

    /// The servers, as given.
    pub fn servers(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.name.clone()).collect()
    }
}

/// Splits `a:7400,b:7400` into its addresses.
pub fn split_servers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_server(text: &str) -> Result<Server, Error> {
    let invalid = |reason| Error::InvalidServer {
        server: text.to_owned(),
        reason,
    };
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let mut base = reqwest::Url::parse(&with_scheme)
        .map_err(|_| invalid("not host:port or http://host:port"))?;
    if base.scheme() != "http" {
        return Err(invalid("only http:// is supported"));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if !matches!(base.path(), "" | "/") || base.query().is_some() {
        return Err(invalid("a server address has no path or query"));
    }
    if base.port().is_none() {
        base.set_port(Some(DEFAULT_PORT))
            .map_err(|()| invalid("cannot take a port"))?;
    }
    Ok(Server {
        name: text
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let s = parse_server("10.0.0.1:7401").unwrap();
        assert_eq!(s.base.as_str(), "http://10.0.0.1:7401/");
        assert_eq!(s.name, "10.0.0.1:7401");
        let s = parse_server("http://node-a/").unwrap();
        assert_eq!(s.base.as_str(), "http://node-a:7400/");
        assert_eq!(s.name, "node-a");
        for bad in ["https://a:1", "a:1/v1", "a:notaport", "http://"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
        assert_eq!(split_servers(" a:1, ,b:2 "), ["a:1", "b:2"]);
        assert!(matches!(
            Client::new(vec![" ".into()], None),
            Err(Error::NoServers)
        ));
    }

    #[test]
    fn segments_are_escaped() {
        let server = parse_server("a:1").unwrap();
        let call = transport::Call::get(&["v1", "envs", "dev/../x?y"]).query("app", "a b");
        assert_eq!(call.endpoint, "GET /v1/envs/dev/../x?y");
        assert_eq!(
            call.url(&server).as_str(),
            "http://a:1/v1/envs/dev%2F..%2Fx%3Fy?app=a+b"
        );
    }
}
