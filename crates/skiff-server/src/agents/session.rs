//! `Session`: one agent's stream, served by the leader only.
//!
//! The agent's first message names its node (`Hello`); the server then sends the node's full
//! set of tasks ([`View::full_of`]) and its overlay peers, then takes the changes the
//! [`super::dispatch`] router hands it (those of its own node's tasks, and every service and
//! node change): each batch becomes an `Assignments{full: false}` (or a new full set when the
//! router lost changes), each change of the peer list a `Peers`.
//! Every message from the agent counts as a heartbeat ([`crate::Heartbeats`]); status batches
//! go to the [`StatusBatcher`]. The session ends with `Unavailable` naming the new leader when
//! this server stops leading, so the agent reconnects there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use skiff_core::{Key, Name, Object, Record, State};
use skiff_proto::agent::agent_message::Kind as Up;
use skiff_proto::agent::server_message::Kind as Down;
use skiff_proto::agent::{AgentMessage, Peers, ServerMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::assign::View;
use super::dispatch::{Subscription, Touched};
use super::peers::peers;
use super::{not_leader, unavailable, Shared};
use crate::control::Consistency;

/// How long a new session waits for the agent's `Hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How many messages may wait for a slow agent before the session waits for it.
const OUTBOX: usize = 16;

/// The stream of messages to the agent.
pub type Outbox = ReceiverStream<Result<ServerMessage, Status>>;

/// Opens a session: checks that this server leads and that the agent's first message is the
/// `Hello` of a registered node, then starts following the state for it. `token` (the one the
/// session presented) is kept in [`Shared::links`] while the session lasts.
pub async fn open(
    shared: Arc<Shared>,
    token: String,
    mut incoming: Streaming<AgentMessage>,
) -> Result<Outbox, Status> {
    if !shared.control.is_leader() {
        return Err(not_leader(&shared.control));
    }
    let first = tokio::time::timeout(HELLO_TIMEOUT, incoming.message())
        .await
        .map_err(|_| {
            Status::invalid_argument(format!(
                "no Hello within {} s: the first message of a session must be Hello{{node_id}}",
                HELLO_TIMEOUT.as_secs()
            ))
        })??;
    let Some(AgentMessage {
        kind: Some(Up::Hello(hello)),
    }) = first
    else {
        return Err(Status::invalid_argument(
            "the first message of a session must be Hello{node_id}",
        ));
    };
    let node = Name::new(&hello.node_id)
        .map_err(|e| Status::invalid_argument(format!("hello.node_id {:?}: {e}", hello.node_id)))?;
    let key = Key::Node { id: node.clone() };
    let address = shared
        .control
        .read(Consistency::Linearizable, |state| match state.get(&key) {
            Some(Record {
                object: Object::Node(n),
                ..
            }) => Some(n.address.clone()),
            _ => None,
        })
        .await
        .map_err(unavailable)?;
    let Some(address) = address else {
        return Err(Status::not_found(format!(
            "node {node} is not registered: call Register first"
        )));
    };
    shared.heartbeats.record(node.as_str(), Instant::now());
    let (outbox, messages) = mpsc::channel(OUTBOX);
    let listener = tokio::spawn(listen(shared.clone(), node.clone(), incoming));
    let linked = shared.links.link(node.as_str(), token, address);
    tokio::spawn(async move {
        follow(&shared, &node, &outbox).await;
        listener.abort();
        shared.links.forget(linked);
    });
    Ok(ReceiverStream::new(messages))
}

/// Takes the agent's messages until its stream ends.
async fn listen(shared: Arc<Shared>, node: Name, mut incoming: Streaming<AgentMessage>) {
    while let Ok(Some(message)) = incoming.message().await {
        shared.heartbeats.record(node.as_str(), Instant::now());
        if let Some(Up::Status(batch)) = message.kind {
            shared.batcher.submit(&node, batch.statuses);
        }
    }
}

/// The shortest time between two `Peers` messages of a session: while many nodes register
/// or change at once, each session sends the list once per interval rather than once per
/// change (a thousand sessions each sent a thousand lists of a thousand peers otherwise).
pub const PEERS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// What the session sent last.
struct Sent {
    view: View,
    peers: Peers,
    /// Nodes changed since the peers were last compared.
    peers_stale: bool,
    /// When the last `Peers` message was sent.
    peers_sent: Instant,
}

/// The messages that bring the agent from `sent` to `state`, after the changes `touched`
/// (`ids`: the node's tasks as the router knows them, when `touched.full`).
fn catch_up(
    state: &State,
    node: &Name,
    sent: &mut Sent,
    touched: &Touched,
    ids: Option<&[String]>,
) -> Vec<ServerMessage> {
    let mut out = Vec::new();
    let assignments = |a| ServerMessage {
        kind: Some(Down::Assignments(a)),
    };
    match ids {
        Some(ids) => {
            let (view, full) = View::full_of(state, node, ids);
            sent.view = view;
            out.push(assignments(full));
        }
        None => {
            if let Some(change) = sent.view.update(state, touched) {
                out.push(assignments(change));
            }
        }
    }
    sent.peers_stale |= touched.nodes || touched.full;
    if let Some(message) = peers_due(state, node, sent) {
        out.push(message);
    }
    out
}

/// The `Peers` message to send now, if the nodes changed, the list differs and the last one
/// went at least [`PEERS_INTERVAL`] ago.
fn peers_due(state: &State, node: &Name, sent: &mut Sent) -> Option<ServerMessage> {
    if !sent.peers_stale || sent.peers_sent.elapsed() < PEERS_INTERVAL {
        return None;
    }
    sent.peers_stale = false;
    let now = peers(state, node);
    if now == sent.peers {
        return None;
    }
    sent.peers = now.clone();
    sent.peers_sent = Instant::now();
    Some(ServerMessage {
        kind: Some(Down::Peers(now)),
    })
}

/// The environments whose service data the agent holds, each with the router's revision its
/// whole table was sent at.
#[derive(Debug, Default)]
struct EnvsSent {
    sent: std::collections::HashMap<Name, u64>,
}

impl EnvsSent {
    /// The `Endpoints` messages that bring the agent up to date after `touched`: with
    /// `recheck` (the node's environments may have changed, or everything is sent again), the
    /// whole table of each environment gained and an empty one for each lost; then the changes
    /// of environments already sent that are newer than what was sent.
    fn catch_up(
        &mut self,
        subscription: &Subscription,
        touched: &Touched,
        recheck: bool,
    ) -> Vec<Down> {
        let mut out = Vec::new();
        if recheck {
            let (wanted, revision) = subscription.envs();
            if touched.full {
                self.sent.clear();
            }
            let lost: Vec<Name> = self
                .sent
                .keys()
                .filter(|env| !wanted.contains(env))
                .cloned()
                .collect();
            for env in lost {
                self.sent.remove(&env);
                let empty = skiff_proto::agent::Endpoints {
                    env: env.to_string(),
                    full: true,
                    ..Default::default()
                };
                out.push(Down::Endpoints(
                    prost::Message::encode_to_vec(&empty).into(),
                ));
            }
            for env in wanted {
                if let std::collections::hash_map::Entry::Vacant(entry) = self.sent.entry(env) {
                    let (message, at) = subscription.endpoints(entry.key());
                    entry.insert(at.max(revision));
                    out.push(Down::Endpoints(message));
                }
            }
        }
        for change in &touched.endpoints {
            if self
                .sent
                .get(&change.env)
                .is_some_and(|at| change.revision > *at)
            {
                out.push(Down::Endpoints(change.message.clone()));
            }
        }
        out
    }
}

/// Sends the full set and peers, then every change, until the agent goes, this server stops
/// leading, or it stops.
async fn follow(
    shared: &Shared,
    node: &Name,
    outbox: &mpsc::Sender<Result<ServerMessage, Status>>,
) {
    let control = &shared.control;
    let mut metrics = control.raft().metrics();
    // Before the state is read: every change after the read reaches the mailbox.
    let subscription = shared.dispatcher.subscribe(node);
    let ids = subscription.tasks();
    let first = control
        .read(Consistency::Stale, |state| {
            let (view, full) = View::full_of(state, node, &ids);
            let peers = peers(state, node);
            (
                Sent {
                    view,
                    peers: peers.clone(),
                    peers_stale: false,
                    peers_sent: Instant::now(),
                },
                full,
                peers,
            )
        })
        .await;
    let Ok((mut sent, full, peers)) = first else {
        return;
    };
    let mut first = vec![Down::Assignments(full), Down::Peers(peers)];
    let mut envs = EnvsSent::default();
    first.extend(envs.catch_up(&subscription, &Touched::default(), true));
    for kind in first {
        if outbox
            .send(Ok(ServerMessage { kind: Some(kind) }))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut stopping = shared.stopping.clone();
    loop {
        let peers_at = tokio::time::Instant::from_std(sent.peers_sent + PEERS_INTERVAL);
        let peers_waiting = sent.peers_stale;
        let touched = tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    return;
                }
                let leads = {
                    let m = metrics.borrow_and_update();
                    m.state == ServerState::Leader && m.current_leader == Some(control.id())
                };
                if !leads {
                    let _ = outbox.send(Err(not_leader(control))).await;
                    return;
                }
                continue;
            }
            touched = subscription.changed() => touched,
            () = tokio::time::sleep_until(peers_at), if peers_waiting => {
                let Ok(message) = control
                    .read(Consistency::Stale, |state| peers_due(state, node, &mut sent))
                    .await
                else {
                    return;
                };
                if let Some(message) = message {
                    if outbox.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            () = outbox.closed() => return,
            () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                let stopping = Status::unavailable("the server is stopping; reconnect to another");
                let _ = outbox.send(Err(stopping)).await;
                return;
            }
        };
        let ids = touched.full.then(|| subscription.tasks());
        let Ok(mut messages) = control
            .read(Consistency::Stale, |state| {
                catch_up(state, node, &mut sent, &touched, ids.as_deref())
            })
            .await
        else {
            return;
        };
        let recheck = touched.full || touched.envs;
        messages.extend(
            envs.catch_up(&subscription, &touched, recheck)
                .into_iter()
                .map(|kind| ServerMessage { kind: Some(kind) }),
        );
        for message in messages {
            if outbox.send(Ok(message)).await.is_err() {
                return;
            }
        }
    }
}
