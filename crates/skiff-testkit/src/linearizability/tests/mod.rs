//! Tests of the checker: hand-made histories, and histories of a simulated correct store.

mod handmade;
mod prune;
mod random;
mod sim;

use super::*;

/// A history under construction, one operation at a time.
#[derive(Default)]
struct Build(History);

impl Build {
    /// Adds an operation that returned `result` at `ret`.
    fn ret(
        mut self,
        client: ClientId,
        key: &str,
        op: Op,
        at: (u64, u64),
        result: OpResult,
    ) -> Self {
        self.0.operations.push(Operation {
            client,
            key: key.to_owned(),
            op,
            call: at.0,
            outcome: Outcome::Returned { at: at.1, result },
        });
        self
    }

    /// Adds an operation that got no answer.
    fn unknown(mut self, client: ClientId, key: &str, op: Op, call: u64) -> Self {
        self.0.operations.push(Operation {
            client,
            key: key.to_owned(),
            op,
            call,
            outcome: Outcome::Unknown,
        });
        self
    }

    fn verdict(&self) -> Verdict {
        self.0.check().expect("the history is well formed")
    }
}

fn put(value: &str) -> Op {
    Op::Put {
        value: value.to_owned(),
    }
}

fn cas(expected_revision: Option<u64>, value: &str) -> Op {
    Op::Cas {
        expected_revision,
        value: value.to_owned(),
    }
}

fn ok(revision: u64) -> OpResult {
    OpResult::Ok { revision }
}

fn found(value: &str, mod_revision: u64) -> OpResult {
    OpResult::Found {
        value: value.to_owned(),
        mod_revision,
    }
}

fn conflict(found: Option<u64>) -> OpResult {
    OpResult::Conflict { found }
}

/// Asserts a violation on `key` whose explanation mentions every one of `words`.
#[track_caller]
fn assert_violation(verdict: Verdict, key: Option<&str>, words: &[&str]) {
    let Verdict::Violation {
        key: got,
        explanation,
    } = &verdict
    else {
        panic!("expected a violation, got {verdict}");
    };
    assert_eq!(got.as_deref(), key, "{explanation}");
    for word in words {
        assert!(
            explanation.contains(word),
            "{word:?} missing from:\n{explanation}"
        );
    }
}
