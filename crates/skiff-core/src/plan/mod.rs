//! Plans for the API's writes: the one transaction that carries out an operator's request,
//! decided from the state the server read, with an expectation on every key it read so that a
//! concurrent change makes the transaction conflict instead of being overwritten.
//!
//! Planning is pure: the server reads its state, calls a planner, proposes the command through
//! Raft, and on a `Conflict` re-reads and plans again. The state machine re-checks its own rules
//! (an environment must exist, …) when it applies the command.

mod apply_app;
mod delete_app;
mod diff;
mod error;
mod node;
mod restore;
mod rollback;
mod scale;

pub use apply_app::{apply_app, AppPlan};
pub use delete_app::delete_app;
pub use diff::{AppDiff, ChangeKind, FieldChange, ObjectDiff};
pub use error::{PlanError, QuotaExcess};
pub use node::{update_node, NodeUpdate, MAX_LABELS, MAX_LABEL_KEY, MAX_LABEL_VALUE};
pub use restore::{restore, RESTORE_BATCH, RESTORE_BATCH_BYTES};
pub use rollback::rollback;
pub use scale::{scale_service, MAX_REPLICAS};

#[cfg(test)]
mod tests;
