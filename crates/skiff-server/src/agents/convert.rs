//! Between skiff-core's objects and agent.proto's messages.

use skiff_core::objects::{DesiredState, Health, Service, Slot, Task, TaskState};
use skiff_proto::agent as proto;

/// A slot's wire form: `"3"` for a replica, `"node:<id>"` for a global service's task.
pub fn slot(slot: &Slot) -> String {
    match slot {
        Slot::Replica(n) => n.to_string(),
        Slot::Node(node) => format!("node:{node}"),
    }
}

/// A task state on the wire.
pub fn state_to_proto(state: TaskState) -> proto::TaskState {
    match state {
        TaskState::Pending => proto::TaskState::Pending,
        TaskState::Assigned => proto::TaskState::Assigned,
        TaskState::Preparing => proto::TaskState::Preparing,
        TaskState::Starting => proto::TaskState::Starting,
        TaskState::Running => proto::TaskState::Running,
        TaskState::Complete => proto::TaskState::Complete,
        TaskState::Failed => proto::TaskState::Failed,
        TaskState::Shutdown => proto::TaskState::Shutdown,
        TaskState::Orphaned => proto::TaskState::Orphaned,
    }
}

/// A task state from the wire; `None` for an unspecified one.
pub fn state_from_proto(state: proto::TaskState) -> Option<TaskState> {
    Some(match state {
        proto::TaskState::Unspecified => return None,
        proto::TaskState::Pending => TaskState::Pending,
        proto::TaskState::Assigned => TaskState::Assigned,
        proto::TaskState::Preparing => TaskState::Preparing,
        proto::TaskState::Starting => TaskState::Starting,
        proto::TaskState::Running => TaskState::Running,
        proto::TaskState::Complete => TaskState::Complete,
        proto::TaskState::Failed => TaskState::Failed,
        proto::TaskState::Shutdown => TaskState::Shutdown,
        proto::TaskState::Orphaned => TaskState::Orphaned,
    })
}

/// A health verdict from the wire.
pub fn health_from_proto(health: proto::Health) -> Health {
    match health {
        proto::Health::Unknown => Health::Unknown,
        proto::Health::Starting => Health::Starting,
        proto::Health::Healthy => Health::Healthy,
        proto::Health::Unhealthy => Health::Unhealthy,
    }
}

fn desired(desired: DesiredState) -> proto::DesiredState {
    match desired {
        DesiredState::Running => proto::DesiredState::Running,
        DesiredState::Shutdown => proto::DesiredState::Shutdown,
        DesiredState::Remove => proto::DesiredState::Remove,
    }
}

/// `task` as the agent receives it, with its service's spec.
pub fn assigned(task: &Task, service: &Service) -> proto::AssignedTask {
    proto::AssignedTask {
        id: task.id.to_string(),
        env: task.env.to_string(),
        app: task.app.to_string(),
        service: task.service.to_string(),
        slot: slot(&task.slot),
        spec_revision: task.spec_revision,
        desired: desired(task.desired) as i32,
        spec_json: serde_json::to_vec(&service.spec).expect("service specs serialize"),
        observed: state_to_proto(task.observed) as i32,
        restart_count: task.restart_count,
        // Filled in by `files::attach`, for this node only.
        files: Vec::new(),
        files_error: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_slots_have_their_wire_form() {
        for state in [
            TaskState::Pending,
            TaskState::Assigned,
            TaskState::Preparing,
            TaskState::Starting,
            TaskState::Running,
            TaskState::Complete,
            TaskState::Failed,
            TaskState::Shutdown,
            TaskState::Orphaned,
        ] {
            assert_eq!(state_from_proto(state_to_proto(state)), Some(state));
        }
        assert_eq!(state_from_proto(proto::TaskState::Unspecified), None);
        assert_eq!(slot(&Slot::Replica(3)), "3");
        let node = skiff_core::Name::new("n1").unwrap();
        assert_eq!(slot(&Slot::Node(node)), "node:n1");
    }
}
