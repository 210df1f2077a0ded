//! Skiff's gRPC protocols: the `.proto` files under `proto/` and the tonic clients and servers
//! generated from them (by protox in `build.rs`, so no `protoc` is needed).
//!
//! Only generated code and a few constants live here; conversions to and from openraft's types
//! belong to the server, so that users of this crate (the agent) do not depend on openraft.
#![warn(missing_docs)]

/// Raft traffic between servers (`proto/raft.proto`): openraft's AppendEntries, Vote and
/// InstallSnapshot.
///
/// openraft's requests and responses are carried as the bytes of their serde JSON encoding
/// (`JsonRequest`, `JsonReply`), except snapshot data, which travels as raw bytes in
/// `SnapshotChunk`. A typed protobuf mirror of openraft's messages is left for later: it would
/// be smaller and faster, but a second definition of types openraft owns.
pub mod raft {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("skiff.raft.v1");
}

/// The session between a node's agent and the control plane, and the node service the servers
/// call for logs and exec (`proto/agent.proto`). A task's service spec travels as the JSON of
/// `skiff_api::app::ServiceSpec`; everything the servers read is typed.
pub mod agent {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("skiff.agent.v1");
}

/// The largest message a Skiff gRPC endpoint sends or accepts: a batch of log entries or a
/// snapshot chunk (openraft's `snapshot_max_chunk_size`, 3 MiB by default) with room to spare.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
