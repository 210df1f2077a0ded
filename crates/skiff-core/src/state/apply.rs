//! Applying a command: check every expectation, stage every operation, then commit all of them
//! or none.

use std::collections::BTreeMap;

use super::command::{Action, OpRef, OpResult, Rejection, Response};
use super::watch::{Event, EventKind};
use super::{rules, Command, Found, Proposal, Record, State};
use crate::objects::{Key, Object};

/// One staged change: the object to write (a put) or `None` (a delete).
struct Change {
    key: Key,
    text: String,
    object: Option<Object>,
}

impl State {
    /// Applies the committed log entry `command` at `revision` (its log index).
    ///
    /// Deterministic: the answer and the new state depend only on the state, `revision` and
    /// `command`. A refused command (a conflict, a broken rule) changes no object and records
    /// no event, but still counts as applied, so the same index is never applied twice. A
    /// revision not after the last applied one is answered with
    /// [`Rejection::StaleRevision`] and changes nothing.
    pub fn apply(&mut self, revision: u64, command: &Command) -> Response {
        if revision <= self.applied {
            let applied = self.applied;
            return Response::Invalid {
                reason: Rejection::StaleRevision { revision, applied },
            };
        }
        self.applied = revision;
        self.apply_at(revision, command)
    }

    /// Applies the committed log entry `proposal` at `revision` (its log index): each of its
    /// commands in order, all at that revision, each with its own answer — as if each were an
    /// entry of its own, except that they share the revision (as the ops of a transaction do).
    ///
    /// A command that touches a key an earlier command of the same proposal wrote is answered
    /// [`Response::Conflict`] (found: this revision) and changes nothing, so that one revision
    /// never names two versions of an object. The proposer keeps the commands of a proposal on
    /// distinct keys; this keeps `apply` safe and deterministic whatever it is given.
    pub fn apply_proposal(&mut self, revision: u64, proposal: &Proposal) -> Vec<Response> {
        if revision <= self.applied {
            let applied = self.applied;
            let stale = Response::Invalid {
                reason: Rejection::StaleRevision { revision, applied },
            };
            return vec![stale; proposal.commands.len()];
        }
        self.applied = revision;
        proposal
            .commands
            .iter()
            .map(|command| self.apply_at(revision, command))
            .collect()
    }

    /// Applies `command` at `revision`, which is already the state's applied revision.
    fn apply_at(&mut self, revision: u64, command: &Command) -> Response {
        let ops = command.ops();
        let mut results = Vec::with_capacity(ops.len());
        for op in &ops {
            let found = self.found(op.key);
            if !op.expect.admits(found) || found == Found::Revision(revision) {
                return Response::Conflict {
                    key: op.key.clone(),
                    expected: op.expect,
                    found,
                };
            }
            let prev_revision = match found {
                Found::Absent => None,
                Found::Revision(rev) => Some(rev),
            };
            results.push(OpResult { prev_revision });
        }
        match self.stage(&ops) {
            Ok(changes) => {
                self.commit(revision, changes);
                Response::Ok { revision, results }
            }
            Err(reason) => Response::Invalid { reason: *reason },
        }
    }

    /// What `key` holds before the command.
    fn found(&self, key: &Key) -> Found {
        match self.get(key) {
            Some(record) => Found::Revision(record.mod_revision),
            None => Found::Absent,
        }
    }

    /// Checks the rules of every operation against the state as the earlier operations of the
    /// same command leave it, without changing anything.
    fn stage(&self, ops: &[OpRef<'_>]) -> Result<Vec<Change>, Box<Rejection>> {
        let mut view = View {
            records: &self.records,
            overlay: BTreeMap::new(),
        };
        let mut changes = Vec::with_capacity(ops.len());
        for op in ops {
            let text = op.key.to_string();
            let current = view.get(&text);
            match op.action {
                Action::Put(object) => {
                    rules::check_put(op.key, object, current, &view)?;
                    view.overlay.insert(text.clone(), Some(object));
                    changes.push(Change {
                        key: op.key.clone(),
                        text,
                        object: Some(object.clone()),
                    });
                }
                Action::Delete if current.is_some() => {
                    rules::check_delete(op.key, &view)?;
                    view.overlay.insert(text.clone(), None);
                    changes.push(Change {
                        key: op.key.clone(),
                        text,
                        object: None,
                    });
                }
                // Deleting nothing changes nothing and records no event; a check writes nothing.
                Action::Delete | Action::Check => {}
            }
        }
        Ok(changes)
    }

    /// Writes staged changes at `revision` and records their events, in operation order.
    fn commit(&mut self, revision: u64, changes: Vec<Change>) {
        for Change { key, text, object } in changes {
            let event = match object {
                Some(object) => {
                    let create_revision = self
                        .records
                        .get(&text)
                        .map_or(revision, |r| r.create_revision);
                    let record = Record {
                        key: key.clone(),
                        object: object.clone(),
                        create_revision,
                        mod_revision: revision,
                    };
                    self.records.insert(text, record);
                    Event {
                        revision,
                        key,
                        kind: EventKind::Put,
                        object: Some(object),
                    }
                }
                None => {
                    // The removed object goes with the event (as Kubernetes' DELETED events
                    // carry the last state): a watcher can tell which environment a deleted
                    // task was in, and so whether it may see the event, from the event alone.
                    let removed = self.records.remove(&text).map(|r| r.object);
                    Event {
                        revision,
                        key,
                        kind: EventKind::Delete,
                        object: removed,
                    }
                }
            };
            self.history.push(event);
        }
    }
}

/// The state as the earlier operations of a command leave it: the stored records under what
/// those operations wrote.
pub(crate) struct View<'a> {
    records: &'a BTreeMap<String, Record>,
    /// What the earlier operations wrote (`None`: deleted), by key text.
    overlay: BTreeMap<String, Option<&'a Object>>,
}

impl<'a> View<'a> {
    /// The object at the key `text`.
    pub(crate) fn get(&self, text: &str) -> Option<&'a Object> {
        match self.overlay.get(text) {
            Some(staged) => *staged,
            None => self.records.get(text).map(|r| &r.object),
        }
    }

    /// Whether `key` holds an object.
    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.get(&key.to_string()).is_some()
    }

    /// The first key (in key order) under `prefix` that holds an object.
    pub(crate) fn first_under(&self, prefix: &str) -> Option<Key> {
        let under = |text: &String| text.starts_with(prefix);
        let stored = self
            .records
            .range(prefix.to_owned()..)
            .take_while(|(text, _)| under(text))
            .find(|(text, _)| !matches!(self.overlay.get(*text), Some(None)))
            .map(|(_, record)| &record.key);
        let staged = self
            .overlay
            .range(prefix.to_owned()..)
            .take_while(|(text, _)| under(text))
            .find_map(|(_, object)| object.map(Object::key));
        match (stored, staged) {
            (Some(a), Some(b)) => Some(if a.to_string() <= b.to_string() {
                a.clone()
            } else {
                b
            }),
            (a, b) => a.cloned().or(b),
        }
    }
}
