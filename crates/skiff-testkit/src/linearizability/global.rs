//! The checks that span keys: revisions are Raft log indices, so a write that returned before
//! another was called has the smaller one, and two acknowledged writes of one key never share
//! one. Writes of different keys may: a log entry can carry several commands on distinct keys,
//! and they share its index (as the ops of a transaction do).

use std::collections::{HashMap, HashSet};

use super::history::{History, Op, OpResult};

/// An acknowledged write.
#[derive(Debug, Clone, Copy)]
struct Ack<'a> {
    index: usize,
    key: &'a str,
    call: u64,
    ret: u64,
    revision: u64,
}

/// The first cross-key violation in `history`, explained, if any.
pub(crate) fn check(history: &History) -> Option<String> {
    let acks = acknowledged_writes(history);
    duplicate_revision(history, &acks).or_else(|| out_of_order(history, &acks))
}

/// The revisions that acknowledged writes of `key` reported.
pub(crate) fn reported_revisions(history: &History, key: &str) -> HashSet<u64> {
    acknowledged_writes(history)
        .iter()
        .filter(|ack| ack.key == key)
        .map(|ack| ack.revision)
        .collect()
}

fn acknowledged_writes(history: &History) -> Vec<Ack<'_>> {
    let mut acks = Vec::new();
    for (index, operation) in history.operations.iter().enumerate() {
        if matches!(operation.op, Op::Get) {
            continue;
        }
        if let Some((ret, OpResult::Ok { revision })) = operation.returned() {
            acks.push(Ack {
                index,
                key: &operation.key,
                call: operation.call,
                ret,
                revision: *revision,
            });
        }
    }
    acks
}

/// Two acknowledged writes of one key with the same revision.
fn duplicate_revision(history: &History, acks: &[Ack<'_>]) -> Option<String> {
    let mut by_revision: HashMap<(&str, u64), usize> = HashMap::new();
    for ack in acks {
        if let Some(first) = by_revision.insert((ack.key, ack.revision), ack.index) {
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
fn out_of_order(history: &History, acks: &[Ack<'_>]) -> Option<String> {
    let mut by_ret: Vec<&Ack<'_>> = acks.iter().collect();
    by_ret.sort_unstable_by_key(|ack| (ack.ret, ack.index));
    let mut by_call: Vec<&Ack<'_>> = acks.iter().collect();
    by_call.sort_unstable_by_key(|ack| (ack.call, ack.index));
    // The write with the highest revision among those returned so far.
    let mut highest: Option<&Ack<'_>> = None;
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
