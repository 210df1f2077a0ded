//! The agent's side of the session with the control plane (`proto/agent.proto`): register the
//! node, then hold one `Session` stream with any server — say hello, send heartbeats and the
//! status changes of the [`StatusBoard`], apply the assignments received to a [`DesiredSet`]
//! published on a watch channel, publish the overlay peers — and reconnect with back-off,
//! rotating through the servers and going first to a leader a refusing follower names.
//! docs/agent-session.md tells the whole story.

mod dial;
mod node;
mod pool;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use skiff_proto::agent::{Peer, RegisterReply, RegisterRequest};
use tokio::sync::watch;

pub use dial::{backoff, leader_in, Attempt, Dialer, Outcome, BACKOFF_BASE, BACKOFF_CAP};
pub use node::{
    is_valid_id, node_id, store_pod_subnet, stored_pod_subnet, Capacity, NodeError, NODE_ID_FILE,
    POD_SUBNET_FILE,
};
pub use pool::{check_server, Auth, Client, PoolError, ServerPool, SESSIONS_PER_CONNECTION};
pub use stream::{MAX_BATCH, STATUS_COALESCE};

use crate::{DesiredSet, Directory, StatusBoard};

/// Where a session publishes what the servers send: watch channels, level-triggered (their
/// readers only ever look at the latest value).
#[derive(Debug)]
pub struct Outputs {
    /// The node's tasks.
    pub desired: watch::Sender<DesiredSet>,
    /// The overlay peers.
    pub peers: watch::Sender<Peers>,
    /// The service data of the node's environments; decoded only while it has a reader (a
    /// simulated node has none).
    pub directory: watch::Sender<Directory>,
}

impl Outputs {
    /// Channels holding nothing yet; readers subscribe to them.
    pub fn new() -> Self {
        Self {
            desired: watch::Sender::new(DesiredSet::default()),
            peers: watch::Sender::new(Peers::new()),
            directory: watch::Sender::new(Directory::default()),
        }
    }
}

impl Default for Outputs {
    fn default() -> Self {
        Self::new()
    }
}

/// How often the agent sends a heartbeat, unless told otherwise.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// What a session needs to know.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The servers, `host:port` (or `http://host:port`); at least one.
    pub servers: Vec<String>,
    /// The token every call carries (`authorization: Bearer <token>`).
    pub token: Option<String>,
    /// The node's id; `None`: the one stored in `data_dir`, or a new one stored there.
    pub node_id: Option<String>,
    /// The node's name, for people (the host name).
    pub name: String,
    /// Where the agent serves logs and exec (`host:port`).
    pub address: String,
    /// The node's labels.
    pub labels: BTreeMap<String, String>,
    /// What the node has.
    pub capacity: Capacity,
    /// How often to send a heartbeat.
    pub heartbeat_interval: Duration,
    /// Where the node id and pod subnet are kept; `None` (simulated nodes): nowhere.
    pub data_dir: Option<PathBuf>,
    /// Keep quiet about connections made and lost (simulated nodes: a thousand of them).
    pub quiet: bool,
}

/// The overlay peers, as the last `Peers` message listed them.
pub type Peers = Vec<Peer>;

/// What the control plane answered to the registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The node's id.
    pub node_id: String,
    /// The subnet its containers get addresses from (CIDR).
    pub pod_subnet: String,
    /// The state's revision the registration was written at.
    pub revision: u64,
    /// The cluster's pod CIDR ("" from a server that does not say).
    pub pod_cidr: String,
}

/// Why the session cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No server was given.
    #[error("no server given: pass --server HOST:PORT[,HOST:PORT…] or set SKIFF_SERVER")]
    NoServers,
    /// A server address or the token is not usable.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The node id, capacity or subnet file.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The servers refused the token.
    #[error("server {server} refused the token ({code:?}): {message}; pass an admin token with --token or SKIFF_TOKEN")]
    Unauthenticated {
        /// The server that refused.
        server: String,
        /// The gRPC code (`Unauthenticated` or `PermissionDenied`).
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// The servers refused the registration as invalid.
    #[error("server {server} refused the registration of node {node_id}: {message}")]
    Refused {
        /// The server that refused.
        server: String,
        /// The node.
        node_id: String,
        /// The server's message.
        message: String,
    },
    /// The server does not serve agents (an older version, or not a Skiff server).
    #[error("server {server} does not serve agent sessions ({message}): is it a Skiff server of this version?")]
    Unsupported {
        /// The server.
        server: String,
        /// The server's message.
        message: String,
    },
    /// Shutdown was asked before the node was registered.
    #[error("stopped before the node was registered")]
    Stopped,
}

/// One node's session: its config, the node id it settled on, and the channels it dials.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    node_id: String,
    pool: ServerPool,
    /// Which connection of the pool it uses and which server it tries first.
    lane: usize,
}

impl Session {
    /// A session with connections of its own; settles the node id (reading or writing the
    /// data directory).
    pub fn new(config: SessionConfig) -> Result<Session, SessionError> {
        let pool = ServerPool::new(config.token.as_deref())?;
        Session::with_pool(config, pool, 0)
    }

    /// A session over `pool`'s connections (shared with other sessions of the process);
    /// `lane` spreads sessions over connections and over the servers tried first.
    pub fn with_pool(
        config: SessionConfig,
        pool: ServerPool,
        lane: usize,
    ) -> Result<Session, SessionError> {
        if config.servers.is_empty() {
            return Err(SessionError::NoServers);
        }
        for server in &config.servers {
            check_server(server)?;
        }
        let node_id = node_id(config.node_id.as_deref(), config.data_dir.as_deref())?;
        Ok(Session {
            config,
            node_id,
            pool,
            lane,
        })
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    fn dialer(&self) -> Dialer {
        Dialer::starting_at(self.config.servers.clone(), self.lane)
    }

    fn log(&self, text: std::fmt::Arguments<'_>) {
        if !self.config.quiet {
            eprintln!("skiff agent: node {}: {text}", self.node_id);
        }
    }

    /// Logs a failure, and keeps it as the pool's last problem (a quiet simulation shows it).
    fn problem(&self, text: std::fmt::Arguments<'_>) {
        self.log(text);
        self.pool
            .record_problem(format!("node {}: {text}", self.node_id));
    }

    /// Registers the node with any server, retrying with back-off until one answers (or
    /// `shutdown` turns true); stores the pod subnet in the data directory.
    pub async fn register(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Registration, SessionError> {
        let request = RegisterRequest {
            node_id: self.node_id.clone(),
            name: self.config.name.clone(),
            address: self.config.address.clone(),
            labels: self.config.labels.clone().into_iter().collect(),
            cpus_milli: self.config.capacity.cpus_milli,
            memory_bytes: self.config.capacity.memory_bytes,
        };
        let mut dialer = self.dialer();
        loop {
            let server = dialer.target();
            let outcome = match self.register_at(&server, request.clone()).await {
                Ok(reply) => return self.registered(reply),
                Err(status) => self.classify(&server, &status, "registration")?,
            };
            let next = dialer.after(outcome, jitter());
            if stopped_within(shutdown, next.delay).await {
                return Err(SessionError::Stopped);
            }
        }
    }

    async fn register_at(
        &self,
        server: &str,
        request: RegisterRequest,
    ) -> Result<RegisterReply, tonic::Status> {
        let mut client = self
            .pool
            .client(server, self.lane)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let mut request = tonic::Request::new(request);
        request.set_timeout(Duration::from_secs(15));
        Ok(client.register(request).await?.into_inner())
    }

    fn registered(&self, reply: RegisterReply) -> Result<Registration, SessionError> {
        if let Some(dir) = &self.config.data_dir {
            store_pod_subnet(dir, &reply.pod_subnet)?;
        }
        self.log(format_args!("registered, pod subnet {}", reply.pod_subnet));
        Ok(Registration {
            node_id: if reply.node_id.is_empty() {
                self.node_id.clone()
            } else {
                reply.node_id
            },
            pod_subnet: reply.pod_subnet,
            revision: reply.revision,
            pod_cidr: reply.pod_cidr,
        })
    }

    /// What a failed call means: a redirect, a failure to retry, or (bad token, refused
    /// request) an error to stop on.
    fn classify(
        &self,
        server: &str,
        status: &tonic::Status,
        what: &str,
    ) -> Result<Outcome, SessionError> {
        match status.code() {
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                Err(SessionError::Unauthenticated {
                    server: server.to_owned(),
                    code: status.code(),
                    message: status.message().to_owned(),
                })
            }
            tonic::Code::Unimplemented => Err(SessionError::Unsupported {
                server: server.to_owned(),
                message: status.message().to_owned(),
            }),
            tonic::Code::InvalidArgument if what == "registration" => Err(SessionError::Refused {
                server: server.to_owned(),
                node_id: self.node_id.clone(),
                message: status.message().to_owned(),
            }),
            tonic::Code::Unavailable => {
                let leader = leader_in(status.message());
                if leader.is_none() {
                    self.problem(format_args!(
                        "{what} at {server} failed: {}",
                        status.message()
                    ));
                }
                Ok(Outcome::NotLeader { leader })
            }
            _ => {
                self.problem(format_args!(
                    "{what} at {server} failed ({:?}): {}",
                    status.code(),
                    status.message()
                ));
                Ok(Outcome::Failed)
            }
        }
    }

    /// Holds the session until `shutdown` turns true: one stream at a time with any server,
    /// reconnecting with back-off. Returns an error only when the servers refuse the token.
    pub async fn hold(
        &self,
        board: &StatusBoard,
        outputs: &Outputs,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), SessionError> {
        let mut dialer = self.dialer();
        loop {
            let server = dialer.target();
            let ended =
                stream::hold_one(self, &server, board, outputs, shutdown, &mut dialer).await;
            let outcome = match ended {
                stream::Ended::Shutdown => return Ok(()),
                stream::Ended::Lost(why) => {
                    self.problem(format_args!("session with {server} lost: {why}"));
                    Outcome::Lost
                }
                stream::Ended::Refused(status) => self.classify(&server, &status, "session")?,
            };
            let next = dialer.after(outcome, jitter());
            if stopped_within(shutdown, next.delay).await {
                return Ok(());
            }
        }
    }
}

/// Registers the node, then holds its session until `shutdown` turns true: the whole life of
/// an agent's side of the control plane.
pub async fn run(
    config: SessionConfig,
    board: StatusBoard,
    outputs: Outputs,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Registration, SessionError> {
    let session = Session::new(config)?;
    let registration = session.register(&mut shutdown).await?;
    session.hold(&board, &outputs, &mut shutdown).await?;
    Ok(registration)
}

/// Waits `delay`; true when `shutdown` turned true (or its sender is gone) before.
async fn stopped_within(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => *shutdown.borrow(),
        _ = stopped(shutdown) => true,
    }
}

/// Resolves once `shutdown` is true or its sender is gone.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// A random number in `[0, 1)` for the back-off's jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    // Without random bytes the jitter is lost, not the session.
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
