//! Dropping writes with no answer whose effect nothing could have observed.
//!
//! Every write with no answer is a candidate at each step of the search from its call on, and
//! each one that takes effect makes new states, so a run with many timeouts can exhaust the
//! budget. Most such writes matter to no one: if no operation that stays in the search observes
//! the state one leaves (its value, its unreported revision, or for a delete the key's
//! absence), then any linearization in which it takes effect stays valid without it.
//!
//! Why: between such a write `U` and the next write `W` that stays, only writes dropped with it
//! take effect and nothing that stays observes the key. Without them `W` finds the state from
//! before `U`, which it does not observe either (a cas's expectation is an observation); only
//! the lower bound on `W`'s revision drops, which admits more. After `W` the states agree, but
//! for a lower bound on a revision. The revision `U` was never told cannot be one that an
//! acknowledged write of the same key reported, since one key's acknowledged revisions are
//! unique (checked before any key is searched), so observing such a revision never observes
//! `U`. (Writes of other keys may share `U`'s revision — one log entry carries several — so
//! only the key's own acknowledged revisions count as reported.)

use std::collections::{HashMap, HashSet};

use super::model::{Guard, Step, ValueId};
use super::wgl::KeyOp;

/// What an operation saw, or required, of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The key absent.
    Absent,
    /// The key at `rev`, which no acknowledged write reported.
    Unreported { rev: u64 },
}

/// What `op` observes of the key, if anything an unanswered write could have caused.
fn observation(op: &KeyOp, reported: &HashSet<u64>) -> Option<Seen> {
    let unreported = |rev: &u64| !reported.contains(rev);
    match op.step {
        Step::Read { found: None }
        | Step::Refused { found: None, .. }
        | Step::Write {
            guard: Guard::Absent,
            ..
        } => Some(Seen::Absent),
        Step::Read {
            found: Some((_, rev)),
        }
        | Step::Refused {
            found: Some(rev), ..
        }
        | Step::Write {
            guard: Guard::Revision(rev),
            ..
        } if unreported(&rev) => Some(Seen::Unreported { rev }),
        _ => None,
    }
}

/// The values reads saw at each unreported revision. Only a write of one of them can have
/// written at that revision: a read of another value there could then not be explained.
fn read_values(ops: &[KeyOp], reported: &HashSet<u64>) -> HashMap<u64, Vec<ValueId>> {
    let mut values: HashMap<u64, Vec<ValueId>> = HashMap::new();
    for op in ops {
        if let Step::Read {
            found: Some((value, rev)),
        } = op.step
        {
            if !reported.contains(&rev) {
                values.entry(rev).or_default().push(value);
            }
        }
    }
    values
}

/// Whether `seen`, by an operation that returned at `deadline`, may observe the write `op`.
fn may_observe(
    seen: Seen,
    deadline: u64,
    op: &KeyOp,
    read_values: &HashMap<u64, Vec<ValueId>>,
) -> bool {
    let Step::Write { value, .. } = op.step else {
        return false;
    };
    deadline >= op.call
        && match (seen, value) {
            (Seen::Absent, None) => true,
            (Seen::Unreported { rev }, Some(written)) => read_values
                .get(&rev)
                .is_none_or(|values| values.contains(&written)),
            _ => false,
        }
}

fn unanswered_write(op: &KeyOp) -> bool {
    matches!(op.step, Step::Write { revision: None, .. })
}

/// For each of `ops`, whether the search needs it; `reported` holds every revision that an
/// acknowledged write, on any key, reported.
pub(crate) fn needed(ops: &[KeyOp], reported: &HashSet<u64>) -> Vec<bool> {
    let read_values = read_values(ops, reported);
    let mut needed: Vec<bool> = ops.iter().map(|op| !unanswered_write(op)).collect();
    // Observations by needed operations, not yet matched against the unneeded writes.
    let mut pending: Vec<(Seen, u64)> = ops
        .iter()
        .filter(|op| !unanswered_write(op))
        .filter_map(|op| Some((observation(op, reported)?, op.ret.unwrap_or(u64::MAX))))
        .collect();
    while let Some((seen, deadline)) = pending.pop() {
        for (i, op) in ops.iter().enumerate() {
            if !needed[i] && may_observe(seen, deadline, op, &read_values) {
                needed[i] = true;
                // A needed cas with no answer observes in turn (its deadline is unbounded).
                if let Some(seen) = observation(op, reported) {
                    pending.push((seen, u64::MAX));
                }
            }
        }
    }
    needed
}
