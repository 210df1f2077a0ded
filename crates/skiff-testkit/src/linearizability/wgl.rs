//! The Wing & Gong search, with Lowe's memoisation as Porcupine does it, over the operations
//! of one key.
//!
//! The answered operations form a doubly linked list of call and return entries in time order.
//! The search tries the calls that precede the first remaining return: it linearizes one whose
//! step fits (lifting its entries out of the list) and starts again from the front; when none
//! is left it backtracks. A configuration (operations linearized, state) explored before is
//! not explored again. The search succeeds once every answered operation is linearized.
//!
//! An unanswered operation has no return: it may be linearized whenever it fits once called, or
//! never (that is, after everything else). Those operations sit in a second list by call time,
//! tried after the answered candidates: the candidates are the same as Porcupine's, so is the
//! verdict, but a write with no answer always fits, and trying it first would make the search
//! guess "it took effect now" at every step before finding that it mostly did not.

use std::collections::HashSet;

use super::model::{State, Step};

/// One operation of the key, as the search sees it.
#[derive(Debug, Clone)]
pub(crate) struct KeyOp {
    /// The operation with its result.
    pub step: Step,
    /// Its call time.
    pub call: u64,
    /// Its return time, `None` if it got no answer.
    pub ret: Option<u64>,
}

/// What the search concluded.
#[derive(Debug)]
pub(crate) enum Search {
    /// A linearization exists.
    Linearizable,
    /// None exists; the longest partial linearization the search built is attached.
    NotLinearizable {
        /// Indices (into the key's operations) in linearization order.
        prefix: Vec<usize>,
        /// The state after the prefix.
        state: State,
    },
    /// The step budget ran out.
    Inconclusive,
}

const NIL: usize = usize::MAX;
/// The head of the list of answered operations' calls and returns.
const ANSWERED: usize = 0;
/// The head of the list of unanswered operations' calls.
const UNANSWERED: usize = 1;

#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
}

/// The two entry lists, in one arena: heads at 0 and 1, the call of op `i` at `2 + i`, then
/// the returns.
struct List {
    entries: Vec<Entry>,
    /// The return entry of each op, `NIL` if it has none.
    ret_of: Vec<usize>,
}

impl List {
    fn new(ops: &[KeyOp]) -> List {
        let blank = |op, is_call| Entry {
            op,
            is_call,
            prev: NIL,
            next: NIL,
        };
        let mut entries = vec![blank(NIL, false); 2];
        entries.extend((0..ops.len()).map(|op| blank(op, true)));
        let mut ret_of = vec![NIL; ops.len()];
        // `false` sorts first: at equal times calls come before returns, so operations that
        // touch at an instant count as concurrent.
        let mut answered: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        let mut unanswered: Vec<(u64, bool, usize)> = Vec::new();
        for (op, key_op) in ops.iter().enumerate() {
            if let Some(ret) = key_op.ret {
                answered.push((key_op.call, false, op));
                answered.push((ret, true, op));
                ret_of[op] = entries.len();
                entries.push(blank(op, false));
            } else {
                unanswered.push((key_op.call, false, op));
            }
        }
        let mut list = List { entries, ret_of };
        list.chain(ANSWERED, answered);
        list.chain(UNANSWERED, unanswered);
        list
    }

    /// Links the entries of `order` (sorted here) after `head`.
    fn chain(&mut self, head: usize, mut order: Vec<(u64, bool, usize)>) {
        order.sort_unstable();
        let mut prev = head;
        for (_, is_return, op) in order {
            let index = if is_return { self.ret_of[op] } else { 2 + op };
            self.entries[prev].next = index;
            self.entries[index].prev = prev;
            prev = index;
        }
    }

    fn unlink(&mut self, index: usize) {
        let Entry { prev, next, .. } = self.entries[index];
        self.entries[prev].next = next;
        if next != NIL {
            self.entries[next].prev = prev;
        }
    }

    fn relink(&mut self, index: usize) {
        let Entry { prev, next, .. } = self.entries[index];
        self.entries[prev].next = index;
        if next != NIL {
            self.entries[next].prev = index;
        }
    }

    /// Removes op `op`'s entries.
    fn lift(&mut self, op: usize) {
        self.unlink(2 + op);
        if self.ret_of[op] != NIL {
            self.unlink(self.ret_of[op]);
        }
    }

    /// Undoes [`List::lift`] (entries go back in the reverse order they left).
    fn unlift(&mut self, op: usize) {
        if self.ret_of[op] != NIL {
            self.relink(self.ret_of[op]);
        }
        self.relink(2 + op);
    }
}

/// Where the scan for the next candidate is.
#[derive(Debug, Clone, Copy)]
enum Scan {
    /// At `entry` of the answered list.
    Answered { entry: usize },
    /// At `entry` of the unanswered list, which holds candidates if called by `deadline` (the
    /// first remaining return).
    Unanswered { entry: usize, deadline: u64 },
}

/// A linearized operation, with what to restore when the search takes it back.
struct Frame {
    op: usize,
    before: State,
    /// The scan that found it.
    scan: Scan,
}

/// A set of op indices.
#[derive(Clone, PartialEq, Eq, Hash)]
struct BitSet(Box<[u64]>);

impl BitSet {
    fn new(len: usize) -> BitSet {
        BitSet(vec![0; len.div_ceil(64)].into_boxed_slice())
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The search in progress.
struct Searcher<'a> {
    ops: &'a [KeyOp],
    list: List,
    /// Answered operations not linearized yet.
    answered_left: usize,
    linearized: BitSet,
    /// The configurations explored, as Porcupine keeps them.
    seen: HashSet<(BitSet, State)>,
    stack: Vec<Frame>,
    state: State,
    /// The longest partial linearization so far, and the state after it.
    best: (Vec<usize>, State),
}

/// What the scan found next.
enum Next {
    /// A candidate, and where the scan goes on after it.
    Candidate(usize, Scan),
    /// Where the scan goes on (it moved to the unanswered list, or backtracked).
    Rescan(Scan),
    /// Nothing: the search backtracked out of the first step.
    Exhausted,
}

impl<'a> Searcher<'a> {
    fn new(ops: &'a [KeyOp]) -> Searcher<'a> {
        Searcher {
            ops,
            list: List::new(ops),
            answered_left: ops.iter().filter(|op| op.ret.is_some()).count(),
            linearized: BitSet::new(ops.len()),
            seen: HashSet::new(),
            stack: Vec::new(),
            state: State::INITIAL,
            best: (Vec::new(), State::INITIAL),
        }
    }

    /// The scan from the front of the answered list.
    fn restart(&self) -> Scan {
        Scan::Answered {
            entry: self.list.entries[ANSWERED].next,
        }
    }

    /// The candidate at `scan`, if any.
    fn next(&mut self, scan: Scan) -> Next {
        let entries = &self.list.entries;
        match scan {
            Scan::Answered { entry } if entries[entry].is_call => {
                let next = entries[entry].next;
                Next::Candidate(entries[entry].op, Scan::Answered { entry: next })
            }
            Scan::Answered { entry } => Next::Rescan(Scan::Unanswered {
                entry: entries[UNANSWERED].next,
                deadline: self.ops[entries[entry].op].ret.unwrap_or(u64::MAX),
            }),
            Scan::Unanswered { entry, deadline }
                if entry != NIL && self.ops[entries[entry].op].call <= deadline =>
            {
                let next = entries[entry].next;
                Next::Candidate(
                    entries[entry].op,
                    Scan::Unanswered {
                        entry: next,
                        deadline,
                    },
                )
            }
            // No candidate is left: the first remaining return came too soon.
            Scan::Unanswered { .. } => match self.pop() {
                Some(scan) => Next::Rescan(scan),
                None => Next::Exhausted,
            },
        }
    }

    /// Linearizes `op` if it fits and leads somewhere new; `scan` is where to go on after it
    /// when the search takes it back.
    fn push(&mut self, op: usize, scan: Scan) -> bool {
        let Ok(after) = self.state.step(&self.ops[op].step) else {
            return false;
        };
        self.linearized.set(op);
        if !self.seen.insert((self.linearized.clone(), after)) {
            self.linearized.clear(op);
            return false;
        }
        self.stack.push(Frame {
            op,
            before: self.state,
            scan,
        });
        self.state = after;
        self.answered_left -= usize::from(self.ops[op].ret.is_some());
        self.list.lift(op);
        if self.stack.len() > self.best.0.len() {
            self.best = (self.stack.iter().map(|frame| frame.op).collect(), after);
        }
        true
    }

    /// Takes back the last linearized operation; the scan to go on with, if there was one.
    fn pop(&mut self) -> Option<Scan> {
        let frame = self.stack.pop()?;
        self.linearized.clear(frame.op);
        self.state = frame.before;
        self.answered_left += usize::from(self.ops[frame.op].ret.is_some());
        self.list.unlift(frame.op);
        Some(frame.scan)
    }
}

/// Searches for a linearization of `ops`, trying at most `budget` candidates.
pub(crate) fn search(ops: &[KeyOp], budget: u64) -> Search {
    let mut searcher = Searcher::new(ops);
    let mut scan = searcher.restart();
    let mut steps = 0u64;
    while searcher.answered_left > 0 {
        match searcher.next(scan) {
            Next::Candidate(op, next) => {
                steps += 1;
                if steps > budget {
                    return Search::Inconclusive;
                }
                scan = if searcher.push(op, next) {
                    searcher.restart()
                } else {
                    next
                };
            }
            Next::Rescan(next) => scan = next,
            Next::Exhausted => {
                let (prefix, state) = searcher.best;
                return Search::NotLinearizable { prefix, state };
            }
        }
    }
    Search::Linearizable
}
