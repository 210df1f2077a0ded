//! How the servers reach a node's agent for logs and exec (the agent's `Node` service).
//!
//! An agent accepts exactly the token it holds its session with. The servers store tokens
//! only as digests, so the leader keeps, in memory, the token each node's live session
//! presented (already checked to be a valid admin token), with the node's address when that
//! session began, and calls the node's `Node` service there with it: [`NodeLinks`]. The token
//! thus only ever goes back to the address its own session's node had registered. Nothing is written through Raft or to disk; a new leader learns the
//! tokens as the agents reconnect to it, and a node without a session on this server cannot be
//! reached (the API answers 503 `node_not_connected`). See docs/control-plane.md, "Logs and
//! exec".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_proto::agent::node_client::NodeClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// How long the server waits to connect to an agent.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Node id → the token of its live session on this server and the node's address then.
/// Cloning is cheap; clones share it.
#[derive(Debug, Clone, Default)]
pub struct NodeLinks {
    inner: Arc<Links>,
}

#[derive(Debug, Default)]
struct Links {
    tokens: Mutex<HashMap<String, Link>>,
    serial: AtomicU64,
}

/// One live session: its serial, token, and the node's address when it began.
#[derive(Debug)]
struct Link {
    serial: u64,
    token: String,
    address: String,
}

/// What [`NodeLinks::connect`] could not do.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The node holds no session with this server, so its token is unknown here.
    #[error("node {node} has no session with this server")]
    NotConnected {
        /// The node.
        node: String,
    },
    /// The node's address is not one a channel can be made to.
    #[error("node {node}'s address {address:?} is not host:port")]
    BadAddress {
        /// The node.
        node: String,
        /// Its registered address.
        address: String,
    },
}

/// A client of one agent's `Node` service, its calls carrying the node's session token.
pub type AgentClient = NodeClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to each call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(…)")
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Proof that a session's token is recorded; [`NodeLinks::forget`] takes it back.
#[derive(Debug)]
pub struct Linked {
    node: String,
    serial: u64,
}

impl NodeLinks {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `node`'s session presented `token` while the node was registered at
    /// `address` (replacing an older session's).
    pub fn link(&self, node: &str, token: String, address: String) -> Linked {
        let serial = self.inner.serial.fetch_add(1, Ordering::Relaxed);
        let link = Link {
            serial,
            token,
            address,
        };
        self.lock().insert(node.to_owned(), link);
        Linked {
            node: node.to_owned(),
            serial,
        }
    }

    /// Forgets the token of the session `linked` stands for, unless a newer one replaced it.
    pub fn forget(&self, linked: Linked) {
        let mut tokens = self.lock();
        if tokens
            .get(&linked.node)
            .is_some_and(|l| l.serial == linked.serial)
        {
            tokens.remove(&linked.node);
        }
    }

    /// Whether `node` holds a session with this server.
    pub fn is_linked(&self, node: &str) -> bool {
        self.lock().contains_key(node)
    }

    /// A client of `node`'s `Node` service at the address of its session (connected lazily,
    /// on the first call), and that address.
    pub fn connect(&self, node: &str) -> Result<(AgentClient, String), LinkError> {
        let (token, address) = self
            .lock()
            .get(node)
            .map(|l| (l.token.clone(), l.address.clone()))
            .ok_or_else(|| LinkError::NotConnected {
                node: node.to_owned(),
            })?;
        let address = address.as_str();
        let bad = || LinkError::BadAddress {
            node: node.to_owned(),
            address: address.to_owned(),
        };
        let bearer = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| bad())?;
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|_| bad())?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let client = NodeClient::with_interceptor(endpoint.connect_lazy(), Bearer(bearer));
        Ok((client, address.to_owned()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Link>> {
        self.inner.tokens.lock().expect("node links lock")
    }
}

/// The bearer token `metadata` carries (the caller already checked it).
pub fn bearer(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    let text = metadata.get("authorization")?.to_str().ok()?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))?;
    Some(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_forgets_only_its_own_token() {
        let links = NodeLinks::new();
        let old = links.link("n1", "skiff.a.1".into(), "10.0.0.1:7410".into());
        let new = links.link("n1", "skiff.a.2".into(), "10.0.0.2:7410".into());
        let (_, address) = links.connect("n1").unwrap();
        assert_eq!(address, "10.0.0.2:7410", "the newer session's address");
        links.forget(old);
        assert!(links.is_linked("n1"), "the newer session's token stays");
        links.forget(new);
        assert!(!links.is_linked("n1"));
        assert!(matches!(
            links.connect("n1"),
            Err(LinkError::NotConnected { .. })
        ));
    }

    #[tokio::test]
    async fn clients_need_a_host_and_port() {
        let links = NodeLinks::new();
        let _ok = links.link("n1", "skiff.a.1".into(), "127.0.0.1:7410".into());
        assert!(links.connect("n1").is_ok());
        let _bad = links.link("n2", "skiff.a.1".into(), "not an address".into());
        assert!(matches!(
            links.connect("n2"),
            Err(LinkError::BadAddress { .. })
        ));
    }
}
