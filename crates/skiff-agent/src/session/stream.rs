//! One session stream with one server: hello, heartbeats and status batches up; assignments
//! and peers down.

use std::collections::VecDeque;
use std::time::Duration;

use skiff_proto::agent::{
    agent_message::Kind as Up, server_message::Kind as Down, AgentMessage, Endpoints, Heartbeat,
    Hello, ServerMessage, StatusBatch, TaskStatus,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;

use super::{stopped, Dialer, Outputs, Session};
use crate::StatusBoard;

/// How long status changes are gathered after the first before they are sent as one batch:
/// a task usually moves through several states in a few milliseconds, and a node starting
/// many tasks reports them together.
pub const STATUS_COALESCE: Duration = Duration::from_millis(10);
/// The most statuses in one batch (a batch stays far below the message size limit).
pub const MAX_BATCH: usize = 1000;
/// Messages queued for the stream before the session stops taking more from the outbox.
const QUEUE: usize = 16;

/// How a session stream ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// Shutdown was asked.
    Shutdown,
    /// It had been established and broke.
    Lost(String),
    /// The server refused it or failed before sending anything.
    Refused(tonic::Status),
}

/// Holds one session stream with `server` until it ends or shutdown is asked.
pub(super) async fn hold_one(
    session: &Session,
    server: &str,
    board: &StatusBoard,
    outputs: &Outputs,
    shutdown: &mut watch::Receiver<bool>,
    dialer: &mut Dialer,
) -> Ended {
    let desired = &outputs.desired;
    let mut client = match session.pool.client(server, session.lane) {
        Ok(client) => client,
        Err(e) => return Ended::Refused(tonic::Status::invalid_argument(e.to_string())),
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    let hello = Up::Hello(Hello {
        node_id: session.node_id.clone(),
    });
    tx.try_send(AgentMessage { kind: Some(hello) })
        .expect("a new channel has room");
    let mut inbound = tokio::select! {
        answer = client.session(ReceiverStream::new(rx)) => match answer {
            Ok(response) => response.into_inner(),
            Err(status) => return Ended::Refused(status),
        },
        _ = stopped(shutdown) => return Ended::Shutdown,
    };
    let mut outbox = VecDeque::new();
    queue_statuses(&mut outbox, board.take_all());
    let mut heartbeat = tokio::time::interval(session.config.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut flush_at: Option<Instant> = None;
    let mut established = false;
    loop {
        tokio::select! {
            _ = stopped(shutdown) => return Ended::Shutdown,
            _ = heartbeat.tick() => {
                if !outbox.iter().any(is_heartbeat) {
                    let applied_revision = desired.borrow().revision;
                    let beat = Up::Heartbeat(Heartbeat { applied_revision });
                    outbox.push_back(AgentMessage { kind: Some(beat) });
                }
            }
            _ = board.changed(), if flush_at.is_none() => {
                flush_at = Some(Instant::now() + STATUS_COALESCE);
            }
            _ = sleep_until(flush_at), if flush_at.is_some() => {
                flush_at = None;
                queue_statuses(&mut outbox, board.take_changed());
            }
            permit = tx.reserve(), if !outbox.is_empty() => match permit {
                Ok(permit) => permit.send(outbox.pop_front().expect("not empty")),
                Err(_) => return Ended::Lost("the server stopped reading".into()),
            },
            message = inbound.message() => match message {
                Ok(Some(message)) => {
                    if !established {
                        established = true;
                        dialer.established();
                        session.log(format_args!("session with {server} established"));
                    }
                    handle(session, message, outputs);
                }
                Ok(None) if established => return Ended::Lost("the server ended it".into()),
                Ok(None) => {
                    let why = "the server ended the session before sending anything";
                    return Ended::Refused(tonic::Status::unknown(why));
                }
                Err(status) if established => return Ended::Lost(status.to_string()),
                Err(status) => return Ended::Refused(status),
            },
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

fn is_heartbeat(message: &AgentMessage) -> bool {
    matches!(message.kind, Some(Up::Heartbeat(_)))
}

/// Queues `statuses` as batches of at most [`MAX_BATCH`].
fn queue_statuses(outbox: &mut VecDeque<AgentMessage>, statuses: Vec<TaskStatus>) {
    for chunk in statuses.chunks(MAX_BATCH) {
        let batch = Up::Status(StatusBatch {
            statuses: chunk.to_vec(),
        });
        outbox.push_back(AgentMessage { kind: Some(batch) });
    }
}

/// Applies one message from the server. A message the agent cannot use is reported and
/// changes nothing: the reconciler keeps working towards the last good set.
fn handle(session: &Session, message: ServerMessage, outputs: &Outputs) {
    match message.kind {
        Some(Down::Assignments(assignments)) => {
            outputs
                .desired
                .send_if_modified(|set| match set.apply(&assignments) {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!(
                        "skiff agent: node {}: assignments at revision {} ignored, keeping the \
                         tasks of revision {}: {e}",
                        session.node_id, assignments.revision, set.revision
                    );
                        false
                    }
                });
        }
        Some(Down::Peers(list)) => {
            outputs.peers.send_replace(list.peers);
        }
        Some(Down::Endpoints(bytes)) if outputs.directory.receiver_count() > 0 => {
            match <Endpoints as prost::Message>::decode(bytes) {
                Ok(message) => outputs.directory.send_modify(|d| d.apply(&message)),
                Err(e) => eprintln!(
                    "skiff agent: node {}: service data that does not decode was ignored: {e}",
                    session.node_id
                ),
            }
        }
        Some(Down::Endpoints(_)) => {}
        None => eprintln!(
            "skiff agent: node {}: a message of a kind this agent does not know was ignored",
            session.node_id
        ),
    }
}
