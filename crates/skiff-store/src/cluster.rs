//! The cluster's state machine: `skiff-core`'s [`State`] behind Raft. An entry is a
//! [`Proposal`] (one or more commands); applying it is `State::apply_proposal` with the entry's
//! log index as the revision; snapshots are the state's own versioned format.

use skiff_core::state::{Proposal, Response, State};

use crate::StateMachine;

impl StateMachine for State {
    type Command = Proposal;
    type Response = Vec<Response>;

    fn apply(&mut self, index: u64, proposal: &Proposal) -> Vec<Response> {
        State::apply_proposal(self, index, proposal)
    }

    fn snapshot(&self) -> Vec<u8> {
        self.to_snapshot()
    }

    fn restore(bytes: &[u8]) -> Result<Self, String> {
        State::from_snapshot(bytes).map_err(|e| e.to_string())
    }
}

/// The Raft type configuration of Skiff's servers.
pub type ClusterConfig = crate::TypeConfig<State>;
