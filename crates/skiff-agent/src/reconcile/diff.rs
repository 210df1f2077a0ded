//! The reconcile diff: what to do to bring the node's containers to the desired set. Pure:
//! the runner lists the containers, calls [`diff`], and carries the actions out.
//!
//! A container belongs to a task when its `skiff.task` label names it; containers without
//! the label are not the agent's and are left alone. For each task:
//!
//! | wanted   | its container            | action                                      |
//! |----------|--------------------------|---------------------------------------------|
//! | running  | none                     | create and start (unless already over)      |
//! | running  | created                  | start                                       |
//! | running  | running                  | adopt (keep it, watch it: never restarted)  |
//! | running  | exited / dead            | exited (the restart policy decides)         |
//! | shutdown | running                  | stop                                        |
//! | remove   | any                      | remove (stopping it first)                  |
//! | not in a complete set | any         | remove                                      |
//!
//! A task the control plane already holds as complete, failed or shutdown is not started
//! again when it has no running container (a restarted agent must not re-run a finished
//! task). When several containers carry one task's label, the newest is the task's and the
//! others are removed. Removals and stops come first, so that what they free (ports, names)
//! is free for the creates.

use std::collections::BTreeMap;

use skiff_proto::agent::TaskState;

use super::engine::{ContainerState, ContainerView};
use crate::desired::{DesiredSet, Want};
use crate::translate::LABEL_TASK;

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Stop and remove a container: its task is not wanted here (any more).
    Remove {
        /// The task its label names.
        task: String,
        /// The container.
        container: String,
    },
    /// Stop a running container; keep it.
    Stop {
        /// The task.
        task: String,
        /// The container.
        container: String,
    },
    /// The task's container has ended: apply its restart policy.
    Exited {
        /// The task.
        task: String,
        /// The container.
        container: String,
        /// Its exit code (`None` when its shim died).
        exit_code: Option<i32>,
    },
    /// Start the task's created container.
    Start {
        /// The task.
        task: String,
        /// The container.
        container: String,
    },
    /// Keep the task's running container and watch it.
    Adopt {
        /// The task.
        task: String,
        /// The container.
        container: String,
    },
    /// Create the task's container and start it.
    Create {
        /// The task.
        task: String,
    },
}

impl Action {
    /// The task the action is for.
    pub fn task(&self) -> &str {
        match self {
            Action::Remove { task, .. }
            | Action::Stop { task, .. }
            | Action::Exited { task, .. }
            | Action::Start { task, .. }
            | Action::Adopt { task, .. }
            | Action::Create { task } => task,
        }
    }
}

/// The actions that bring `observed` to `desired`, removals and stops first.
pub fn diff(desired: &DesiredSet, observed: &[ContainerView]) -> Vec<Action> {
    let mut by_task: BTreeMap<&str, Vec<&ContainerView>> = BTreeMap::new();
    for c in observed {
        if let Some(task) = c.labels.get(LABEL_TASK) {
            by_task.entry(task.as_str()).or_default().push(c);
        }
    }
    let mut actions = Vec::new();
    for (task, containers) in &by_task {
        let remove = |c: &&ContainerView| Action::Remove {
            task: (*task).to_owned(),
            container: c.id.clone(),
        };
        let Some(wanted) = desired.tasks.get(*task) else {
            if desired.complete {
                actions.extend(containers.iter().map(remove));
            }
            continue;
        };
        let (keep, extra) = pick(containers);
        actions.extend(extra.iter().map(remove));
        let (task, container) = ((*task).to_owned(), keep.id.clone());
        actions.extend(match (wanted.want, keep.state) {
            (Want::Remove, _) => Some(Action::Remove { task, container }),
            (Want::Shutdown, ContainerState::Running) => Some(Action::Stop { task, container }),
            (Want::Shutdown, _) => None,
            (Want::Running, ContainerState::Running) => Some(Action::Adopt { task, container }),
            (Want::Running, _) if is_over(wanted.observed) => None,
            (Want::Running, ContainerState::Created) => Some(Action::Start { task, container }),
            (Want::Running, ContainerState::Exited | ContainerState::Dead) => {
                Some(Action::Exited {
                    task,
                    container,
                    exit_code: keep.exit_code,
                })
            }
        });
    }
    for (id, task) in &desired.tasks {
        if task.want == Want::Running
            && !by_task.contains_key(id.as_str())
            && !is_over(task.observed)
        {
            actions.push(Action::Create { task: id.clone() });
        }
    }
    actions.sort();
    actions
}

/// A task the control plane holds as over is not run again.
fn is_over(observed: TaskState) -> bool {
    matches!(
        observed,
        TaskState::Complete | TaskState::Failed | TaskState::Shutdown | TaskState::Orphaned
    )
}

/// The task's container (a running one, else the newest started, else the first) and the
/// others.
fn pick<'a>(containers: &[&'a ContainerView]) -> (&'a ContainerView, Vec<&'a ContainerView>) {
    let best = containers
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| {
            (
                c.state == ContainerState::Running,
                c.started_at.clone(),
                std::cmp::Reverse(*i),
            )
        })
        .map(|(i, _)| i)
        .expect("a task with containers");
    let extra = containers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, c)| *c)
        .collect();
    (containers[best], extra)
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
