//! The gRPC channels to the servers, shared by every session of the process, and the token
//! every call carries.
//!
//! A tonic channel is one HTTP/2 connection that carries many calls at once, and reconnects on
//! the next call after it broke. Servers accept a bounded number of concurrent streams per
//! connection (hyper's default is 200), and each session is one long stream, so the sessions
//! of a process that simulates many nodes are spread over a few connections per server:
//! [`SESSIONS_PER_CONNECTION`] sessions share one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_proto::agent::agent_client::AgentClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// How many sessions share one connection to a server (hyper servers accept 200 concurrent
/// streams per connection by default; registrations share it too).
pub const SESSIONS_PER_CONNECTION: usize = 100;
/// How long connecting to a server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle connection is probed, and how long the answer may take, so that a
/// server whose host vanished (no reset ever comes) is noticed within seconds.
pub const KEEPALIVE: Duration = Duration::from_secs(2);

/// The client type of a session: the generated client over a channel that adds the token.
pub type Client = AgentClient<InterceptedService<Channel, Auth>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct Auth {
    header: Option<MetadataValue<Ascii>>,
}

impl tonic::service::Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// Why a pool cannot be made or a server not addressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The token cannot travel in an HTTP header.
    #[error("the token holds characters an HTTP header cannot carry: use the token as printed by `skiff token create`")]
    BadToken,
    /// A server address is not `host:port`.
    #[error("server {server:?} is not host:port or http://host:port")]
    BadServer {
        /// The address as given.
        server: String,
    },
}

/// Channels to the servers by address, made on first use and shared by clones of the pool.
#[derive(Debug, Clone)]
pub struct ServerPool {
    auth: Auth,
    channels: Arc<Mutex<HashMap<(String, usize), Channel>>>,
    problem: Arc<Mutex<Option<String>>>,
}

impl ServerPool {
    /// A pool whose calls carry `token` (none: no `authorization` header).
    pub fn new(token: Option<&str>) -> Result<ServerPool, PoolError> {
        let header = token
            .map(|t| {
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| PoolError::BadToken)
            })
            .transpose()?;
        Ok(ServerPool {
            auth: Auth { header },
            channels: Arc::default(),
            problem: Arc::default(),
        })
    }

    /// Keeps `text` as the last problem a session of the pool met.
    pub(super) fn record_problem(&self, text: String) {
        *self.problem.lock().expect("never poisoned") = Some(text);
    }

    /// The last problem a session of the pool met since the last call, if any: quiet sessions
    /// (simulated nodes) do not log, and their owner shows this instead.
    pub fn take_problem(&self) -> Option<String> {
        self.problem.lock().expect("never poisoned").take()
    }

    /// A client to `server` (`host:port` or `http://host:port`) for the session numbered
    /// `lane`: sessions whose lanes fall in the same block of [`SESSIONS_PER_CONNECTION`]
    /// share a connection.
    pub fn client(&self, server: &str, lane: usize) -> Result<Client, PoolError> {
        let key = (server.to_owned(), lane / SESSIONS_PER_CONNECTION);
        let mut channels = self
            .channels
            .lock()
            .expect("the channel map is never poisoned");
        let channel = match channels.get(&key) {
            Some(channel) => channel.clone(),
            None => {
                let channel = endpoint(server)?.connect_lazy();
                channels.insert(key, channel.clone());
                channel
            }
        };
        Ok(AgentClient::with_interceptor(channel, self.auth.clone())
            .max_decoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(skiff_proto::MAX_MESSAGE_SIZE))
    }
}

/// Checks that `server` can be dialled, without dialling it.
pub fn check_server(server: &str) -> Result<(), PoolError> {
    endpoint(server).map(drop)
}

fn endpoint(server: &str) -> Result<Endpoint, PoolError> {
    let bad = || PoolError::BadServer {
        server: server.to_owned(),
    };
    let url = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    if !url.starts_with("http://") || url.trim_start_matches("http://").is_empty() {
        return Err(bad());
    }
    let endpoint = Endpoint::from_shared(url).map_err(|_| bad())?;
    endpoint.uri().port_u16().ok_or_else(bad)?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_tokens_are_checked() {
        for good in ["127.0.0.1:7400", "http://server-1:7400", "[::1]:7400"] {
            assert_eq!(check_server(good), Ok(()), "{good}");
        }
        for bad in ["127.0.0.1", "https://a:1", "http://", "a b:1", ""] {
            assert!(check_server(bad).is_err(), "{bad}");
        }
        assert!(ServerPool::new(Some("abc.def")).is_ok());
        assert_eq!(
            ServerPool::new(Some("a\nb")).unwrap_err(),
            PoolError::BadToken
        );
    }
}
