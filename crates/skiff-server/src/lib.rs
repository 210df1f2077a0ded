//! Skiff's control-plane server.
//!
//! Today it holds only the Raft network ([`raft_network`]): openraft's RPCs between the
//! servers of a control plane over tonic gRPC. The HTTP API, agent sessions and the
//! leader-only controllers are to come (docs/architecture.md, "Crates").
#![warn(missing_docs)]

pub mod raft_network;
