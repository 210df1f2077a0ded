//! A toy key-value [`StateMachine`] for tests and examples of this crate and its users.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StateMachine;

/// A map of strings; each write records the log index it was applied at.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStateMachine {
    /// key → (value, index of the entry that wrote it)
    pub data: BTreeMap<String, (String, u64)>,
}

/// A write to [`KvStateMachine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
}

impl KvStateMachine {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(|(v, _)| v.as_str())
    }
}

impl StateMachine for KvStateMachine {
    type Command = KvCommand;
    /// The previous value.
    type Response = Option<String>;

    fn apply(&mut self, index: u64, command: &KvCommand) -> Option<String> {
        match command {
            KvCommand::Set { key, value } => self
                .data
                .insert(key.clone(), (value.clone(), index))
                .map(|(v, _)| v),
            KvCommand::Delete { key } => self.data.remove(key).map(|(v, _)| v),
        }
    }
}
