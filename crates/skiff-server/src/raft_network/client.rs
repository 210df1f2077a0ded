//! The sending side: openraft's `RaftNetworkFactory` and `RaftNetwork` over tonic clients.

// openraft's traits dictate `RPCError` (over 200 bytes) as the error of every call here.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use skiff_proto::raft::json_reply::Result as Reply;
use skiff_proto::raft::raft_client::RaftClient;
use skiff_proto::raft::{JsonReply, JsonRequest, SnapshotChunk};
use skiff_store::{NodeId, StateMachine, TypeConfig};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::codec::{decode, encode};
use super::ClusterSecret;

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

/// Why a Raft RPC to another member failed before its Raft could answer it.
#[derive(Debug, thiserror::Error)]
pub enum RaftNetworkError {
    /// The member's address (openraft's `BasicNode::addr`) is not a usable `host:port`.
    #[error("member {target} has an unusable address {addr:?}: {source}")]
    InvalidAddress {
        /// The member.
        target: NodeId,
        /// Its address as given in the membership.
        addr: String,
        /// tonic's error.
        source: tonic::transport::Error,
    },
    /// The call failed in transport or on the member's gRPC server (refused connection,
    /// member shutting down, message too large, …).
    #[error("{action} to member {target} failed: {status}")]
    Status {
        /// The member.
        target: NodeId,
        /// The RPC.
        action: RPCTypes,
        /// What gRPC reported.
        status: tonic::Status,
    },
    /// The member's answer does not decode: it runs an incompatible version.
    #[error("cannot decode member {target}'s answer to {action}: {source}")]
    Decode {
        /// The member.
        target: NodeId,
        /// The RPC.
        action: RPCTypes,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The member answered with neither a response nor an error.
    #[error("member {target} gave an empty answer to {action}")]
    EmptyReply {
        /// The member.
        target: NodeId,
        /// The RPC.
        action: RPCTypes,
    },
}

/// openraft's network factory for Skiff's servers: a [`GrpcPeer`] per target member.
///
/// The tonic channel to each member is made once and shared by every client openraft asks
/// for: replication streams, elections, and the round of heartbeats that confirms leadership
/// for each linearizable read. A fresh connection per read would have to be opened, and its
/// HTTP/2 handshake done, within that round's time limit (the heartbeat interval), which fails
/// under load although every member is up.
#[derive(Debug, Clone)]
pub struct GrpcNetwork {
    id: NodeId,
    connect_timeout: Duration,
    secret: ClusterSecret,
    channels: Arc<Mutex<HashMap<NodeId, (String, Channel)>>>,
}

impl GrpcNetwork {
    /// The network of member `id` (named in timeout errors), with a 1 s connect timeout.
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            connect_timeout: Duration::from_secs(1),
            secret: ClusterSecret::disabled(),
            channels: Arc::default(),
        }
    }

    /// Signs every RPC with the cluster secret (once known).
    pub fn with_secret(mut self, secret: ClusterSecret) -> Self {
        self.secret = secret;
        self
    }

    /// Sets how long a connection attempt to a member may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The channel to `target` at `addr`: the one made before, unless the member moved.
    fn channel(&self, target: NodeId, addr: &str) -> Result<Channel, RaftNetworkError> {
        let mut channels = self
            .channels
            .lock()
            .expect("the channel map is never poisoned");
        if let Some((known, channel)) = channels.get(&target) {
            if known == addr {
                return Ok(channel.clone());
            }
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}")).map_err(|source| {
            RaftNetworkError::InvalidAddress {
                target,
                addr: addr.to_owned(),
                source,
            }
        })?;
        // Lazy: connects on first use, and again on the next call after the connection broke.
        let channel = endpoint
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(target, (addr.to_owned(), channel.clone()));
        Ok(channel)
    }
}

impl<S: StateMachine> RaftNetworkFactory<TypeConfig<S>> for GrpcNetwork {
    type Network = GrpcPeer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> GrpcPeer {
        let channel = self.channel(target, &node.addr);
        let mut peer = GrpcPeer::new(self.id, target, node.clone(), channel);
        peer.secret = self.secret.clone();
        peer
    }
}

/// openraft's client to one member, over the member's shared tonic channel (which reconnects
/// after a failure, so a member that comes back is reached again without a new client).
#[derive(Debug)]
pub struct GrpcPeer {
    id: NodeId,
    target: NodeId,
    node: BasicNode,
    client: Result<RaftClient<Channel>, RaftNetworkError>,
    secret: ClusterSecret,
}

impl GrpcPeer {
    fn new(
        id: NodeId,
        target: NodeId,
        node: BasicNode,
        channel: Result<Channel, RaftNetworkError>,
    ) -> Self {
        let client = channel.map(|channel| {
            RaftClient::new(channel)
                .max_decoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
                .max_encoding_message_size(skiff_proto::MAX_MESSAGE_SIZE)
        });
        Self {
            id,
            target,
            node,
            client,
            secret: ClusterSecret::disabled(),
        }
    }

    /// Sends one call with `send`, within the soft time limit of `option`, and decodes the
    /// answer.
    async fn call<T, E, F, Fut>(
        &self,
        action: RPCTypes,
        option: &RPCOption,
        send: F,
    ) -> RpcResult<T, E>
    where
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<JsonReply>, tonic::Status>>,
    {
        let client = match &self.client {
            Ok(client) => client.clone(),
            Err(e) => return Err(RPCError::Unreachable(Unreachable::new(e))),
        };
        // Give up at the soft limit, before openraft drops the call at the hard one; the
        // target's gRPC server is told the same deadline.
        let ttl = option.soft_ttl();
        let reply = match tokio::time::timeout(ttl, send(client, ttl)).await {
            Err(_elapsed) => return Err(self.timeout(action, ttl)),
            Ok(Err(status)) => return Err(self.failed(action, status, ttl)),
            Ok(Ok(reply)) => reply.into_inner(),
        };
        let network = |e: RaftNetworkError| RPCError::Network(NetworkError::new(&e));
        let decode_error = |source| RaftNetworkError::Decode {
            target: self.target,
            action,
            source,
        };
        match reply.result {
            Some(Reply::Ok(bytes)) => decode(&bytes).map_err(|e| network(decode_error(e))),
            Some(Reply::Error(bytes)) => {
                let error: RaftError<NodeId, E> =
                    decode(&bytes).map_err(|e| network(decode_error(e)))?;
                Err(RPCError::RemoteError(RemoteError::new_with_node(
                    self.target,
                    self.node.clone(),
                    error,
                )))
            }
            None => Err(network(RaftNetworkError::EmptyReply {
                target: self.target,
                action,
            })),
        }
    }

    fn timeout<E: std::error::Error>(
        &self,
        action: RPCTypes,
        ttl: Duration,
    ) -> RPCError<NodeId, BasicNode, E> {
        RPCError::Timeout(Timeout {
            action,
            id: self.id,
            target: self.target,
            timeout: ttl,
        })
    }

    /// Maps a failed call to the error openraft acts on: a member that cannot be reached is
    /// `Unreachable` (openraft backs off before trying it again), a deadline is a `Timeout`,
    /// anything else a `Network` error (retried at once).
    fn failed<E: std::error::Error>(
        &self,
        action: RPCTypes,
        status: tonic::Status,
        ttl: Duration,
    ) -> RPCError<NodeId, BasicNode, E> {
        let code = status.code();
        let error = RaftNetworkError::Status {
            target: self.target,
            action,
            status,
        };
        match code {
            // A member that refuses our secret will go on refusing it: back off as for one that
            // cannot be reached.
            Code::Unavailable | Code::Unauthenticated => {
                RPCError::Unreachable(Unreachable::new(&error))
            }
            Code::DeadlineExceeded => self.timeout(action, ttl),
            _ => RPCError::Network(NetworkError::new(&error)),
        }
    }
}

/// A request with the deadline the target's server should enforce too.
fn request<T>(message: T, ttl: Duration, secret: &ClusterSecret) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(ttl);
    secret.sign(&mut request);
    request
}

impl<S: StateMachine> RaftNetwork<TypeConfig<S>> for GrpcPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig<S>>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let json = encode(&rpc);
        // Over the message limit the target would refuse it every time: ask openraft to send
        // fewer entries (it retries with at most the hinted number).
        if json.len() > skiff_proto::MAX_MESSAGE_SIZE && rpc.entries.len() > 1 {
            let hint = (rpc.entries.len() / 2).max(1) as u64;
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(hint),
            ));
        }
        let secret = self.secret.clone();
        self.call(
            RPCTypes::AppendEntries,
            &option,
            |mut client, ttl| async move {
                client
                    .append_entries(request(JsonRequest { json }, ttl, &secret))
                    .await
            },
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig<S>>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let chunk = SnapshotChunk {
            vote: encode(&rpc.vote),
            meta: encode(&rpc.meta),
            offset: rpc.offset,
            data: rpc.data,
            done: rpc.done,
        };
        let secret = self.secret.clone();
        self.call(
            RPCTypes::InstallSnapshot,
            &option,
            |mut client, ttl| async move {
                client
                    .install_snapshot(request(chunk, ttl, &secret))
                    .await
            },
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let json = encode(&rpc);
        let secret = self.secret.clone();
        self.call(RPCTypes::Vote, &option, |mut client, ttl| async move {
            client
                .vote(request(JsonRequest { json }, ttl, &secret))
                .await
        })
        .await
    }
}
