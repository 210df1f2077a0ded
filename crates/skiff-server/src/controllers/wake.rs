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
    /// When the current round began (at the last mark), to pace the next one.
    marked: std::time::Instant,
}

/// Runs `work`, which reads a large state and computes, without holding up the other tasks of
/// the runtime's worker (Raft's heartbeats among them): on a multi-threaded runtime the worker
/// hands its other tasks on first.
pub(super) fn compute<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
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
            marked: std::time::Instant::now(),
        }
    }

    /// Marks the state as read up to what is applied now: a change after this wakes the next
    /// [`Wake::wait`]. Call it just before reading.
    pub(super) fn mark(&mut self) {
        self.seen = applied(&self.metrics.borrow_and_update());
        self.marked = std::time::Instant::now();
    }

    /// Waits until the applied state moved past the last mark (then [`DEBOUNCE`] more, or as
    /// long as the last round took if that is longer: a loop busy with a large state takes at
    /// most half of a core while changes stream in), or for the tick, whichever comes first.
    pub(super) async fn wait(&mut self) {
        let pause = DEBOUNCE.max(self.marked.elapsed());
        let seen = self.seen;
        let changed = tokio::select! {
            changed = self.metrics.wait_for(|m| applied(m) > seen) => Some(changed.is_ok()),
            () = tokio::time::sleep(self.tick) => None,
        };
        match changed {
            Some(true) => tokio::time::sleep(pause).await,
            // Raft stopped: nothing will change any more; the loop ends with leadership.
            Some(false) => tokio::time::sleep(self.tick).await,
            None => {}
        }
    }
}
