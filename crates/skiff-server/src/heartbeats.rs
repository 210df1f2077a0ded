//! When each node's agent was last heard from. Kept in the servers' memory, never written
//! through Raft: the agent sessions record into it, the leader's node monitor reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Node id → the last time its agent was heard from on this server. Cloning is cheap; clones
/// share the table.
#[derive(Debug, Clone, Default)]
pub struct Heartbeats {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Heartbeats {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `node`'s agent was heard from at `at`.
    pub fn record(&self, node: &str, at: Instant) {
        let mut seen = self.seen.lock().expect("heartbeats lock");
        match seen.get_mut(node) {
            Some(last) => *last = (*last).max(at),
            None => {
                seen.insert(node.to_owned(), at);
            }
        }
    }

    /// When `node`'s agent was last heard from, if ever since this server started.
    pub fn last(&self, node: &str) -> Option<Instant> {
        self.seen
            .lock()
            .expect("heartbeats lock")
            .get(node)
            .copied()
    }

    /// Every node heard from, with when.
    pub fn snapshot(&self) -> HashMap<String, Instant> {
        self.seen.lock().expect("heartbeats lock").clone()
    }
}
