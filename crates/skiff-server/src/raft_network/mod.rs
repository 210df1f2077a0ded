//! Raft traffic between servers over gRPC (`skiff-proto`'s `raft.proto`).
//!
//! * [`GrpcNetwork`] is openraft's network factory: one lazily connected tonic channel per
//!   target server, each call bounded by openraft's `RPCOption` time limit, and failures mapped
//!   to the errors openraft acts on (`Unreachable` — back off — for a server that cannot be
//!   reached, `Timeout`, `Network` for anything else, `RemoteError` for what the target's Raft
//!   answered).
//! * [`RaftGrpc`] is the receiving side: a tonic service that hands each RPC to the local
//!   `openraft::Raft`; [`serve`] runs it on a listener until told to stop.
//!
//! A member's address is openraft's `BasicNode::addr`, `host:port` of its gRPC listener.
//! openraft's messages travel as serde JSON (see `skiff_proto::raft`), snapshot data as raw
//! bytes.

mod client;
mod codec;
mod secret;
mod service;

pub use client::{GrpcNetwork, GrpcPeer, RaftNetworkError};
pub use secret::{ClusterSecret, SECRET_HEADER};
pub use service::{serve, RaftGrpc};
