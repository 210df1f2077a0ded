//! What the control plane wants of this node: the tasks assigned to it.

use std::collections::BTreeMap;

use skiff_api::app::ServiceSpec;
use skiff_engine::container::ContainerFile;
use skiff_proto::agent::{self as proto, Assignments};

/// What the control plane wants of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Want {
    /// Run it.
    Running,
    /// Stop it, keep nothing running.
    Shutdown,
    /// Stop it; its container may be removed.
    Remove,
}

/// Which replica a task is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskSlot {
    /// Replica `n` (from 1) of a replicated service.
    Replica(u32),
    /// A global service's task on the node with this id.
    Node(String),
}

/// One task assigned to this node, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredTask {
    /// Its id.
    pub id: String,
    /// Its environment.
    pub env: String,
    /// Its app.
    pub app: String,
    /// Its service.
    pub service: String,
    /// Its slot.
    pub slot: TaskSlot,
    /// The revision of the service spec it runs.
    pub spec_revision: u64,
    /// What the control plane wants.
    pub want: Want,
    /// The service spec.
    pub spec: ServiceSpec,
    /// The observed state the control plane holds for it.
    pub observed: proto::TaskState,
    /// The restart count the control plane holds for it.
    pub restart_count: u32,
    /// The secrets and configs its container gets as files (payloads in memory only).
    pub files: Vec<ContainerFile>,
    /// Why the control plane could not give them (a declared secret is missing): the task
    /// must not start, and this is its message.
    pub files_error: Option<String>,
}

/// A message from the server the agent cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A task's spec is not a service spec.
    #[error("task {task}: its spec is not a service spec: {message}")]
    Spec {
        /// The task.
        task: String,
        /// serde's message.
        message: String,
    },
    /// A task's slot is neither a number nor `node:<id>`.
    #[error("task {task}: slot {slot:?} is neither a replica number nor node:<id>")]
    Slot {
        /// The task.
        task: String,
        /// The slot as sent.
        slot: String,
    },
    /// A task's desired state is unspecified.
    #[error("task {task}: no desired state")]
    Desired {
        /// The task.
        task: String,
    },
}

impl TaskSlot {
    /// Parses the wire form: `"3"` or `"node:<id>"`.
    pub fn parse(s: &str) -> Option<TaskSlot> {
        match s.strip_prefix("node:") {
            Some(node) if !node.is_empty() => Some(TaskSlot::Node(node.to_owned())),
            Some(_) => None,
            None => s.parse().ok().filter(|n| *n > 0).map(TaskSlot::Replica),
        }
    }

    /// The wire form.
    pub fn to_wire(&self) -> String {
        match self {
            TaskSlot::Replica(n) => n.to_string(),
            TaskSlot::Node(node) => format!("node:{node}"),
        }
    }
}

impl DesiredTask {
    /// Decodes one task of an assignment message.
    pub fn decode(task: &proto::AssignedTask) -> Result<DesiredTask, DecodeError> {
        let spec = serde_json::from_slice(&task.spec_json).map_err(|e| DecodeError::Spec {
            task: task.id.clone(),
            message: e.to_string(),
        })?;
        let slot = TaskSlot::parse(&task.slot).ok_or_else(|| DecodeError::Slot {
            task: task.id.clone(),
            slot: task.slot.clone(),
        })?;
        let want = match task.desired() {
            proto::DesiredState::Running => Want::Running,
            proto::DesiredState::Shutdown => Want::Shutdown,
            proto::DesiredState::Remove => Want::Remove,
            proto::DesiredState::Unspecified => {
                return Err(DecodeError::Desired {
                    task: task.id.clone(),
                })
            }
        };
        Ok(DesiredTask {
            id: task.id.clone(),
            env: task.env.clone(),
            app: task.app.clone(),
            service: task.service.clone(),
            slot,
            spec_revision: task.spec_revision,
            want,
            spec,
            observed: task.observed(),
            restart_count: task.restart_count,
            files: task.files.iter().map(file).collect(),
            files_error: Some(task.files_error.clone()).filter(|e| !e.is_empty()),
        })
    }
}

/// A file as the server sent it, as the engine takes it.
fn file(f: &proto::TaskFile) -> ContainerFile {
    ContainerFile {
        target: f.target.clone(),
        data: f.data.clone(),
        mode: f.mode,
        uid: f.uid,
        gid: f.gid,
    }
}

/// Every task assigned to this node, as of a revision of the cluster state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredSet {
    /// The revision of the last assignment message applied; 0 before the first.
    pub revision: u64,
    /// Whether a full set has been received since the agent started: until then, the
    /// reconciler must not remove containers it does not find in `tasks`.
    pub complete: bool,
    /// The tasks, by id.
    pub tasks: BTreeMap<String, DesiredTask>,
}

impl DesiredSet {
    /// Applies an assignment message: a full set replaces the tasks, a change adds, replaces
    /// and removes. Nothing changes when a task cannot be decoded.
    pub fn apply(&mut self, message: &Assignments) -> Result<(), DecodeError> {
        let decoded = message
            .tasks
            .iter()
            .map(DesiredTask::decode)
            .collect::<Result<Vec<_>, _>>()?;
        if message.full {
            self.tasks.clear();
            self.complete = true;
        }
        for id in &message.removed {
            self.tasks.remove(id);
        }
        for task in decoded {
            self.tasks.insert(task.id.clone(), task);
        }
        self.revision = message.revision;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_json() -> Vec<u8> {
        let yaml = "services:\n  web:\n    image: busybox\n";
        let loader = skiff_manifest::MemoryLoader::new().with("/app/compose.yaml", yaml);
        let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        let app = skiff_manifest::load(&options, &loader)
            .unwrap_or_else(|d| panic!("{d}"))
            .spec;
        serde_json::to_vec(&app.services["web"]).unwrap()
    }

    fn assigned(id: &str, slot: &str) -> proto::AssignedTask {
        proto::AssignedTask {
            id: id.into(),
            env: "dev".into(),
            app: "shop".into(),
            service: "web".into(),
            slot: slot.into(),
            spec_revision: 7,
            desired: proto::DesiredState::Running as i32,
            spec_json: spec_json(),
            observed: proto::TaskState::Assigned as i32,
            restart_count: 0,
            ..Default::default()
        }
    }

    #[test]
    fn slots_read_and_write_their_wire_form() {
        assert_eq!(TaskSlot::parse("3"), Some(TaskSlot::Replica(3)));
        assert_eq!(
            TaskSlot::parse("node:n1"),
            Some(TaskSlot::Node("n1".into()))
        );
        for bad in ["0", "-1", "node:", "x", ""] {
            assert_eq!(TaskSlot::parse(bad), None, "{bad:?}");
        }
        assert_eq!(TaskSlot::Replica(3).to_wire(), "3");
        assert_eq!(TaskSlot::Node("n1".into()).to_wire(), "node:n1");
    }

    #[test]
    fn a_full_set_replaces_and_a_change_edits() {
        let mut set = DesiredSet::default();
        assert!(!set.complete);
        set.apply(&Assignments {
            revision: 10,
            full: true,
            tasks: vec![assigned("a", "1"), assigned("b", "2")],
            removed: vec![],
        })
        .unwrap();
        assert!(set.complete);
        assert_eq!(set.tasks.keys().collect::<Vec<_>>(), ["a", "b"]);
        set.apply(&Assignments {
            revision: 11,
            full: false,
            tasks: vec![assigned("c", "node:n1")],
            removed: vec!["a".into()],
        })
        .unwrap();
        assert_eq!(set.revision, 11);
        assert_eq!(set.tasks.keys().collect::<Vec<_>>(), ["b", "c"]);
        set.apply(&Assignments {
            revision: 12,
            full: true,
            tasks: vec![assigned("d", "1")],
            removed: vec![],
        })
        .unwrap();
        assert_eq!(set.tasks.keys().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn an_undecodable_task_changes_nothing() {
        let mut set = DesiredSet::default();
        let mut bad = assigned("b", "2");
        bad.spec_json = b"{".to_vec();
        let err = set
            .apply(&Assignments {
                revision: 10,
                full: true,
                tasks: vec![assigned("a", "1"), bad],
                removed: vec![],
            })
            .unwrap_err();
        assert!(err.to_string().starts_with("task b: its spec"), "{err}");
        assert_eq!(set, DesiredSet::default());
    }
}
