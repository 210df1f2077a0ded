//! A thread-safe log that concurrent clients write their operations into.

use std::sync::Mutex;
use std::time::Instant;

use super::history::{ClientId, History, Op, OpResult, Operation, Outcome};

/// Records operations as clients issue them; clone-free, share it by reference or in an `Arc`.
///
/// ```
/// use skiff_testkit::linearizability::{Op, OpResult, Recorder};
///
/// let rec = Recorder::new();
/// let id = rec.call(1, "/k", Op::Put { value: "a".into() });
/// // ... send the request ...
/// rec.ret(id, OpResult::Ok { revision: 7 });
/// let id = rec.call(2, "/k", Op::Get);
/// rec.unknown(id); // timed out
/// assert!(rec.history().check().unwrap().is_ok());
/// ```
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    /// Every call in call order; `None` for a call withdrawn by [`Recorder::refused`].
    operations: Mutex<Vec<Option<Operation>>>,
}

/// A call in progress; hand it back to [`Recorder::ret`], [`Recorder::unknown`] or
/// [`Recorder::refused`] exactly once.
#[derive(Debug)]
#[must_use = "a call must be completed with Recorder::ret, Recorder::unknown or Recorder::refused"]
pub struct CallId(usize);

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder whose clock starts now.
    pub fn new() -> Self {
        Recorder {
            start: Instant::now(),
            operations: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the recorder was made.
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records that `client` is about to send `op` on `key`; call it before sending.
    pub fn call(&self, client: ClientId, key: impl Into<String>, op: Op) -> CallId {
        let key = key.into();
        let mut operations = self.lock();
        let call = self.now();
        operations.push(Some(Operation {
            client,
            key,
            op,
            call,
            outcome: Outcome::Unknown,
        }));
        CallId(operations.len() - 1)
    }

    /// Records the answer to call `id`; call it after the answer arrived.
    pub fn ret(&self, id: CallId, result: OpResult) {
        let at = self.now();
        if let Some(operation) = &mut self.lock()[id.0] {
            operation.outcome = Outcome::Returned { at, result };
        }
    }

    /// Records that call `id` got no answer (it may or may not have taken effect).
    pub fn unknown(&self, id: CallId) {
        if let Some(operation) = &mut self.lock()[id.0] {
            operation.outcome = Outcome::Unknown;
        }
    }

    /// Withdraws call `id`: it was refused in a way that proves it had no effect (Skiff's 503
    /// `no_leader`, `not_leader`, `leader_unreachable`: answered before anything was
    /// proposed). It leaves the history; a refusal that may come after the proposal (a
    /// `timeout`) is [`Recorder::unknown`] instead.
    pub fn refused(&self, id: CallId) {
        self.lock()[id.0] = None;
    }

    /// The operations recorded so far; calls not yet completed count as unknown.
    pub fn history(&self) -> History {
        History {
            operations: self.lock().iter().flatten().cloned().collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Operation>>> {
        // A client that panicked while holding the lock left the log consistent (each update
        // is one assignment), so the log is still worth checking.
        self.operations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
