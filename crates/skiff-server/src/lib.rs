//! Skiff's control-plane server.
//!
//! * [`Server`] — one member: Raft on sled ([`skiff_store`]), and one port serving both the
//!   HTTP API ([`api`]), the Raft gRPC service ([`raft_network`]) and the agents' gRPC
//!   service ([`agents`]).
//! * [`ControlPlane`] — the handle the API holds: propose a command, read linearizably or
//!   locally, know the leader.
//! * [`Controllers`] — the leader-only loops: orchestrator, scheduler, node monitor.
//!
//! docs/control-plane.md describes the behaviour, docs/api.md the API.
#![warn(missing_docs)]

pub mod agents;
pub mod api;
pub mod config;
pub mod control;
pub mod controllers;
pub mod heartbeats;
mod proposer;
pub mod raft_network;
pub mod sealing;
mod server;

pub use agents::PodCidr;
pub use config::{RaftTuning, ServerConfig, Start, DEFAULT_BODY_LIMIT};
pub use control::{Consistency, ControlPlane, Unavailable};
pub use controllers::{
    ControllerConfig, Controllers, ControllersHandle, ServiceCidr, DEFAULT_NODE_GRACE_PERIOD,
};
pub use heartbeats::Heartbeats;
pub use server::{Server, ServerError, ADMIN_TOKEN_FILE, ADMIN_TOKEN_ID, CLUSTER_SECRET_FILE};
