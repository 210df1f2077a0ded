//! Proposing a round's transactions, and what came of them.

use skiff_core::{Command, Response};

use crate::control::{ControlPlane, Unavailable};

/// How many operations one transaction of a loop carries at most, so that a large round (a
/// big app applied at once) is written as several Raft entries of reasonable size.
pub(super) const MAX_OPS: usize = 1_000;

/// How many times a round is computed again at once after a conflict, before the loop waits
/// for its next wake-up.
pub(super) const RETRIES: usize = 5;

/// What proposing a round's transactions gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Every transaction was applied.
    Applied,
    /// At least one conflicted with a change made since the round read the state: compute
    /// the round again.
    Conflict,
}

/// Proposes `commands` in order. A transaction the state refuses as invalid is a bug in the
/// planner; it is reported on standard error and the loop carries on (the next round plans
/// from the state again).
pub(super) async fn propose(
    control: &ControlPlane,
    loop_name: &str,
    commands: Vec<Command>,
) -> Result<Outcome, Unavailable> {
    let mut outcome = Outcome::Applied;
    for command in commands {
        match control.propose(command).await? {
            Response::Ok { .. } => {}
            Response::Conflict { .. } => outcome = Outcome::Conflict,
            Response::Invalid { reason } => {
                eprintln!("skiff server: the {loop_name} proposed a refused transaction: {reason}");
            }
        }
    }
    Ok(outcome)
}

/// Runs `round` (read, decide, propose) until it applies without conflict, at most
/// [`RETRIES`] + 1 times.
pub(super) async fn with_retries<F, Fut>(mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, Unavailable>>,
{
    for _ in 0..=RETRIES {
        match round().await {
            Ok(Outcome::Conflict) => continue,
            // Applied, or this server cannot write now (it is losing leadership, or has lost
            // its quorum): the next wake-up tries again.
            Ok(Outcome::Applied) | Err(_) => return,
        }
    }
}
