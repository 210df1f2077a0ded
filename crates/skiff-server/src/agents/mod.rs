//! The servers' side of the agent session: the `Agent` gRPC service of agent.proto, served
//! on the server's port next to the Raft service (docs/control-plane.md, "Agent sessions").
//!
//! * [`register`] — `Register`: check the request, create or update the Node object with
//!   compare-and-swap, a pod subnet from the cluster's pod CIDR ([`subnet`]) for a new node.
//! * [`session`] — `Session`: the node's tasks ([`assign`], routed to it by [`dispatch`], with
//!   their secret and config files from [`files`]) and overlay peers ([`peers`]) down,
//!   heartbeats ([`crate::Heartbeats`]) and status ([`status`], batched into Raft) up.
//!
//! Both need an admin token ([`auth`]) and the leader: a follower answers `Unavailable` with a
//! message naming the leader's address, also given alone in the `skiff-leader` metadata.

pub mod assign;
pub mod auth;
pub mod convert;
pub mod dispatch;
pub mod endpoints;
pub mod files;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod links;
pub mod peers;
pub mod register;
pub mod session;
pub mod status;
pub mod subnet;

use std::sync::Arc;

use skiff_proto::agent::agent_server::{Agent, AgentServer};
use skiff_proto::agent::{AgentMessage, RegisterReply, RegisterRequest};
use tokio::sync::watch;
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

use crate::control::{ControlPlane, Unavailable};
use crate::heartbeats::Heartbeats;
use crate::sealing::Sealer;
pub use status::StatusBatcher;
pub use subnet::{PodCidr, SubnetError};

/// The metadata key of the leader's address in an `Unavailable` answer.
pub const LEADER_METADATA: &str = "skiff-leader";

/// What every call of the service shares.
#[derive(Debug)]
pub struct Shared {
    control: ControlPlane,
    heartbeats: Heartbeats,
    batcher: StatusBatcher,
    /// Routes the state's changes to the sessions they concern.
    dispatcher: dispatch::Dispatcher,
    pod_cidr: PodCidr,
    /// The tokens of the live sessions, for calling the agents back (logs, exec).
    links: links::NodeLinks,
    /// The pod subnets of registrations being written: two new nodes registering at once never
    /// get the same free subnet, and their writes still share Raft entries.
    register_lock: register::Reserved,
    /// Opens the secrets handed to the agents of the tasks that declare them.
    sealer: Sealer,
    /// Turns `true` when the server stops: sessions end.
    stopping: watch::Receiver<bool>,
}

/// The `Agent` gRPC service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AgentService {
    shared: Arc<Shared>,
}

impl AgentService {
    /// The service over `control`: heartbeats recorded into `heartbeats`, pod subnets from
    /// `pod_cidr`, each live session's token into `links`; sessions end when `stopping` turns
    /// `true`; secrets opened with `sealer`. Starts the status batcher and the change router
    /// on the current tokio runtime.
    pub fn new(
        control: ControlPlane,
        heartbeats: Heartbeats,
        pod_cidr: PodCidr,
        links: links::NodeLinks,
        sealer: Sealer,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let batcher = StatusBatcher::start(control.clone());
        let dispatcher = dispatch::Dispatcher::start(control.clone());
        Self {
            shared: Arc::new(Shared {
                control,
                heartbeats,
                batcher,
                dispatcher,
                pod_cidr,
                links,
                register_lock: register::Reserved::default(),
                sealer,
                stopping,
            }),
        }
    }

    /// The tonic server for this service, sending and accepting messages up to
    /// [`skiff_proto::MAX_MESSAGE_SIZE`] (a node's full set of tasks can be large).
    pub fn into_server(self) -> AgentServer<Self> {
        AgentServer::new(self)
            .max_decoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
    }

    /// The path the service's methods are under, as an axum route (`/skiff.agent.v1.Agent/{*method}`).
    pub fn route() -> String {
        format!("/{}/{{*method}}", <AgentServer<Self> as NamedService>::NAME)
    }
}

/// `Unavailable` for a write or session this server cannot serve, naming the leader (in the
/// message, and alone in [`LEADER_METADATA`]) when it is known.
pub fn unavailable(e: Unavailable) -> Status {
    let leader = match &e {
        Unavailable::NotLeader {
            leader: Some((_, addr)),
        } => Some(addr.clone()),
        _ => None,
    };
    let mut status = Status::unavailable(e.to_string());
    if let Some(value) = leader.and_then(|a| MetadataValue::try_from(a.as_str()).ok()) {
        status.metadata_mut().insert(LEADER_METADATA, value);
    }
    status
}

/// `Unavailable` because this server does not lead.
pub fn not_leader(control: &ControlPlane) -> Status {
    unavailable(Unavailable::NotLeader {
        leader: control.leader().filter(|(id, _)| *id != control.id()),
    })
}

#[tonic::async_trait]
impl Agent for AgentService {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterReply>, Status> {
        let shared = &self.shared;
        auth::authorize(&shared.control, request.metadata()).await?;
        if !shared.control.is_leader() {
            return Err(not_leader(&shared.control));
        }
        let reply = register::register(
            &shared.control,
            &shared.register_lock,
            &shared.pod_cidr,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(reply))
    }

    type SessionStream = files::Filled;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        auth::authorize(&self.shared.control, request.metadata()).await?;
        let token = links::bearer(request.metadata())
            .ok_or_else(|| Status::unauthenticated("the authorization metadata must be Bearer"))?;
        let outbox = session::open(self.shared.clone(), token, request.into_inner()).await?;
        let control = self.shared.control.clone();
        Ok(Response::new(files::fill(
            outbox,
            control,
            self.shared.sealer.clone(),
        )))
    }
}
