//! The orchestrator loop: services → tasks (`skiff_core::orchestrate::reconcile`), and each
//! service its virtual IP (`skiff_core::orchestrate::assign_vips`).

use std::time::Duration;

use skiff_core::orchestrate::{assign_vips, reconcile, OrchestratorInput, VipRange};
use skiff_core::{Command, Expect, Kind, Name, Object, Op, State};

use super::propose::{propose, with_retries, Outcome, MAX_OPS};
use super::wake::{compute, Wake};
use crate::control::{Consistency, ControlPlane, Unavailable};

/// A round at least this often, for what no state change announces (restart delays passing).
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Runs rounds until aborted, giving services virtual IPs from `range`.
pub(super) async fn run(control: ControlPlane, range: VipRange) {
    let mut wake = Wake::new(&control, TICK);
    loop {
        wake.mark();
        with_retries(|| round(&control, range)).await;
        wake.wait().await;
    }
}

/// One round: read, reconcile, propose.
async fn round(control: &ControlPlane, range: VipRange) -> Result<Outcome, Unavailable> {
    let commands = control
        .read(Consistency::Stale, |state| {
            compute(|| {
                let input = OrchestratorInput::from_state(state, crate::api::now());
                let mut commands = vip_commands(state, range);
                commands.extend(reconcile(&input, &mut task_id).into_commands(MAX_OPS));
                commands
            })
        })
        .await?;
    if commands.is_empty() {
        return Ok(Outcome::Applied);
    }
    propose(control, "orchestrator", commands).await
}

/// The writes that give services their virtual IPs (or take them back), in transactions of
/// at most [`MAX_OPS`] services, each expected at the revision read. A full range is reported
/// on standard error each round until services go or the range grows.
pub(crate) fn vip_commands(state: &State, range: VipRange) -> Vec<Command> {
    let records = state.list(&Kind::Service.prefix());
    let services: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.object {
            Object::Service(s) => Some((s.as_ref(), r.mod_revision)),
            _ => None,
        })
        .collect();
    let plan = assign_vips(&services, range);
    if let Some(first) = plan.exhausted.first() {
        eprintln!(
            "skiff server: the service CIDR is full: {first} and {} more service(s) have no \
             virtual IP; remove services or restart the servers with a larger --service-cidr",
            plan.exhausted.len() - 1
        );
    }
    plan.changes
        .chunks(MAX_OPS)
        .map(|chunk| Command::Txn {
            ops: chunk
                .iter()
                .map(|c| {
                    let object = Object::Service(Box::new(c.service.clone()));
                    Op::put(object, Expect::Revision(c.revision))
                })
                .collect(),
        })
        .collect()
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
