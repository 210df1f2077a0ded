//! A linearizability checker for histories of Skiff's key-value API.
//!
//! Clients record what they asked and what they got with a [`Recorder`]; [`History::check`]
//! (or a [`Checker`] with its own step budget) decides whether some order of the operations,
//! each taking effect at one instant between its call and its return, explains every answer.
//!
//! The model is a store of versioned registers. Every write gets a global revision (its Raft
//! log index), so the check has two parts:
//! - across keys: acknowledged writes never share a revision, and a write that returned before
//!   another was called has the smaller revision;
//! - per key (operations on different keys are otherwise independent): the Wing & Gong search
//!   with Lowe's memoisation, as Porcupine does it, against a register whose writes' revisions
//!   grow, whose reads see the last write's value and revision, and whose cas succeeds exactly
//!   when its expected revision (or absence) matches.
//!
//! An operation without an answer may have taken effect at any time after its call, or never;
//! the search explores both. A write's unreported revision stays symbolic until a later read or
//! cas reveals it. Unanswered writes whose effect nobody observed are left out of the search
//! (see `prune.rs` for why that changes no verdict), and the others are tried only after the
//! answered candidates. The cross-key part only looks at acknowledged writes. Keys start
//! absent.
//!
//! The search is exponential at worst. Histories like the cluster tests' (eight clients, a few
//! dozen keys, a few timeouts) take milliseconds; one hot key with hundreds of timeouts whose
//! revisions conflicts revealed can exhaust the budget, and the verdict is then
//! [`Verdict::Inconclusive`] rather than a hang.

mod global;
mod history;
mod model;
mod per_key;
mod prune;
mod recorder;
mod wgl;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

pub use history::{ClientId, History, HistoryError, Op, OpResult, Operation, Outcome};
pub use recorder::{CallId, Recorder};

use per_key::KeyVerdict;

/// What the checker concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The history is linearizable.
    Ok,
    /// It is not.
    Violation {
        /// The key whose operations cannot be linearized, or `None` for a cross-key violation
        /// (two writes whose revisions contradict each other).
        key: Option<String>,
        /// What went wrong, naming the operations with their times.
        explanation: String,
    },
    /// No violation was found, but the search of these keys ran out of steps.
    Inconclusive {
        /// The keys left undecided.
        keys: Vec<String>,
    },
}

impl Verdict {
    /// Whether the history was found linearizable.
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    /// Whether a violation was found.
    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::Violation { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => f.write_str("linearizable"),
            Verdict::Violation {
                key: Some(key),
                explanation,
            } => write!(f, "not linearizable, on key {key:?}: {explanation}"),
            Verdict::Violation {
                key: None,
                explanation,
            } => write!(f, "not linearizable: {explanation}"),
            Verdict::Inconclusive { keys } => {
                write!(
                    f,
                    "inconclusive: the search ran out of steps on keys {keys:?}"
                )
            }
        }
    }
}

/// Checks histories, bounding the search of each key.
#[derive(Debug, Clone)]
pub struct Checker {
    /// How many search steps one key may take before it is declared inconclusive.
    pub steps_per_key: u64,
}

impl Default for Checker {
    /// Five million steps per key: about two seconds in a debug build at worst, a tenth of that
    /// in a release build. Histories like those of the tests (eight clients, a few operations
    /// with no answer, a hundred operations a key) take far fewer.
    fn default() -> Self {
        Checker {
            steps_per_key: 5_000_000,
        }
    }
}

impl Checker {
    /// Checks `history`: the cross-key revision rules first, then every key in name order. The
    /// first violation found is the verdict.
    pub fn check(&self, history: &History) -> Result<Verdict, HistoryError> {
        history.validate()?;
        if let Some(explanation) = global::check(history) {
            return Ok(Verdict::Violation {
                key: None,
                explanation,
            });
        }
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, operation) in history.operations.iter().enumerate() {
            by_key.entry(&operation.key).or_default().push(index);
        }
        let mut undecided = Vec::new();
        for (key, indices) in by_key {
            let reported = global::reported_revisions(history, key);
            match per_key::check(history, &indices, &reported, self.steps_per_key) {
                KeyVerdict::Ok => {}
                KeyVerdict::Inconclusive => undecided.push(key.to_owned()),
                KeyVerdict::Violation(explanation) => {
                    return Ok(Verdict::Violation {
                        key: Some(key.to_owned()),
                        explanation,
                    })
                }
            }
        }
        if undecided.is_empty() {
            Ok(Verdict::Ok)
        } else {
            Ok(Verdict::Inconclusive { keys: undecided })
        }
    }
}

impl History {
    /// Checks the history with the default [`Checker`].
    pub fn check(&self) -> Result<Verdict, HistoryError> {
        Checker::default().check(self)
    }
}
