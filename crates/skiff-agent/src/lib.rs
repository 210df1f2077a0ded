//! Skiff's node agent: holds the session with the control plane, reconciles the node's engine
//! towards the tasks assigned to it, restarts what fails, runs healthchecks, and reports.
//!
//! The pieces talk through two plain types, so that each is tested on its own:
//!
//! * the session turns the server's assignment messages into a [`DesiredSet`] and publishes it
//!   on a `tokio::sync::watch` channel (level-triggered: the reconciler only ever looks at the
//!   latest set);
//! * the reconciler reports every change of a task's observed status to a [`StatusBoard`],
//!   which keeps the latest status of each task (so that a new session can send them all again)
//!   and wakes the session to send what changed.
#![warn(missing_docs)]

pub mod desired;
pub mod directory;
pub mod dns;
pub mod health;
pub mod ingress;
pub mod node_service;
pub mod overlay;
pub mod reconcile;
pub mod restart;
pub mod services;
pub mod session;
pub mod simulate;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod translate;

pub use desired::{DesiredSet, DesiredTask, TaskSlot, Want};
pub use directory::Directory;
pub use status::{StatusBoard, TaskStatus};
