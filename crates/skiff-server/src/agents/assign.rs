//! Which tasks a node's agent is told about, and the changes to send it as the state moves.
//!
//! A node's set is every task whose `node` is the node, except those observed `orphaned`
//! (the node monitor gave them up; the orchestrator replaces them). A task whose service
//! object is gone cannot be described (its spec travels with it) and is left out, so an agent
//! that ran it stops it; it comes back if the service does. [`View`] remembers what was sent,
//! by the revisions of the task and service records each task was built from, so a change is
//! sent only for what changed.

use std::collections::{BTreeSet, HashMap};

use skiff_core::objects::{Task, TaskState};
use skiff_core::{Key, Kind, Name, Object, Record, State};
use skiff_proto::agent::{AssignedTask, Assignments};

use super::convert;
use super::dispatch::Touched;

/// The records a sent task was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Built {
    service: Key,
    task_revision: u64,
    service_revision: u64,
}

/// What one task should be, for the agent.
enum Want {
    /// Send it, built from these records.
    Send(Box<AssignedTask>, Built),
    /// Assigned to the node, but its service (this key) does not exist.
    Wait(Key),
    /// Not the node's.
    Absent,
}

/// What a session has told its agent.
#[derive(Debug, Clone)]
pub struct View {
    node: Name,
    sent: HashMap<String, Built>,
    /// Tasks of the node left out for want of their service, by the service's key.
    waiting: HashMap<String, Key>,
}

fn service_key(task: &Task) -> Key {
    Key::Service {
        env: task.env.clone(),
        app: task.app.clone(),
        service: task.service.clone(),
    }
}

fn want(state: &State, node: &Name, task: &Task, task_revision: u64) -> Want {
    if task.node.as_ref() != Some(node) || task.observed == TaskState::Orphaned {
        return Want::Absent;
    }
    let key = service_key(task);
    match state.get(&key) {
        Some(record) => match &record.object {
            Object::Service(service) => Want::Send(
                Box::new(convert::assigned(task, service)),
                Built {
                    service: key,
                    task_revision,
                    service_revision: record.mod_revision,
                },
            ),
            _ => Want::Wait(key),
        },
        None => Want::Wait(key),
    }
}

impl View {
    /// The full set of `node`'s tasks in `state`, and the view of having sent it, looking at
    /// every task of the state.
    pub fn full(state: &State, node: &Name) -> (View, Assignments) {
        let tasks = state.list(&Kind::Task.prefix());
        Self::build(state, node, tasks.into_iter())
    }

    /// Like [`View::full`], looking only at the tasks `ids` (those the router knows on the
    /// node: [`super::dispatch::Subscription::tasks`]).
    pub fn full_of(state: &State, node: &Name, ids: &[String]) -> (View, Assignments) {
        let records = ids.iter().filter_map(|id| {
            let id = Name::new(id.as_str()).ok()?;
            state.get(&Key::Task { id })
        });
        Self::build(state, node, records)
    }

    fn build<'a>(
        state: &State,
        node: &Name,
        records: impl Iterator<Item = &'a Record>,
    ) -> (View, Assignments) {
        let mut view = View {
            node: node.clone(),
            sent: HashMap::new(),
            waiting: HashMap::new(),
        };
        let mut tasks = Vec::new();
        for record in records {
            let Object::Task(task) = &record.object else {
                continue;
            };
            match want(state, node, task, record.mod_revision) {
                Want::Send(assigned, built) => {
                    view.sent.insert(task.id.to_string(), built);
                    tasks.push(*assigned);
                }
                Want::Wait(key) => {
                    view.waiting.insert(task.id.to_string(), key);
                }
                Want::Absent => {}
            }
        }
        let message = Assignments {
            revision: state.revision(),
            full: true,
            tasks,
            removed: Vec::new(),
        };
        (view, message)
    }

    /// How many tasks the agent holds.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Whether the agent holds no task.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// The change the changes `touched` (applied to reach `state`) make to the node's set, if
    /// any. `touched.full` is the caller's to handle (with [`View::full_of`]).
    pub fn update(&mut self, state: &State, touched: &Touched) -> Option<Assignments> {
        let mut ids: BTreeSet<String> = touched.tasks.clone();
        for key in &touched.services {
            let of_service = |(id, k): (&String, &Key)| (k == key).then(|| id.clone());
            ids.extend(
                self.sent
                    .iter()
                    .map(|(id, b)| (id, &b.service))
                    .chain(self.waiting.iter())
                    .filter_map(of_service),
            );
        }
        let touched = ids;
        let mut message = Assignments {
            revision: state.revision(),
            full: false,
            tasks: Vec::new(),
            removed: Vec::new(),
        };
        for id in touched {
            let key = Key::Task {
                id: Name::new(id.as_str()).expect("task ids are names"),
            };
            let wanted = match state.get(&key) {
                Some(record) => match &record.object {
                    Object::Task(task) => want(state, &self.node, task, record.mod_revision),
                    _ => Want::Absent,
                },
                None => Want::Absent,
            };
            self.apply(id, wanted, &mut message);
        }
        (!message.tasks.is_empty() || !message.removed.is_empty()).then_some(message)
    }

    fn apply(&mut self, id: String, wanted: Want, message: &mut Assignments) {
        match wanted {
            Want::Send(assigned, built) => {
                self.waiting.remove(&id);
                if self.sent.get(&id) != Some(&built) {
                    self.sent.insert(id, built);
                    message.tasks.push(*assigned);
                }
            }
            Want::Wait(service) => {
                if self.sent.remove(&id).is_some() {
                    message.removed.push(id.clone());
                }
                self.waiting.insert(id, service);
            }
            Want::Absent => {
                self.waiting.remove(&id);
                if self.sent.remove(&id).is_some() {
                    message.removed.push(id);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "assign_tests.rs"]
mod tests;
