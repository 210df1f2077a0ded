//! Skiff's decisions, as pure functions over plain data.
//!
//! This crate holds the cluster's state model ([`objects`]) and the deterministic state machine
//! that the Raft store applies committed commands to ([`state`]), the planners of the API's writes
//! ([`plan`]), the scheduler ([`schedule`]), and the orchestrator and node monitor
//! ([`orchestrate`]). It does no I/O, reads no clock
//! and draws no random numbers: revisions, times and ids are passed in, so every replica that
//! applies the same log reaches the same state.
#![warn(missing_docs)]

pub mod api;
pub mod objects;
#[cfg(feature = "openapi")]
mod openapi;
pub mod orchestrate;
pub mod plan;
pub mod schedule;
pub mod state;
#[cfg(test)]
mod test_support;

pub use objects::{Key, KeyError, Kind, Name, NameError, Object};
pub use state::{
    Command, Compacted, Event, EventKind, Expect, Op, Proposal, Record, Response, State,
};
