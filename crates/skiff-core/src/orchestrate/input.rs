//! What the orchestrator decides from: the services, their apps' spec history, the
//! environments, the nodes and the tasks with their revisions, and the time.

use crate::objects::{App, Environment, Kind, Node, Object, Service, Task, Timestamp};
use crate::state::State;

/// A task as stored, with the revision of its last change: what the plan's compare-and-swap
/// expects.
#[derive(Debug, Clone, Copy)]
pub struct StoredTask<'a> {
    /// The task.
    pub task: &'a Task,
    /// Its record's `mod_revision`.
    pub revision: u64,
}

/// Everything [`super::reconcile`] reads. Borrowed, so that a round over a large state copies
/// nothing it does not change.
#[derive(Debug, Clone, Default)]
pub struct OrchestratorInput<'a> {
    /// The time the round runs at: stamped on the tasks it creates and changes, and what
    /// restart delays are measured against.
    pub now: Timestamp,
    /// Every service that exists, with its record's revision (a rollout's status is written
    /// over it). Tasks of services not listed are removed.
    pub services: Vec<(&'a Service, u64)>,
    /// The apps with their records' revisions, for their spec history: a task made from an
    /// earlier spec is kept (and re-stamped) when the spec changed only in what does not reach
    /// its container, and a rollback restores an earlier spec as a new revision.
    pub apps: Vec<(&'a App, u64)>,
    /// The environments, for their node selectors (global services).
    pub envs: Vec<&'a Environment>,
    /// Every node.
    pub nodes: Vec<&'a Node>,
    /// Every task, with its revision.
    pub tasks: Vec<StoredTask<'a>>,
}

impl<'a> OrchestratorInput<'a> {
    /// An input over everything `state` holds, at `now`.
    pub fn from_state(state: &'a State, now: Timestamp) -> Self {
        let mut input = OrchestratorInput {
            now,
            ..Default::default()
        };
        for record in state.list(&Kind::Service.prefix()) {
            if let Object::Service(s) = &record.object {
                input.services.push((s, record.mod_revision));
            }
        }
        for record in state.list(&Kind::App.prefix()) {
            if let Object::App(a) = &record.object {
                input.apps.push((a, record.mod_revision));
            }
        }
        for record in state.list(&Kind::Environment.prefix()) {
            if let Object::Environment(e) = &record.object {
                input.envs.push(e);
            }
        }
        for record in state.list(&Kind::Node.prefix()) {
            if let Object::Node(n) = &record.object {
                input.nodes.push(n);
            }
        }
        for record in state.list(&Kind::Task.prefix()) {
            if let Object::Task(task) = &record.object {
                input.tasks.push(StoredTask {
                    task,
                    revision: record.mod_revision,
                });
            }
        }
        input
    }
}
