//! The orchestrator loop: services → tasks (`skiff_core::orchestrate::reconcile`).

use std::time::Duration;

use skiff_core::orchestrate::{reconcile, OrchestratorInput};
use skiff_core::Name;

use super::propose::{propose, with_retries, Outcome, MAX_OPS};
use super::wake::{compute, Wake};
use crate::control::{Consistency, ControlPlane, Unavailable};

/// A round at least this often, for what no state change announces (restart delays passing).
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Runs rounds until aborted.
pub(super) async fn run(control: ControlPlane) {
    let mut wake = Wake::new(&control, TICK);
    loop {
        wake.mark();
        with_retries(|| round(&control)).await;
        wake.wait().await;
    }
}

/// One round: read, reconcile, propose.
async fn round(control: &ControlPlane) -> Result<Outcome, Unavailable> {
    let commands = control
        .read(Consistency::Stale, |state| {
            compute(|| {
                let input = OrchestratorInput::from_state(state, crate::api::now());
                reconcile(&input, &mut task_id).into_commands(MAX_OPS)
            })
        })
        .await?;
    if commands.is_empty() {
        return Ok(Outcome::Applied);
    }
    propose(control, "orchestrator", commands).await
}

/// A new task id: 20 random hex digits (80 bits).
fn task_id() -> Name {
    let mut bytes = [0u8; 10];
    // Without randomness, fall back to the clock: ids must stay unique, and an id that
    // collides is refused by the transaction's `Absent` expectation, not overwritten.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..10]);
    }
    Name::new(hex::encode(bytes)).expect("hex digits make a name")
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_ids_are_names_and_differ() {
        let (a, b) = (super::task_id(), super::task_id());
        assert_eq!(a.as_str().len(), 20);
        assert_ne!(a, b);
    }
}
