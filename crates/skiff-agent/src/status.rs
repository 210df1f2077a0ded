//! The latest observed status of each task on this node, for the session to report.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

pub use skiff_proto::agent::TaskStatus;

/// The latest status of each task, and which ones changed since the session last took them.
/// Cloning is cheap; clones share the board.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<Board>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Board {
    latest: BTreeMap<String, TaskStatus>,
    /// Task ids whose latest status has not been taken yet, in the order they changed.
    unsent: Vec<String>,
}

impl StatusBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a task's new status and wakes the session.
    pub fn report(&self, status: TaskStatus) {
        let mut board = self.inner.state.lock().expect("status board lock");
        if !board.unsent.contains(&status.task_id) {
            board.unsent.push(status.task_id.clone());
        }
        board.latest.insert(status.task_id.clone(), status);
        drop(board);
        self.inner.changed.notify_one();
    }

    /// Forgets a task (its record is gone on the control plane's side too).
    pub fn forget(&self, task_id: &str) {
        let mut board = self.inner.state.lock().expect("status board lock");
        board.latest.remove(task_id);
        board.unsent.retain(|id| id != task_id);
    }

    /// The latest status of a task.
    pub fn get(&self, task_id: &str) -> Option<TaskStatus> {
        let board = self.inner.state.lock().expect("status board lock");
        board.latest.get(task_id).cloned()
    }

    /// The statuses that changed since the last call, oldest change first.
    pub fn take_changed(&self) -> Vec<TaskStatus> {
        let mut board = self.inner.state.lock().expect("status board lock");
        let unsent = std::mem::take(&mut board.unsent);
        unsent
            .iter()
            .filter_map(|id| board.latest.get(id).cloned())
            .collect()
    }

    /// Every latest status, marking all as taken: what a new session sends first.
    pub fn take_all(&self) -> Vec<TaskStatus> {
        let mut board = self.inner.state.lock().expect("status board lock");
        board.unsent.clear();
        board.latest.values().cloned().collect()
    }

    /// Waits until a status is reported after the last `take_*` (returns at once if one was
    /// reported since the last wait).
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_proto::agent::TaskState;

    fn status(id: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id: id.into(),
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn changes_are_taken_once_in_order_with_their_latest_status() {
        let board = StatusBoard::new();
        board.report(status("b", TaskState::Preparing));
        board.report(status("a", TaskState::Preparing));
        board.report(status("b", TaskState::Running));
        let taken = board.take_changed();
        let got: Vec<_> = taken
            .iter()
            .map(|s| (s.task_id.as_str(), s.state()))
            .collect();
        assert_eq!(
            got,
            [("b", TaskState::Running), ("a", TaskState::Preparing)]
        );
        assert!(board.take_changed().is_empty());
        assert_eq!(board.take_all().len(), 2);
        board.forget("a");
        assert_eq!(board.get("a"), None);
        assert_eq!(board.get("b").unwrap().state(), TaskState::Running);
    }

    #[tokio::test]
    async fn a_report_wakes_the_waiter() {
        let board = StatusBoard::new();
        let waiter = {
            let board = board.clone();
            tokio::spawn(async move { board.changed().await })
        };
        board.report(status("a", TaskState::Running));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
