//! Checking the operations of one key: turning them into model steps, searching, and explaining
//! a failed search.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use super::history::{History, Op, OpResult};
use super::model::{Guard, State, Step, ValueId};
use super::prune;
use super::wgl::{self, KeyOp, Search};

/// What the check of one key concluded.
#[derive(Debug)]
pub(crate) enum KeyVerdict {
    /// Linearizable.
    Ok,
    /// Not linearizable, with an explanation.
    Violation(String),
    /// The step budget ran out.
    Inconclusive,
}

/// The operations of one key, ready for the search.
struct Prepared {
    /// Indices into the history.
    indices: Vec<usize>,
    ops: Vec<KeyOp>,
    /// Value names, by [`ValueId`].
    names: Vec<String>,
}

impl Prepared {
    /// Keeps the operations whose flag in `keep` is set.
    fn retain(&mut self, keep: &[bool]) {
        let kept = std::mem::take(&mut self.indices)
            .into_iter()
            .zip(std::mem::take(&mut self.ops))
            .zip(keep)
            .filter_map(|(pair, keep)| keep.then_some(pair));
        (self.indices, self.ops) = kept.unzip();
    }
}

/// Checks the operations of `history` at `indices` (all on one key).
///
/// `reported` holds the revisions acknowledged writes reported, across keys (see [`prune`]).
pub(crate) fn check(
    history: &History,
    indices: &[usize],
    reported: &HashSet<u64>,
    budget: u64,
) -> KeyVerdict {
    let mut prepared = prepare(history, indices);
    if let Some(explanation) = read_never_written(history, &prepared) {
        return KeyVerdict::Violation(explanation);
    }
    let needed = prune::needed(&prepared.ops, reported);
    prepared.retain(&needed);
    match wgl::search(&prepared.ops, budget) {
        Search::Linearizable => KeyVerdict::Ok,
        Search::Inconclusive => KeyVerdict::Inconclusive,
        Search::NotLinearizable { prefix, state } => {
            KeyVerdict::Violation(explain(history, &prepared, &prefix, state))
        }
    }
}

/// Interns values and turns each operation into a model step; unknown gets are dropped.
fn prepare<'h>(history: &'h History, indices: &[usize]) -> Prepared {
    let mut ids: HashMap<&'h str, ValueId> = HashMap::new();
    let mut names = Vec::new();
    let mut intern = |value: &'h str| -> ValueId {
        *ids.entry(value).or_insert_with(|| {
            names.push(value.to_owned());
            ValueId::try_from(names.len() - 1).expect("fewer than 2^32 values per key")
        })
    };
    let mut prepared_indices = Vec::new();
    let mut ops = Vec::new();
    for &index in indices {
        let operation = &history.operations[index];
        let result = operation.returned().map(|(_, result)| result);
        let step = match (&operation.op, result) {
            (Op::Get, None) => continue,
            (Op::Get, Some(OpResult::Absent)) => Step::Read { found: None },
            (
                Op::Get,
                Some(OpResult::Found {
                    value,
                    mod_revision,
                }),
            ) => Step::Read {
                found: Some((intern(value), *mod_revision)),
            },
            (
                Op::Cas {
                    expected_revision, ..
                },
                Some(OpResult::Conflict { found }),
            ) => Step::Refused {
                expected: *expected_revision,
                found: *found,
            },
            (op, result) => write_step(op, result, &mut intern),
        };
        prepared_indices.push(index);
        ops.push(KeyOp {
            step,
            call: operation.call,
            ret: operation.returned().map(|(at, _)| at),
        });
    }
    Prepared {
        indices: prepared_indices,
        ops,
        names,
    }
}

/// The step of a write that takes effect (the history was validated, so `result` is an `Ok`
/// or nothing).
fn write_step<'h>(
    op: &'h Op,
    result: Option<&OpResult>,
    intern: &mut impl FnMut(&'h str) -> ValueId,
) -> Step {
    let revision = match result {
        Some(OpResult::Ok { revision }) => Some(*revision),
        _ => None,
    };
    let (guard, value) = match op {
        Op::Put { value } => (Guard::Always, Some(intern(value))),
        Op::Cas {
            expected_revision,
            value,
        } => {
            let guard = expected_revision.map_or(Guard::Absent, Guard::Revision);
            (guard, Some(intern(value)))
        }
        Op::Delete | Op::Get => (Guard::Always, None),
    };
    Step::Write {
        guard,
        value,
        revision,
    }
}

/// A get that returned a value no write on the key ever stored.
fn read_never_written(history: &History, prepared: &Prepared) -> Option<String> {
    let written: Vec<bool> = {
        let mut written = vec![false; prepared.names.len()];
        for op in &prepared.ops {
            if let Step::Write { value: Some(v), .. } = op.step {
                written[v as usize] = true;
            }
        }
        written
    };
    prepared
        .ops
        .iter()
        .zip(&prepared.indices)
        .find_map(|(op, &index)| match op.step {
            Step::Read {
                found: Some((value, _)),
            } if !written[value as usize] => Some(format!(
                "a read returned {:?}, which no write on the key stored:\n  {}",
                prepared.names[value as usize],
                history.describe(index)
            )),
            _ => None,
        })
}

/// How many linearized operations an explanation lists.
const SHOWN: usize = 8;

/// Explains why no linearization extends the longest partial one the search found.
fn explain(history: &History, prepared: &Prepared, prefix: &[usize], state: State) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "no linearization exists; the longest partial one found orders {} of {} operations",
        prefix.len(),
        prepared.ops.len()
    );
    if prefix.len() > SHOWN {
        let _ = writeln!(text, "  ... ({} earlier)", prefix.len() - SHOWN);
    }
    for &op in &prefix[prefix.len().saturating_sub(SHOWN)..] {
        let _ = writeln!(text, "  {}", history.describe(prepared.indices[op]));
    }
    let _ = writeln!(
        text,
        "after which the key is {}",
        state.describe(&prepared.names)
    );
    let mut done = vec![false; prepared.ops.len()];
    prefix.iter().for_each(|&op| done[op] = true);
    // The pending answered op that returned first must go next or sooner; any op called by
    // then could go first, and none fits.
    let deadline = (0..prepared.ops.len())
        .filter(|&op| !done[op])
        .filter_map(|op| prepared.ops[op].ret.map(|ret| (ret, op)))
        .min();
    let Some((deadline, first)) = deadline else {
        return text;
    };
    let _ = writeln!(
        text,
        "but {} must take effect by {deadline}ns, and no operation called by then fits:",
        history.describe(prepared.indices[first])
    );
    for (op, key_op) in prepared.ops.iter().enumerate() {
        if done[op] || key_op.call > deadline {
            continue;
        }
        let why = match state.step(&key_op.step) {
            Err(mismatch) => mismatch.to_string(),
            Ok(_) => "it fits here, but every order after it fails".to_owned(),
        };
        let _ = writeln!(text, "  {}: {why}", history.describe(prepared.indices[op]));
    }
    text
}
