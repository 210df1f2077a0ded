//! The node monitor: a node whose agent has been silent for longer than the grace period is
//! marked down and its tasks orphaned (so that the orchestrator replaces them elsewhere); a
//! down node heard from again within the grace period is marked ready.
//!
//! Heartbeats live in the servers' memory; the caller passes, for every node, when its agent
//! was last heard from. Only a change of a node's status (and the orphaning that goes with it)
//! is written through Raft.

use std::collections::HashMap;
use std::time::Duration;

use super::input::StoredTask;
use crate::objects::{Name, Node, NodeStatus, Object, Task, TaskState, Timestamp};
use crate::state::{Command, Expect, Op};

/// A node as stored, with the revision of its last change.
#[derive(Debug, Clone, Copy)]
pub struct StoredNode<'a> {
    /// The node.
    pub node: &'a Node,
    /// Its record's `mod_revision`.
    pub revision: u64,
}

/// What [`monitor`] reads.
#[derive(Debug, Clone, Default)]
pub struct NodeMonitorInput<'a> {
    /// The time of the round.
    pub now: Timestamp,
    /// How long an agent may stay silent before its node is down.
    pub grace: Duration,
    /// Every node.
    pub nodes: Vec<StoredNode<'a>>,
    /// When each node's agent was last heard from, by node id (a node missing here has not
    /// been heard from).
    pub last_seen: HashMap<Name, Timestamp>,
    /// When this leader took over: a ready node counts as heard from at least then, so that
    /// the grace period of a newly elected leader (whose heartbeat table starts empty) starts
    /// at its election. A down node needs a heartbeat to come back.
    pub leader_since: Timestamp,
    /// The tasks on the nodes that are or go down (those not over are orphaned); every task
    /// will do, but [`going_down`] says which nodes' tasks a round needs.
    pub tasks: Vec<StoredTask<'a>>,
}

/// A node's status change, with the tasks it orphans.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeChange {
    /// The node after the change (status, last heartbeat).
    pub node: Node,
    /// The revision it was read at.
    pub revision: u64,
    /// Its tasks that were not over, now observed orphaned (with their read revisions); empty
    /// when the node becomes ready.
    pub orphaned: Vec<(Task, u64)>,
}

/// What one round of the node monitor decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMonitorPlan {
    /// The nodes whose status changes (and the tasks of down ones left not over), in node order.
    pub changes: Vec<NodeChange>,
}

impl NodeMonitorPlan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The plan as one transaction, every node and task expected at its read revision.
    pub fn into_command(self) -> Command {
        let mut ops = Vec::new();
        for change in self.changes {
            ops.push(Op::put(
                Object::Node(change.node),
                Expect::Revision(change.revision),
            ));
            for (task, revision) in change.orphaned {
                ops.push(Op::put(Object::Task(task), Expect::Revision(revision)));
            }
        }
        Command::Txn { ops }
    }
}

/// One round of the node monitor over `input`. A ready node silent for more than the grace
/// period goes down, and every task on it that is not over becomes observed `orphaned` with
/// the message "node N down: no heartbeat for Ss"; a down node that still has such tasks (a
/// round that lost a race) has them orphaned again, the silence then counted from the node's
/// `last_heartbeat` ("never heard from" without one); a down node heard from within the grace
/// period becomes ready. The node's `last_heartbeat` is written with each status change.
///
/// Only the tasks of nodes that are or go down matter: a caller may pass just those of the
/// nodes [`going_down`] names (and of the down nodes it wants swept) and get the same plan
/// for them.
pub fn monitor(input: &NodeMonitorInput<'_>) -> NodeMonitorPlan {
    let mut live: HashMap<&Name, Vec<StoredTask<'_>>> = HashMap::new();
    for t in &input.tasks {
        if let (Some(node), false) = (&t.task.node, t.task.observed.is_terminal()) {
            live.entry(node).or_default().push(*t);
        }
    }
    let mut changes = Vec::new();
    for stored in &input.nodes {
        let node = stored.node;
        let (status, orphaned): (_, Vec<_>) = match judge(input, node) {
            Judged::Alive => continue,
            Judged::Back => (NodeStatus::Ready, Vec::new()),
            Judged::Silent(message) => (
                NodeStatus::Down,
                live.remove(&node.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| orphan(input.now, t, &message))
                    .collect(),
            ),
        };
        if node.status == status && orphaned.is_empty() {
            continue;
        }
        let mut node = node.clone();
        node.status = status;
        let seen = input.last_seen.get(&node.id).copied();
        if seen.is_some() {
            node.last_heartbeat = seen.max(node.last_heartbeat);
        }
        changes.push(NodeChange {
            node,
            revision: stored.revision,
            orphaned,
        });
    }
    NodeMonitorPlan { changes }
}

/// The ready nodes that a round over `input` marks down: the nodes whose tasks the caller
/// must pass. It reads no tasks, so a round where no node goes down need not gather any.
pub fn going_down<'a>(input: &NodeMonitorInput<'a>) -> Vec<&'a Name> {
    input
        .nodes
        .iter()
        .filter(|s| s.node.status == NodeStatus::Ready)
        .filter(|s| matches!(judge(input, s.node), Judged::Silent(_)))
        .map(|s| &s.node.id)
        .collect()
}

/// What the heartbeats say of one node.
#[derive(Debug, PartialEq)]
enum Judged {
    /// Ready and heard from within the grace period: nothing to do.
    Alive,
    /// Down, and heard from within the grace period: ready again.
    Back,
    /// Silent for longer than the grace period (ready or already down): down, with this
    /// message for its tasks.
    Silent(String),
}

fn judge(input: &NodeMonitorInput<'_>, node: &Node) -> Judged {
    let seen = input.last_seen.get(&node.id).copied();
    let counted = match node.status {
        NodeStatus::Ready => seen.max(Some(input.leader_since)),
        NodeStatus::Down => seen,
    };
    let silence = |since: Timestamp| Duration::from_millis(input.now.0.saturating_sub(since.0));
    if counted.is_some_and(|c| silence(c) <= input.grace) {
        return match node.status {
            NodeStatus::Ready => Judged::Alive,
            NodeStatus::Down => Judged::Back,
        };
    }
    // A down node this leader has not heard from: its last heartbeat is the one written when
    // it went down, if any.
    Judged::Silent(match counted.or(node.last_heartbeat) {
        Some(last) => format!(
            "node {} down: no heartbeat for {}s",
            node.id,
            silence(last).as_secs()
        ),
        None => format!("node {} down: never heard from", node.id),
    })
}

/// Task `t`, observed orphaned with `message`, and the revision it was read at.
fn orphan(now: Timestamp, t: StoredTask<'_>, message: &str) -> (Task, u64) {
    let mut task = t.task.clone();
    task.observed = TaskState::Orphaned;
    task.message = message.to_owned();
    task.updated_at = now;
    (task, t.revision)
}
