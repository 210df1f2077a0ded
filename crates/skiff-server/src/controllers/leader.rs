//! Starting the loops when this server becomes leader, stopping them when it no longer is.

use std::time::Instant;

use openraft::ServerState;
use tokio::task::JoinHandle;

use super::{node_monitor, orchestrator, scheduler, Controllers};

/// The loops of one term of leadership; dropping them stops them.
struct Term {
    loops: Vec<JoinHandle<()>>,
}

impl Term {
    fn start(controllers: &Controllers) -> Self {
        let control = controllers.control.clone();
        let since = Instant::now();
        let loops = vec![
            tokio::spawn(orchestrator::run(
                control.clone(),
                controllers.config.service_cidr.range(),
            )),
            tokio::spawn(scheduler::run(control.clone())),
            tokio::spawn(node_monitor::run(
                control,
                controllers.heartbeats.clone(),
                controllers.config.node_grace_period,
                since,
            )),
        ];
        Term { loops }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        for task in &self.loops {
            task.abort();
        }
    }
}

/// Follows this server's Raft metrics for as long as Raft runs.
pub(super) async fn follow(controllers: Controllers) {
    let id = controllers.control.id();
    let mut metrics = controllers.control.raft().metrics();
    let mut term: Option<(u64, Term)> = None;
    loop {
        let (leading, vote_term) = {
            let m = metrics.borrow_and_update();
            (
                m.state == ServerState::Leader && m.current_leader == Some(id),
                m.current_term,
            )
        };
        match (&term, leading) {
            // A new term of leadership (even one following straight on another) starts afresh:
            // the node monitor's grace period counts from the election.
            (Some((t, _)), true) if *t == vote_term => {}
            (_, true) => term = Some((vote_term, Term::start(&controllers))),
            (Some(_), false) => term = None,
            (None, false) => {}
        }
        if metrics.changed().await.is_err() {
            // Raft stopped.
            return;
        }
    }
}
