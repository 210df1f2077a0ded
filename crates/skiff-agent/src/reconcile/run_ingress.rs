//! The reconciler's part in node-local ingress: after each pass, the node's service ports
//! (see [`crate::ingress::plan`]) are handed to the engine when they changed.

use skiff_engine::container::NetworkMode;
use skiff_proto::agent::Health;

use super::{ContainerView, DesiredSet, Phase, Reconciler};
use crate::ingress;

impl Reconciler {
    /// Hands the node's service ports to the engine when they differ from the last ones
    /// handed over (after a failure too: the same list is not tried again until it changes).
    /// A node without a bridge publishes none; before the first full set has arrived the
    /// list is left as it is (a restarted agent must not take out the last agent's ports).
    pub(super) async fn publish(&mut self, set: &DesiredSet, observed: &[ContainerView]) {
        if self.opts.translate.network != NetworkMode::Bridge || !set.complete {
            return;
        }
        let plan = ingress::plan(set, observed, |task| {
            self.tasks.get(&task.id).is_some_and(|t| {
                t.phase == Phase::Running
                    && t.health
                        .as_ref()
                        .is_none_or(|h| h.status() == Health::Healthy)
            })
        });
        if self.service_ports.as_ref() == Some(&plan.ports) {
            return;
        }
        for conflict in &plan.conflicts {
            eprintln!("skiff agent: {conflict}");
        }
        self.service_ports = Some(plan.ports.clone());
        let engine = self.engine.clone();
        let result =
            tokio::task::spawn_blocking(move || engine.set_service_ports(&plan.ports)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("skiff agent: {e}"),
            Err(e) => eprintln!("skiff agent: setting the service ports: {e}"),
        }
    }
}
