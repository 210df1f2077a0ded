//! What a history is made of: operations on one key, their results, and when they happened.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who issued an operation; each client issues one operation at a time.
pub type ClientId = u32;

/// A request to Skiff's key-value API, on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Read the key.
    Get,
    /// Write `value`, whatever the key holds.
    Put {
        /// The value written.
        value: String,
    },
    /// Write `value` only if the key's mod revision is `expected_revision` (`None`: only if the
    /// key is absent).
    Cas {
        /// The mod revision the key must have, or `None` if it must be absent.
        expected_revision: Option<u64>,
        /// The value written.
        value: String,
    },
    /// Remove the key (a delete of an absent key succeeds too, and still gets a revision).
    Delete,
}

/// What Skiff answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OpResult {
    /// A write took effect at `revision` (the index of its Raft log entry).
    Ok {
        /// The write's global revision.
        revision: u64,
    },
    /// A [`Op::Cas`] was refused: the key's mod revision was `found` (`None`: absent).
    Conflict {
        /// The key's mod revision when the cas was refused, `None` if it was absent.
        found: Option<u64>,
    },
    /// A [`Op::Get`] found `value`, last written at `mod_revision`.
    Found {
        /// The value read.
        value: String,
        /// The revision of the write that stored it.
        mod_revision: u64,
    },
    /// A [`Op::Get`] found nothing.
    Absent,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// The client got `result` at time `at`.
    Returned {
        /// When the answer arrived, in nanoseconds (same clock as [`Operation::call`]).
        at: u64,
        /// The answer.
        result: OpResult,
    },
    /// No answer (a timeout, a dropped connection): the operation may have taken effect at any
    /// time after its call, or never.
    Unknown,
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Who issued it.
    pub client: ClientId,
    /// The key it is about.
    pub key: String,
    /// What was asked.
    pub op: Op,
    /// When the request was about to be sent, in nanoseconds on the history's clock.
    pub call: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl Operation {
    /// The return time and result, if the operation returned.
    pub fn returned(&self) -> Option<(u64, &OpResult)> {
        match &self.outcome {
            Outcome::Returned { at, result } => Some((*at, result)),
            Outcome::Unknown => None,
        }
    }
}

/// The operations of a test run, in any order (their index is how explanations name them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Every recorded operation.
    pub operations: Vec<Operation>,
}

/// A history that cannot be checked because it does not describe possible events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// An operation returned before it was called.
    #[error("operation #{index} returned at {ret}ns, before its call at {call}ns")]
    ReturnBeforeCall {
        /// The operation's index in the history.
        index: usize,
        /// Its call time.
        call: u64,
        /// Its return time.
        ret: u64,
    },
    /// The result is not one the operation can have (a `Get` answered `Ok`, …).
    #[error("operation #{index} is a {op} but got {result}, which a {op} cannot return")]
    ResultDoesNotFit {
        /// The operation's index in the history.
        index: usize,
        /// The operation, as text.
        op: String,
        /// The result, as text.
        result: String,
    },
}

impl History {
    /// Checks that every operation's result fits its kind and comes after its call.
    pub fn validate(&self) -> Result<(), HistoryError> {
        for (index, operation) in self.operations.iter().enumerate() {
            let Some((ret, result)) = operation.returned() else {
                continue;
            };
            if ret < operation.call {
                return Err(HistoryError::ReturnBeforeCall {
                    index,
                    call: operation.call,
                    ret,
                });
            }
            let fits = matches!(
                (&operation.op, result),
                (Op::Get, OpResult::Found { .. } | OpResult::Absent)
                    | (Op::Put { .. } | Op::Delete, OpResult::Ok { .. })
                    | (
                        Op::Cas { .. },
                        OpResult::Ok { .. } | OpResult::Conflict { .. }
                    )
            );
            if !fits {
                return Err(HistoryError::ResultDoesNotFit {
                    index,
                    op: operation.op.to_string(),
                    result: result.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The operation at `index`, described for a reader: who, what, answer and times.
    pub fn describe(&self, index: usize) -> String {
        let o = &self.operations[index];
        let end = match &o.outcome {
            Outcome::Returned { at, result } => {
                format!("-> {result}, called {}ns, returned {at}ns", o.call)
            }
            Outcome::Unknown => format!("-> no answer, called {}ns", o.call),
        };
        format!("#{index} client {} {:?} {} {end}", o.client, o.key, o.op)
    }
}

/// A revision that may be absent, as text.
pub(crate) struct MaybeRev(pub Option<u64>);

impl fmt::Display for MaybeRev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(rev) => write!(f, "rev {rev}"),
            None => f.write_str("absent"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get => f.write_str("Get"),
            Op::Put { value } => write!(f, "Put({value:?})"),
            Op::Cas {
                expected_revision,
                value,
            } => write!(f, "Cas(expect {}, {value:?})", MaybeRev(*expected_revision)),
            Op::Delete => f.write_str("Delete"),
        }
    }
}

impl fmt::Display for OpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpResult::Ok { revision } => write!(f, "Ok(rev {revision})"),
            OpResult::Conflict { found } => write!(f, "Conflict(found {})", MaybeRev(*found)),
            OpResult::Found {
                value,
                mod_revision,
            } => write!(f, "Found({value:?} at rev {mod_revision})"),
            OpResult::Absent => f.write_str("Absent"),
        }
    }
}
