//! The leader's proposer: group commit for API writes.
//!
//! openraft 0.9 writes (and fsyncs) one log entry per `client_write`, one after the other, so a
//! leader taking one write per entry is bounded by its disk's flush rate. The proposer queues
//! the commands handlers propose and, while a few entries are in flight, gathers the commands
//! that arrive into the next entry: one `skiff_core::Proposal`, one flush on each server, many
//! writes. Each command still gets its own answer; the commands of one entry touch distinct
//! keys and share the entry's revision (as the ops of a transaction do).

use std::collections::HashSet;
use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::Raft;
use skiff_core::{Command, Proposal, Response};
use skiff_store::cluster::ClusterConfig;
use skiff_store::NodeId;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::control::{leader_of, Unavailable, WRITE_TIMEOUT};

/// How many entries may be in flight (appended, not yet applied) at once.
const MAX_IN_FLIGHT: usize = 4;
/// The most commands one entry carries.
const MAX_COMMANDS: usize = 512;
/// The most bytes (of JSON) the commands of one entry add up to, beyond its first command, so
/// that an entry stays well inside one Raft message (`skiff_proto::MAX_MESSAGE_SIZE`).
const MAX_ENTRY_BYTES: usize = 8 << 20;

type Answer = Result<Response, Unavailable>;

/// A command waiting for its entry.
struct Pending {
    command: Command,
    keys: Vec<String>,
    /// The command's size as JSON.
    bytes: usize,
    reply: oneshot::Sender<Answer>,
}

/// The queue handlers propose through. Cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct Proposer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("keys", &self.keys).finish()
    }
}

impl Proposer {
    /// Starts the proposer of the member `id` on the current tokio runtime.
    pub(crate) fn start(id: NodeId, raft: Raft<ClusterConfig>) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(id, raft, pending));
        Self { queue }
    }

    /// Proposes `command` and waits for its answer (at most [`WRITE_TIMEOUT`]).
    pub(crate) async fn propose(&self, command: Command) -> Answer {
        let (reply, answer) = oneshot::channel();
        let keys = Proposal::keys_of(&command);
        let bytes = serde_json::to_vec(&command).map_or(0, |json| json.len());
        self.queue
            .send(Pending {
                command,
                keys,
                bytes,
                reply,
            })
            .map_err(|_| Unavailable::Stopped("the proposer has stopped".into()))?;
        // The proposer answers every command, at the latest when its own timeout fires.
        answer
            .await
            .unwrap_or_else(|_| Err(Unavailable::Stopped("the proposer has stopped".into())))
    }
}

async fn run(id: NodeId, raft: Raft<ClusterConfig>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        // While every slot is taken, commands pile up in the queue: they make the next entry.
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut keys: HashSet<String> = first.keys.iter().cloned().collect();
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS {
            let Ok(next) = queue.try_recv() else { break };
            // A second write to a key waits for the next entry, keeping each command's
            // revision its own version of the key; so does a command that would make the entry
            // too big.
            if next.keys.iter().any(|k| keys.contains(k)) || bytes + next.bytes > MAX_ENTRY_BYTES {
                carried = Some(next);
                break;
            }
            keys.extend(next.keys.iter().cloned());
            bytes += next.bytes;
            batch.push(next);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            write(id, &raft, batch).await;
            drop(slot);
        });
    }
}

/// Writes one entry for `batch` and answers each of its commands.
async fn write(id: NodeId, raft: &Raft<ClusterConfig>, batch: Vec<Pending>) {
    let (commands, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    let count = commands.len();
    let written =
        tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(Proposal { commands })).await;
    let failure = match written {
        Ok(Ok(written)) => {
            let answers = written
                .data
                .expect("a normal entry carries its commands and gets answers");
            debug_assert_eq!(answers.len(), count, "one answer per command");
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
            return;
        }
        Err(_) => Unavailable::Timeout(WRITE_TIMEOUT),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
            Unavailable::NotLeader {
                leader: leader_of(raft).filter(|(leader, _)| *leader != id),
            }
        }
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            unreachable!("a normal write is not a membership change: {e}")
        }
        Ok(Err(RaftError::Fatal(fatal))) => Unavailable::Stopped(fatal.to_string()),
    };
    for reply in replies {
        let _ = reply.send(Err(failure.clone()));
    }
}
