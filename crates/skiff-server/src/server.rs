//! One running server: its Raft member on sled, its port (HTTP API and Raft gRPC on the same
//! listener), and how it enters the cluster (bootstrap, join, or resume).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::serve::ListenerExt;
use openraft::{BasicNode, Raft};
use skiff_api::v1::JoinRequest;
use skiff_core::objects::{Role, Token, TokenScope};
use skiff_core::{Command, Expect, Key, Name, Object, Response, State};
use skiff_proto::raft::raft_server::RaftServer;
use skiff_store::{NodeId, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::server::NamedService;

use crate::agents::links::NodeLinks;
use crate::agents::AgentService;
use crate::api::auth::TokenString;
use crate::api::{self, ApiState};
use crate::config::{ServerConfig, Start};
use crate::control::ControlPlane;
use crate::controllers::{ControllerConfig, Controllers, ControllersHandle};
use crate::heartbeats::Heartbeats;
use crate::raft_network::{ClusterSecret, GrpcNetwork, RaftGrpc};
use crate::sealing::Sealer;

/// The file in the data directory that holds the bootstrap admin token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The file in the data directory that holds the cluster secret Raft RPCs carry (mode 0600).
pub const CLUSTER_SECRET_FILE: &str = "cluster.secret";
/// The id of the bootstrap admin token.
pub const ADMIN_TOKEN_ID: &str = "admin";
/// How long a joining server keeps asking the cluster to add it.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory or a file in it.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The listen address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The address to advertise cannot be derived.
    #[error("listening on {0} (a wildcard address): pass --advertise HOST:PORT, the address other servers reach this one at")]
    NoAdvertise(SocketAddr),
    /// The Raft storage.
    #[error(transparent)]
    Store(#[from] skiff_store::StoreError),
    /// Raft's configuration.
    #[error("invalid Raft timing: {0}")]
    RaftConfig(#[from] Box<openraft::ConfigError>),
    /// Raft itself.
    #[error("Raft: {0}")]
    Raft(String),
    /// Bootstrapping the cluster.
    #[error("cannot bootstrap the cluster: {0}")]
    Bootstrap(String),
    /// Restoring a backup.
    #[error("cannot restore {path}: {message}")]
    Restore {
        /// The backup file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Joining the cluster.
    #[error("cannot join the cluster at {addr}: {message}")]
    Join {
        /// The member asked.
        addr: String,
        /// What went wrong.
        message: String,
    },
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    control: ControlPlane,
    heartbeats: Heartbeats,
    addr: SocketAddr,
    admin_token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    /// Ends open watch streams, which would otherwise hold graceful shutdown.
    stopping: tokio::sync::watch::Sender<bool>,
    serving: JoinHandle<std::io::Result<()>>,
    /// The leader-only loops (they run while this server leads).
    controllers: Option<ControllersHandle>,
}

impl Server {
    /// Starts a server: opens (or creates) its data, starts Raft, listens, and bootstraps or
    /// joins a cluster as `config.start` says. Returns once it serves, and — for a bootstrap —
    /// once the admin token is stored, or — for a join — once the cluster has made it a voter.
    pub async fn start(config: ServerConfig) -> Result<Self, ServerError> {
        // A backup is read and checked before anything is created, so a bad one leaves nothing.
        let backup = match &config.start {
            Start::Restore { backup } if !config.data_dir.join("raft").exists() => {
                Some(read_backup(backup)?)
            }
            _ => None,
        };
        create_private_dir(&config.data_dir)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let advertise = match &config.advertise {
            Some(a) => a.clone(),
            None if addr.ip().is_unspecified() => return Err(ServerError::NoAdvertise(addr)),
            None => addr.to_string(),
        };
        let fresh = !config.data_dir.join("raft").exists();
        let (log, sm) = Store::open::<State>(config.data_dir.join("raft"))?;
        let raft_config = config.raft.openraft_config()?;
        let secret_file = config.data_dir.join(CLUSTER_SECRET_FILE);
        let io = |source| ServerError::Io {
            path: secret_file.clone(),
            source,
        };
        let mut secret = ClusterSecret::load(secret_file.clone()).map_err(io)?;
        if matches!(config.start, Start::Bootstrap | Start::Restore { .. }) {
            // A server that founds a cluster makes its secret before it serves, and never
            // adopts one: otherwise whoever reached the port first could hand it theirs.
            secret = secret.without_adoption();
            if fresh && secret.current().is_none() {
                secret.generate().map_err(io)?;
            }
        }
        let network = GrpcNetwork::new(config.id).with_secret(secret.clone());
        let raft = Raft::new(config.id, raft_config, network, log, sm.clone())
            .await
            .map_err(|e| ServerError::Raft(e.to_string()))?;
        let control = ControlPlane::new(config.id, advertise.clone(), raft.clone(), sm);

        // gRPC requests are HTTP/2 POSTs to /{package}.{Service}/{Method}: the Raft service
        // shares the port with the API under its own path prefix.
        let grpc = RaftGrpc::new(raft.clone())
            .with_secret(secret.clone())
            .into_server();
        let grpc_path = format!(
            "/{}/{{*method}}",
            <RaftServer<RaftGrpc<State>> as NamedService>::NAME
        );
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let heartbeats = Heartbeats::new();
        let links = NodeLinks::new();
        let agents = AgentService::new(
            control.clone(),
            heartbeats.clone(),
            config.pod_cidr,
            links.clone(),
            Sealer::new(secret.clone()),
            stopping_rx.clone(),
        );
        let app = api::router(
            ApiState::new(control.clone(), config.body_limit, stopping_rx)
                .with_links(links)
                .with_sealer(Sealer::new(secret.clone())),
        )
        .route_service(&grpc_path, grpc)
        .route_service(&AgentService::route(), agents.into_server());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            // Small answers (a write's revision, a Raft ack) must not wait for Nagle's algorithm
            // and the peer's delayed ACK: 40 ms a round trip.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let controllers = Controllers::new(
            control.clone(),
            heartbeats.clone(),
            ControllerConfig {
                node_grace_period: config.node_grace_period,
                service_cidr: config.service_cidr,
            },
        );
        let mut server = Server {
            control,
            heartbeats,
            addr,
            admin_token: None,
            stop: Some(stop),
            stopping,
            serving,
            controllers: config.controllers.then(|| controllers.spawn()),
        };
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ServerError::Raft(e.to_string()))?;
        if let Err(e) = server
            .enter(&config, initialized, backup, &secret, &advertise)
            .await
        {
            // Nothing half-made stays up: stop serving and Raft; a cluster this start created
            // (a failed bootstrap or restore) is taken away again.
            let _ = server.shutdown().await;
            if fresh && matches!(config.start, Start::Bootstrap | Start::Restore { .. }) {
                let _ = std::fs::remove_dir_all(config.data_dir.join("raft"));
                let _ = std::fs::remove_file(config.data_dir.join(ADMIN_TOKEN_FILE));
                let _ = std::fs::remove_file(config.data_dir.join(CLUSTER_SECRET_FILE));
            }
            return Err(e);
        }
        Ok(server)
    }

    /// Enters the cluster as `config.start` says, once serving: bootstraps, restores a backup
    /// or joins; a server already in a cluster (or told to wait) does nothing.
    async fn enter(
        &mut self,
        config: &ServerConfig,
        initialized: bool,
        backup: Option<State>,
        secret: &ClusterSecret,
        advertise: &str,
    ) -> Result<(), ServerError> {
        match (&config.start, initialized) {
            (_, true) | (Start::Wait, false) => Ok(()),
            (Start::Bootstrap, false) => {
                self.admin_token = Some(bootstrap(&self.control, secret, &config.data_dir).await?);
                Ok(())
            }
            (Start::Restore { backup: path }, false) => {
                // Raft data that never became a cluster (a server started to wait, say): a
                // restore does not guess what to do with it.
                let Some(backup) = backup else {
                    return Err(ServerError::Restore {
                        path: path.clone(),
                        message: format!(
                            "{} already holds Raft data that is not a cluster; restore into an \
                             empty data directory",
                            config.data_dir.display()
                        ),
                    });
                };
                self.admin_token = Some(bootstrap(&self.control, secret, &config.data_dir).await?);
                restore(&self.control, &backup)
                    .await
                    .map_err(|message| ServerError::Restore {
                        path: path.clone(),
                        message,
                    })
            }
            (Start::Join { addr, token }, false) => join(config.id, advertise, addr, token).await,
        }
    }

    /// The local member of the control plane.
    pub fn control(&self) -> &ControlPlane {
        &self.control
    }

    /// When each node's agent was last heard from on this server (its agent sessions record
    /// into it; the leader's node monitor reads it).
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin token this start created (a bootstrap only), to show once.
    pub fn new_admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// Stops serving and shuts Raft down.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(controllers) = self.controllers.take() {
            controllers.stop();
        }
        self.stopping.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(Duration::from_secs(5), &mut self.serving).await;
        if served.is_err() {
            // Open long-lived streams (watches) hold graceful shutdown; cut them.
            self.serving.abort();
        }
        self.control
            .raft()
            .shutdown()
            .await
            .map_err(|e| ServerError::Raft(e.to_string()))
    }
}

fn create_private_dir(path: &Path) -> Result<(), ServerError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ServerError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Initializes a one-member cluster with a new cluster secret, writes the admin token file
/// and stores the token.
async fn bootstrap(
    control: &ControlPlane,
    secret: &ClusterSecret,
    data_dir: &Path,
) -> Result<String, ServerError> {
    if secret.current().is_none() {
        secret.generate().map_err(|source| ServerError::Io {
            path: data_dir.join(CLUSTER_SECRET_FILE),
            source,
        })?;
    }
    let admin = Name::new(ADMIN_TOKEN_ID).expect("a valid name");
    let token = TokenString::generate(admin.clone())
        .map_err(|e| ServerError::Bootstrap(format!("no randomness: {e}")))?;
    let members = BTreeMap::from([(control.id(), BasicNode::new(control.advertise()))]);
    control
        .raft()
        .initialize(members)
        .await
        .map_err(|e| ServerError::Bootstrap(e.to_string()))?;
    write_token_file(&data_dir.join(ADMIN_TOKEN_FILE), &token.to_string())?;
    let object = Object::Token(Token {
        id: admin,
        role: Role::Admin,
        scope: TokenScope::All,
        secret_sha256: token.secret_sha256(),
        description: "bootstrap admin token".into(),
        created_at: api::now(),
    });
    let command = Command::put(object, Expect::Absent);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match control.propose(command.clone()).await {
            Ok(Response::Ok { .. }) => return Ok(token.to_string()),
            Ok(other) => {
                return Err(ServerError::Bootstrap(format!(
                    "storing the token: {other:?}"
                )))
            }
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(ServerError::Bootstrap(format!("storing the token: {e}")))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn read_backup(path: &Path) -> Result<State, ServerError> {
    let bytes = std::fs::read(path).map_err(|source| ServerError::Io {
        path: path.to_owned(),
        source,
    })?;
    State::from_snapshot(&bytes).map_err(|e| ServerError::Restore {
        path: path.to_owned(),
        message: format!("not a valid backup: {e}"),
    })
}

/// Writes the objects of `backup` into the new cluster (its admin token is the new one's).
async fn restore(control: &ControlPlane, backup: &State) -> Result<(), String> {
    let skip = [Key::Token {
        id: Name::new(ADMIN_TOKEN_ID).expect("a valid name"),
    }];
    for command in skiff_core::plan::restore(backup, &skip) {
        match control.propose(command).await.map_err(|e| e.to_string())? {
            Response::Ok { .. } => {}
            refused => return Err(format!("the new cluster refused the backup: {refused:?}")),
        }
    }
    Ok(())
}

/// Writes the admin token file (mode 0600) through a temporary file and a rename, so the file
/// is whole or absent. Only a bootstrap of a new cluster writes it, so a file already there is
/// left from an attempt that never made a cluster, and is replaced.
fn write_token_file(path: &Path, token: &str) -> Result<(), ServerError> {
    let io = |source| ServerError::Io {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("token.tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(format!("{token}\n").as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// Asks the cluster at `addr` to add this server, until it answers or [`JOIN_TIMEOUT`] passes.
async fn join(id: NodeId, advertise: &str, addr: &str, token: &str) -> Result<(), ServerError> {
    let client = crate::api::forward::client();
    let url = format!("http://{addr}/v1/cluster/members");
    let request = JoinRequest {
        id,
        addr: advertise.to_owned(),
    };
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    let failed = |message: String| ServerError::Join {
        addr: addr.to_owned(),
        message,
    };
    loop {
        // The leader waits up to LEARNER_TIMEOUT for this server to catch up; a little more
        // here, so a hung answer cannot hold the start for ever.
        let sent = client
            .post(&url)
            .bearer_auth(token)
            .json(&request)
            .timeout(crate::api::LEARNER_TIMEOUT + Duration::from_secs(10))
            .send()
            .await;
        let retry = match sent {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            Ok(answer) if answer.status().is_server_error() || answer.status() == 409 => {
                format!(
                    "{}: {}",
                    answer.status(),
                    answer.text().await.unwrap_or_default()
                )
            }
            Ok(answer) => {
                let status = answer.status();
                return Err(failed(format!(
                    "{status}: {}",
                    answer.text().await.unwrap_or_default()
                )));
            }
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() > deadline {
            return Err(failed(format!(
                "gave up after {} s: {retry}",
                JOIN_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_token_file_is_private_and_replaces_one_left_by_a_failed_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        std::fs::write(&path, "skiff.admin.left-over\n").unwrap();
        write_token_file(&path, "skiff.admin.new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "skiff.admin.new\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!path.with_extension("token.tmp").exists());
    }
}
