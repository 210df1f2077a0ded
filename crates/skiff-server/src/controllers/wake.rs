//! When a loop runs its next round: after the state changed (with a short pause, so that a
//! burst of changes makes one round), or after a tick at the latest.

use std::time::Duration;

use openraft::{BasicNode, RaftMetrics};
use skiff_store::NodeId;
use tokio::sync::watch;

use crate::control::ControlPlane;

/// How long a loop waits after a change for more to come before it reads.
pub(super) const DEBOUNCE: Duration = Duration::from_millis(15);

/// Wakes a loop on changes to the applied state, or every `tick`.
pub(super) struct Wake {
    metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
    seen: u64,
    tick: Duration,
}

fn applied(metrics: &RaftMetrics<NodeId, BasicNode>) -> u64 {
    metrics.last_applied.map_or(0, |l| l.index)
}

impl Wake {
    /// A waker for `control`'s state, ticking every `tick`.
    pub(super) fn new(control: &ControlPlane, tick: Duration) -> Self {
        let metrics = control.raft().metrics();
        let seen = applied(&metrics.borrow());
        Self {
            metrics,
            seen,
            tick,
        }
    }

    /// Marks the state as read up to what is applied now: a change after this wakes the next
    /// [`Wake::wait`]. Call it just before reading.
    pub(super) fn mark(&mut self) {
        self.seen = applied(&self.metrics.borrow_and_update());
    }

    /// Waits until the applied state moved past the last mark (then [`DEBOUNCE`] more), or
    /// for the tick, whichever comes first.
    pub(super) async fn wait(&mut self) {
        let seen = self.seen;
        let changed = tokio::select! {
            changed = self.metrics.wait_for(|m| applied(m) > seen) => Some(changed.is_ok()),
            () = tokio::time::sleep(self.tick) => None,
        };
        match changed {
            Some(true) => tokio::time::sleep(DEBOUNCE).await,
            // Raft stopped: nothing will change any more; the loop ends with leadership.
            Some(false) => tokio::time::sleep(self.tick).await,
            None => {}
        }
    }
}
