//! The checks that span keys: revisions are Raft log indices, so acknowledged writes never share
//! one, and a write that returned before another was called has the smaller one.

use std::collections::{HashMap, HashSet};

use super::history::{History, Op, OpResult};

/// An acknowledged write.
#[derive(Debug, Clone, Copy)]
struct Ack {
    index: usize,
    call: u64,
    ret: u64,
    revision: u64,
}

/// The first cross-key violation in `history`, explained, if any.
pub(crate) fn check(history: &History) -> Option<String> {
    let acks = acknowledged_writes(history);
    duplicate_revision(history, &acks).or_else(|| out_of_order(history, &acks))
}

/// The revisions that acknowledged writes reported.
pub(crate) fn reported_revisions(history: &History) -> HashSet<u64> {
    acknowledged_writes(history)
        .iter()
        .map(|ack| ack.revision)
        .collect()
}

fn acknowledged_writes(history: &History) -> Vec<Ack> {
    let mut acks = Vec::new();
    for (index, operation) in history.operations.iter().enumerate() {
        if matches!(operation.op, Op::Get) {
            continue;
        }
        if let Some((ret, OpResult::Ok { revision })) = operation.returned() {
            acks.push(Ack {
                index,
                call: operation.call,
                ret,
                revision: *revision,
            });
        }
    }
    acks
}

/// Two acknowledged writes with the same revision.
fn duplicate_revision(history: &History, acks: &[Ack]) -> Option<String> {
    let mut by_revision: HashMap<u64, usize> = HashMap::new();
    for ack in acks {
        if let Some(first) = by_revision.insert(ack.revision, ack.index) {
            let (a, b) = (first.min(ack.index), first.max(ack.index));
            return Some(format!(
                "two acknowledged writes got the same revision {}:\n  {}\n  {}",
                ack.revision,
                history.describe(a),
                history.describe(b),
            ));
        }
    }
    None
}

/// A write called after another returned, yet with a smaller revision.
fn out_of_order(history: &History, acks: &[Ack]) -> Option<String> {
    let mut by_ret: Vec<&Ack> = acks.iter().collect();
    by_ret.sort_unstable_by_key(|ack| (ack.ret, ack.index));
    let mut by_call: Vec<&Ack> = acks.iter().collect();
    by_call.sort_unstable_by_key(|ack| (ack.call, ack.index));
    // The write with the highest revision among those returned so far.
    let mut highest: Option<&Ack> = None;
    let mut returned = by_ret.iter().peekable();
    for later in by_call {
        while let Some(earlier) = returned.next_if(|earlier| earlier.ret < later.call) {
            if highest.is_none_or(|h| earlier.revision > h.revision) {
                highest = Some(earlier);
            }
        }
        if let Some(earlier) = highest.filter(|h| h.revision >= later.revision) {
            return Some(format!(
                "a write called after another returned got a smaller revision \
                 ({} after {}):\n  {}\n  {}",
                later.revision,
                earlier.revision,
                history.describe(earlier.index),
                history.describe(later.index),
            ));
        }
    }
    None
}
