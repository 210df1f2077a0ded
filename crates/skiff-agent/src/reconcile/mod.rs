//! The reconciler: keeps the node's containers at the desired set (see `docs/agent.md`).
//!
//! * [`diff`](diff::diff) — pure: desired tasks and observed containers → [`Action`]s;
//! * [`run`] — the loop that carries them out, restarts, runs healthchecks and reports;
//! * [`engine`] — the [`NodeEngine`] trait it reaches the engine through, and the real one.

pub mod diff;
pub mod engine;
#[cfg(test)]
mod fake;
pub mod run;
mod track;

pub use diff::{diff, Action};
pub use engine::{ContainerState, ContainerView, LocalEngine, NodeEngine, NodeError};
pub use run::{Reconciler, ReconcilerOptions, DEFAULT_DRAIN};
