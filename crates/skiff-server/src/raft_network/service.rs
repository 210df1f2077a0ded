//! The receiving side: a tonic service that hands openraft's RPCs to the local Raft.

use std::fmt;
use std::future::Future;

use openraft::error::RaftError;
use openraft::raft::InstallSnapshotRequest;
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use skiff_proto::raft::json_reply::Result as Reply;
use skiff_proto::raft::raft_server::{Raft as RaftRpc, RaftServer};
use skiff_proto::raft::{JsonReply, JsonRequest, SnapshotChunk};
use skiff_store::{NodeId, StateMachine, TypeConfig};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::codec::{decode, encode};
use super::ClusterSecret;

/// The gRPC service of `raft.proto` in front of a local `openraft::Raft`.
pub struct RaftGrpc<S: StateMachine> {
    raft: Raft<TypeConfig<S>>,
    secret: ClusterSecret,
}

impl<S: StateMachine> fmt::Debug for RaftGrpc<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaftGrpc").finish_non_exhaustive()
    }
}

impl<S: StateMachine> RaftGrpc<S> {
    /// The service for `raft`.
    pub fn new(raft: Raft<TypeConfig<S>>) -> Self {
        Self {
            raft,
            secret: ClusterSecret::disabled(),
        }
    }

    /// Admits only RPCs that carry the cluster secret.
    pub fn with_secret(mut self, secret: ClusterSecret) -> Self {
        self.secret = secret;
        self
    }

    /// The tonic server for this service, accepting messages up to
    /// [`skiff_proto::MAX_MESSAGE_SIZE`].
    pub fn into_server(self) -> RaftServer<Self> {
        RaftServer::new(self)
            .max_decoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
    }
}

/// Serves the Raft RPCs of `raft` on `listener` until `shutdown` completes; then finishes the
/// calls in flight and returns.
pub async fn serve<S: StateMachine>(
    raft: Raft<TypeConfig<S>>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(RaftGrpc::new(raft).into_server())
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

fn parse<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Status> {
    decode(bytes).map_err(|e| Status::invalid_argument(format!("cannot decode the {what}: {e}")))
}

/// The Raft's answer as a reply. A stopped Raft is `unavailable`, so that the sender backs
/// off as from a member that is down; any other Raft error goes back to the sender's openraft.
fn reply<T, E>(result: Result<T, RaftError<NodeId, E>>) -> Result<Response<JsonReply>, Status>
where
    T: Serialize,
    E: std::error::Error + Serialize,
{
    let result = match result {
        Ok(response) => Reply::Ok(encode(&response)),
        Err(RaftError::Fatal(fatal)) => {
            return Err(Status::unavailable(format!(
                "this member's Raft is down: {fatal}"
            )))
        }
        Err(error) => Reply::Error(encode(&error)),
    };
    Ok(Response::new(JsonReply {
        result: Some(result),
    }))
}

#[tonic::async_trait]
impl<S: StateMachine> RaftRpc for RaftGrpc<S> {
    async fn append_entries(
        &self,
        request: Request<JsonRequest>,
    ) -> Result<Response<JsonReply>, Status> {
        self.secret.admit(&request)?;
        let rpc = parse("AppendEntries request", &request.into_inner().json)?;
        reply(self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<JsonRequest>) -> Result<Response<JsonReply>, Status> {
        self.secret.admit(&request)?;
        let rpc = parse("Vote request", &request.into_inner().json)?;
        reply(self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<SnapshotChunk>,
    ) -> Result<Response<JsonReply>, Status> {
        self.secret.admit(&request)?;
        let chunk = request.into_inner();
        let rpc = InstallSnapshotRequest {
            vote: parse("snapshot's vote", &chunk.vote)?,
            meta: parse("snapshot's meta", &chunk.meta)?,
            offset: chunk.offset,
            data: chunk.data,
            done: chunk.done,
        };
        reply(self.raft.install_snapshot(rpc).await)
    }
}
