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
    operations: Mutex<Vec<Operation>>,
}

/// A call in progress; hand it back to [`Recorder::ret`] or [`Recorder::unknown`] exactly once.
#[derive(Debug)]
#[must_use = "a call must be completed with Recorder::ret or Recorder::unknown"]
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
        operations.push(Operation {
            client,
            key,
            op,
            call,
            outcome: Outcome::Unknown,
        });
        CallId(operations.len() - 1)
    }

    /// Records the answer to call `id`; call it after the answer arrived.
    pub fn ret(&self, id: CallId, result: OpResult) {
        let at = self.now();
        self.lock()[id.0].outcome = Outcome::Returned { at, result };
    }

    /// Records that call `id` got no answer (it may or may not have taken effect).
    pub fn unknown(&self, id: CallId) {
        self.lock()[id.0].outcome = Outcome::Unknown;
    }

    /// The operations recorded so far; calls not yet completed count as unknown.
    pub fn history(&self) -> History {
        History {
            operations: self.lock().clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Operation>> {
        // A client that panicked while holding the lock left the log consistent (each update
        // is one assignment), so the log is still worth checking.
        self.operations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
