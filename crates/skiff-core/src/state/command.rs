//! What the state machine is asked to do, and what it answers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::objects::{Key, Name, Object, Slot, TaskState};

/// One entry of the Raft log: a write, a delete or an all-or-nothing transaction.
// A delete is much smaller than a put; commands are built one per log entry and moved, not
// held in bulk, so boxing the object would cost every caller a `Box::new` for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Create or replace the object at `key`.
    Put {
        /// Where; must be the object's own key.
        key: Key,
        /// The new object.
        object: Object,
        /// What must be at `key` for the write to happen.
        #[serde(default)]
        expect: Expect,
    },
    /// Remove the object at `key` (nothing happens if there is none and `expect` allows it).
    Delete {
        /// Where.
        key: Key,
        /// What must be at `key` for the delete to happen.
        #[serde(default)]
        expect: Expect,
    },
    /// Several operations that happen together or not at all.
    Txn {
        /// The operations, applied in order.
        ops: Vec<Op>,
    },
}

/// One operation of a [`Command::Txn`].
#[allow(clippy::large_enum_variant)] // as for `Command`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// As [`Command::Put`].
    Put {
        /// Where; must be the object's own key.
        key: Key,
        /// The new object.
        object: Object,
        /// What must be at `key`.
        #[serde(default)]
        expect: Expect,
    },
    /// As [`Command::Delete`].
    Delete {
        /// Where.
        key: Key,
        /// What must be at `key`.
        #[serde(default)]
        expect: Expect,
    },
    /// A precondition only: `key` must hold what `expect` says, and nothing is written. For
    /// keys a plan read but does not change (an app's environment and its quota), so that a
    /// concurrent change to them makes the transaction conflict.
    Check {
        /// Where.
        key: Key,
        /// What must be at `key`.
        expect: Expect,
    },
}

impl Op {
    /// A put of `object` at its own key.
    pub fn put(object: Object, expect: Expect) -> Self {
        Op::Put {
            key: object.key(),
            object,
            expect,
        }
    }

    /// The key the operation touches.
    pub fn key(&self) -> &Key {
        match self {
            Op::Put { key, .. } | Op::Delete { key, .. } | Op::Check { key, .. } => key,
        }
    }

    /// The operation's expectation.
    pub fn expect(&self) -> Expect {
        match self {
            Op::Put { expect, .. } | Op::Delete { expect, .. } | Op::Check { expect, .. } => {
                *expect
            }
        }
    }
}

/// What one Raft log entry carries: commands proposed together by the leader's proposer, which
/// groups concurrent writes on distinct keys so that one entry — one disk flush on each server —
/// carries many of them. [`crate::State::apply_proposal`] applies them in order at the entry's
/// revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The commands, each answered on its own.
    pub commands: Vec<Command>,
}

impl Proposal {
    /// A proposal of one command.
    pub fn one(command: Command) -> Self {
        Self {
            commands: vec![command],
        }
    }

    /// The key texts `command` touches, to keep a proposal's commands on distinct keys.
    pub fn keys_of(command: &Command) -> Vec<String> {
        command.ops().iter().map(|op| op.key.to_string()).collect()
    }
}

impl Command {
    /// A put of `object` at its own key.
    pub fn put(object: Object, expect: Expect) -> Self {
        Command::Put {
            key: object.key(),
            object,
            expect,
        }
    }

    /// The operations of the command, as borrowed ops.
    pub(crate) fn ops(&self) -> Vec<OpRef<'_>> {
        let op = |key, action, expect: &Expect| OpRef {
            key,
            action,
            expect: *expect,
        };
        match self {
            Command::Put {
                key,
                object,
                expect,
            } => vec![op(key, Action::Put(object), expect)],
            Command::Delete { key, expect } => vec![op(key, Action::Delete, expect)],
            Command::Txn { ops } => ops
                .iter()
                .map(|o| match o {
                    Op::Put {
                        key,
                        object,
                        expect,
                    } => op(key, Action::Put(object), expect),
                    Op::Delete { key, expect } => op(key, Action::Delete, expect),
                    Op::Check { key, expect } => op(key, Action::Check, expect),
                })
                .collect(),
        }
    }
}

/// A borrowed operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpRef<'a> {
    pub key: &'a Key,
    pub action: Action<'a>,
    pub expect: Expect,
}

/// What a borrowed operation does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    Put(&'a Object),
    Delete,
    Check,
}

/// A precondition on a key, checked against the state before the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expect {
    /// Anything, or nothing.
    #[default]
    Any,
    /// Nothing: the key must not exist (create only).
    Absent,
    /// The object last changed at exactly this revision (compare-and-swap).
    Revision(u64),
}

impl Expect {
    /// Whether `found` satisfies the expectation.
    pub fn admits(self, found: Found) -> bool {
        match (self, found) {
            (Expect::Any, _) => true,
            (Expect::Absent, Found::Absent) => true,
            (Expect::Revision(want), Found::Revision(have)) => want == have,
            _ => false,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => f.write_str("anything"),
            Expect::Absent => f.write_str("no object"),
            Expect::Revision(rev) => write!(f, "revision {rev}"),
        }
    }
}

/// What a key held when its expectation was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Found {
    /// No object.
    Absent,
    /// An object last changed at this revision.
    Revision(u64),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Absent => f.write_str("no object"),
            Found::Revision(rev) => write!(f, "revision {rev}"),
        }
    }
}

/// The state machine's answer to one command. Every answer is deterministic: each replica
/// gives the same one for the same log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Everything was applied at `revision`.
    Ok {
        /// The revision of the change (the log index).
        revision: u64,
        /// One result per operation, in order.
        results: Vec<OpResult>,
    },
    /// An expectation failed; nothing was applied.
    Conflict {
        /// The first key (in operation order) whose expectation failed.
        key: Key,
        /// What the operation expected.
        expected: Expect,
        /// What the state held.
        found: Found,
    },
    /// The command breaks a rule of the state; nothing was applied.
    Invalid {
        /// Which rule, and where.
        reason: Rejection,
    },
}

impl Response {
    /// Whether the command was applied.
    pub fn is_ok(&self) -> bool {
        matches!(self, Response::Ok { .. })
    }
}

/// The result of one applied operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpResult {
    /// The key's revision before the command, if it held an object.
    pub prev_revision: Option<u64>,
}

/// Why a command was refused without being applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rejection {
    /// The log index is not after the last applied one (a replayed or reordered entry).
    #[error("revision {revision} is not after the last applied revision {applied}")]
    StaleRevision {
        /// The revision the command came with.
        revision: u64,
        /// The last applied revision.
        applied: u64,
    },
    /// The object's identity fields name another key than the one written.
    #[error("the object belongs at {object_key}, not at {key}")]
    KeyMismatch {
        /// The key written.
        key: Key,
        /// The key the object's fields give.
        object_key: Key,
    },
    /// An app's spec names another app or environment than the app.
    #[error("{key}: the spec is for app {spec_app:?} in environment {spec_env:?}")]
    AppSpecMismatch {
        /// The app's key.
        key: Key,
        /// The spec's app name.
        spec_app: String,
        /// The spec's environment.
        spec_env: String,
    },
    /// An app keeps more history than allowed.
    #[error("{key}: {len} earlier specs kept, at most {limit} allowed")]
    AppHistoryTooLong {
        /// The app's key.
        key: Key,
        /// How many it has.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An app, service, secret or config is written into an environment that does not exist.
    #[error("{key}: environment {env} does not exist; create it first")]
    NoSuchEnvironment {
        /// The key written.
        key: Key,
        /// The missing environment.
        env: Name,
    },
    /// An environment is deleted while apps, services, secrets or configs still live in it.
    #[error(
        "{key}: the environment still holds {holds}; delete its apps, secrets and configs first"
    )]
    EnvironmentNotEmpty {
        /// The environment's key.
        key: Key,
        /// The first object (in key order) still in it.
        holds: Key,
    },
    /// A task update changes which service or slot the task belongs to.
    #[error("{key}: a task keeps its service and slot; {was} cannot become {now}")]
    TaskIdentityChanged {
        /// The task's key.
        key: Key,
        /// Its service and slot before.
        was: TaskIdentity,
        /// Its service and slot in the update.
        now: TaskIdentity,
    },
    /// A task update moves its observed state backwards.
    #[error("{key}: a task's state only moves forward, it cannot go from {from:?} to {to:?}")]
    TaskStateBackward {
        /// The task's key.
        key: Key,
        /// The stored state.
        from: TaskState,
        /// The state in the update.
        to: TaskState,
    },
    /// A task update lowers its restart count.
    #[error("{key}: the restart count cannot go down from {from} to {to}")]
    RestartCountDecreased {
        /// The task's key.
        key: Key,
        /// The stored count.
        from: u32,
        /// The count in the update.
        to: u32,
    },
}

/// Which service and slot a task belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskIdentity {
    /// Its environment.
    pub env: Name,
    /// Its app.
    pub app: Name,
    /// Its service.
    pub service: Name,
    /// Its slot.
    pub slot: Slot,
}

impl fmt::Display for TaskIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = match &self.slot {
            Slot::Replica(n) => format!("replica {n}"),
            Slot::Node(node) => format!("node {node}"),
        };
        write!(f, "{}/{}/{} {slot}", self.env, self.app, self.service)
    }
}
