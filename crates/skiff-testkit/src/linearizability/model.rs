//! The sequential specification of one key: a versioned register whose writes carry global
//! revisions that only grow.
//!
//! A write whose outcome is unknown took effect at a revision nobody was told. The model keeps
//! that revision symbolic ([`Rev::Unresolved`]) until a later read or cas reveals it, so both
//! "it took effect" and "it never did" can be explored without guessing numbers.

use std::fmt;

/// A value, interned per key (values are compared, never inspected).
pub(crate) type ValueId = u32;

/// The mod revision of the value a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Rev {
    /// Reported to some client.
    Known(u64),
    /// Written by a write whose answer was lost: some revision of at least `at_least`.
    Unresolved {
        /// The smallest revision the write can have had.
        at_least: u64,
    },
}

/// What a key holds, plus what the next write's revision must exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct State {
    /// The value and its mod revision, or `None` if the key is absent.
    pub current: Option<(ValueId, Rev)>,
    /// The smallest revision the next write on this key can have.
    pub next_min: u64,
}

/// What a write requires of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// Nothing (a put or a delete).
    Always,
    /// The key must be absent.
    Absent,
    /// The key's mod revision must be this.
    Revision(u64),
}

/// An operation together with its result, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A write that takes effect: store `value` (`None`: delete) if `guard` holds, at
    /// `revision` (`None`: an unknown write, revision unreported).
    Write {
        /// The write's precondition.
        guard: Guard,
        /// What it stores, `None` for a delete.
        value: Option<ValueId>,
        /// The revision it reported, if it returned.
        revision: Option<u64>,
    },
    /// A cas expecting `expected` was refused because the key's mod revision was `found`.
    Refused {
        /// The cas's expected revision (`None`: absent).
        expected: Option<u64>,
        /// What it found (`None`: absent).
        found: Option<u64>,
    },
    /// A get that returned `found` (value and mod revision), or `None` for absent.
    Read {
        /// What it returned.
        found: Option<(ValueId, u64)>,
    },
}

/// Why a step does not fit a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// A write reported `revision`, but an earlier write on the key had a revision ≥ it.
    RevisionNotAfter {
        /// The reported revision.
        revision: u64,
        /// The smallest revision allowed here.
        min: u64,
    },
    /// The operation needs the key present, but it is absent.
    KeyAbsent,
    /// The operation needs the key absent, but it is present.
    KeyPresent,
    /// The operation saw (or required) this mod revision, which the key does not have.
    RevisionDiffers(u64),
    /// A get returned a value other than the one the key holds.
    ValueDiffers,
    /// A cas was refused although the key held what it expected.
    ShouldHaveSucceeded,
}

impl State {
    /// A key nobody wrote.
    pub const INITIAL: State = State {
        current: None,
        next_min: 0,
    };

    /// The state after `step`, or why `step` cannot happen now.
    pub fn step(self, step: &Step) -> Result<State, Mismatch> {
        match *step {
            Step::Write {
                guard,
                value,
                revision,
            } => {
                let state = match guard {
                    Guard::Always => self,
                    Guard::Absent => self.expect(None)?,
                    Guard::Revision(rev) => self.expect(Some(rev))?,
                };
                state.write(value, revision)
            }
            Step::Refused { expected, found } => {
                let state = self.expect(found)?;
                if expected == found {
                    return Err(Mismatch::ShouldHaveSucceeded);
                }
                Ok(state)
            }
            Step::Read { found: None } => self.expect(None),
            Step::Read {
                found: Some((value, rev)),
            } => {
                let state = self.expect(Some(rev))?;
                match state.current {
                    Some((held, _)) if held == value => Ok(state),
                    _ => Err(Mismatch::ValueDiffers),
                }
            }
        }
    }

    /// Checks that the key's mod revision is `rev` (`None`: absent), resolving an unknown
    /// write's revision if the observation is the first to reveal it.
    fn expect(self, rev: Option<u64>) -> Result<State, Mismatch> {
        match (self.current, rev) {
            (None, None) => Ok(self),
            (None, Some(_)) => Err(Mismatch::KeyAbsent),
            (Some(_), None) => Err(Mismatch::KeyPresent),
            (Some((_, Rev::Known(held))), Some(rev)) if held == rev => Ok(self),
            (Some((value, Rev::Unresolved { at_least })), Some(rev)) if rev >= at_least => {
                Ok(State {
                    current: Some((value, Rev::Known(rev))),
                    next_min: self.next_min.max(rev + 1),
                })
            }
            (Some(_), Some(rev)) => Err(Mismatch::RevisionDiffers(rev)),
        }
    }

    /// Stores `value` (`None`: deletes) at `revision` (`None`: unreported).
    fn write(self, value: Option<ValueId>, revision: Option<u64>) -> Result<State, Mismatch> {
        let rev = match revision {
            Some(revision) if revision < self.next_min => {
                return Err(Mismatch::RevisionNotAfter {
                    revision,
                    min: self.next_min,
                })
            }
            Some(revision) => Rev::Known(revision),
            None => Rev::Unresolved {
                at_least: self.next_min,
            },
        };
        let next_min = match rev {
            Rev::Known(revision) => revision + 1,
            Rev::Unresolved { at_least } => at_least + 1,
        };
        Ok(State {
            current: value.map(|value| (value, rev)),
            next_min,
        })
    }

    /// The state as text, naming values with `names`.
    pub fn describe(&self, names: &[String]) -> String {
        let next = match self.next_min {
            0 => String::new(),
            min => format!(" (a write now needs rev >= {min})"),
        };
        match self.current {
            None => format!("absent{next}"),
            Some((value, Rev::Known(rev))) => {
                format!("{:?} at rev {rev}{next}", names[value as usize])
            }
            Some((value, Rev::Unresolved { at_least })) => format!(
                "{:?} at an unreported rev >= {at_least}{next}",
                names[value as usize]
            ),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::RevisionNotAfter { revision, min } => write!(
                f,
                "its rev {revision} is not after the key's previous write (needs >= {min})"
            ),
            Mismatch::KeyAbsent => f.write_str("it needs the key present, but it is absent"),
            Mismatch::KeyPresent => f.write_str("it needs the key absent, but it is present"),
            Mismatch::RevisionDiffers(rev) => write!(f, "the key is not at rev {rev}"),
            Mismatch::ValueDiffers => f.write_str("the key holds a different value"),
            Mismatch::ShouldHaveSucceeded => {
                f.write_str("it was refused, yet the key held what it expected")
            }
        }
    }
}
