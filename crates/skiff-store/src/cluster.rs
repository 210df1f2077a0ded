//! The cluster's state machine: `skiff-core`'s [`State`] behind Raft. Applying an entry is
//! `State::apply` with the entry's log index as the revision; snapshots are the state's own
//! versioned format.

use skiff_core::state::{Command, Response, State};

use crate::StateMachine;

impl StateMachine for State {
    type Command = Command;
    type Response = Response;

    fn apply(&mut self, index: u64, command: &Command) -> Response {
        State::apply(self, index, command)
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
