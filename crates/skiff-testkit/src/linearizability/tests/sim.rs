//! A correct store, simulated: concurrent clients whose operations take effect at random
//! instants inside their call-return intervals, applied in that order to a sequential store.

use std::collections::HashMap;

use super::*;

/// A small deterministic random number generator (splitmix64).
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The shape of a simulated run.
pub(super) struct Shape {
    pub clients: u32,
    pub keys: u64,
    pub ops: usize,
    /// How often (percent) an operation gets no answer.
    pub unknown_percent: u64,
}

/// What kind of request an operation is; its arguments are picked when it takes effect.
#[derive(Clone, Copy)]
enum Kind {
    Get,
    Put,
    Cas,
    Delete,
}

/// An operation before its result is known.
struct Planned {
    client: ClientId,
    key: String,
    kind: Kind,
    call: u64,
    /// When it takes effect, `None` if never.
    at: Option<u64>,
    /// When it returns, `None` if it got no answer.
    ret: Option<u64>,
}

/// A history of a correct store.
pub(super) fn simulate(shape: &Shape, rng: &mut Rng) -> History {
    let planned = plan(shape, rng);
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].at.is_some())
        .collect();
    order.sort_by_key(|&i| (planned[i].at, i));
    let mut results: Vec<Option<(Op, OpResult)>> = vec![None; planned.len()];
    let mut store: HashMap<&str, (String, u64)> = HashMap::new();
    let mut index = 0;
    for i in order {
        let p = &planned[i];
        let current = store.get(p.key.as_str()).map(|(_, rev)| *rev);
        let value = value(rng, i);
        let op = match p.kind {
            Kind::Get => Op::Get,
            Kind::Put => Op::Put { value },
            Kind::Delete => Op::Delete,
            Kind::Cas => {
                let expected_revision = match rng.below(10) {
                    0..=5 => current,
                    6..=7 => None,
                    _ => current.map(|rev| rev.saturating_sub(1 + rng.below(3))),
                };
                Op::Cas {
                    expected_revision,
                    value,
                }
            }
        };
        let result = apply(&mut store, &mut index, &p.key, &op);
        results[i] = Some((op, result));
    }
    let mut history = History::default();
    for (i, p) in planned.into_iter().enumerate() {
        let (op, result) = results[i]
            .take()
            .unwrap_or_else(|| never_applied(p.kind, rng, i));
        let outcome = match p.ret {
            Some(at) => Outcome::Returned { at, result },
            None => Outcome::Unknown,
        };
        history.operations.push(Operation {
            client: p.client,
            key: p.key,
            op,
            call: p.call,
            outcome,
        });
    }
    history
}

/// The calls, instants of effect and returns of every client's operations, one at a time per
/// client.
fn plan(shape: &Shape, rng: &mut Rng) -> Vec<Planned> {
    let mut free: Vec<u64> = (0..shape.clients).map(|_| rng.below(50)).collect();
    let mut planned = Vec::with_capacity(shape.ops);
    while planned.len() < shape.ops {
        let (slot, &call) = free
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)
            .expect("a client");
        let kind = match rng.below(20) {
            0..=6 => Kind::Get,
            7..=11 => Kind::Put,
            12..=17 => Kind::Cas,
            _ => Kind::Delete,
        };
        let duration = 1 + rng.below(200);
        let (at, ret) = if rng.chance(shape.unknown_percent) {
            // No answer: maybe it never happened, maybe long after the client gave up.
            (rng.chance(50).then(|| call + rng.below(2_000)), None)
        } else {
            (Some(call + rng.below(duration + 1)), Some(call + duration))
        };
        free[slot] = call + duration + rng.below(20);
        planned.push(Planned {
            client: ClientId::try_from(slot).expect("few clients"),
            key: format!("/k/{}", rng.below(shape.keys)),
            kind,
            call,
            at,
            ret,
        });
    }
    planned
}

/// A fresh value mostly, and sometimes one of two shared ones.
fn value(rng: &mut Rng, i: usize) -> String {
    match rng.below(10) {
        0 => "x".to_owned(),
        1 => "y".to_owned(),
        _ => format!("v{i}"),
    }
}

/// Applies `op` to the sequential store; every write (refused or not) uses up a log index.
fn apply<'k>(
    store: &mut HashMap<&'k str, (String, u64)>,
    index: &mut u64,
    key: &'k str,
    op: &Op,
) -> OpResult {
    let current = store.get(key).map(|(_, rev)| *rev);
    if !matches!(op, Op::Get) {
        *index += 1;
    }
    match op {
        Op::Get => match store.get(key) {
            Some((value, rev)) => OpResult::Found {
                value: value.clone(),
                mod_revision: *rev,
            },
            None => OpResult::Absent,
        },
        Op::Cas {
            expected_revision, ..
        } if *expected_revision != current => OpResult::Conflict { found: current },
        Op::Put { value } | Op::Cas { value, .. } => {
            store.insert(key, (value.clone(), *index));
            OpResult::Ok { revision: *index }
        }
        Op::Delete => {
            store.remove(key);
            OpResult::Ok { revision: *index }
        }
    }
}

/// The request of an operation that never took effect (it has no answer, so no result).
fn never_applied(kind: Kind, rng: &mut Rng, i: usize) -> (Op, OpResult) {
    let op = match kind {
        Kind::Get => Op::Get,
        Kind::Put => Op::Put {
            value: value(rng, i),
        },
        Kind::Cas => Op::Cas {
            expected_revision: Some(rng.below(100)),
            value: value(rng, i),
        },
        Kind::Delete => Op::Delete,
    };
    (op, OpResult::Absent)
}
