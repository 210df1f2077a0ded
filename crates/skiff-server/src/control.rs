//! The handle the API holds on the local member of the control plane: propose a command,
//! read the state (linearizably or locally), and know who leads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use skiff_core::{Command, Response, State};
use skiff_store::cluster::ClusterConfig;
use skiff_store::{NodeId, StateMachineStore};

use crate::proposer::Proposer;

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Reflects every write acknowledged before the read began: the leader confirms it still
    /// leads (openraft's read index) and waits until it has applied that far.
    Linearizable,
    /// Whatever this server has applied, which may lag the leader.
    Stale,
}

/// Why the local member cannot serve a write or a linearizable read right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// Another member leads (or none is known); the caller should go there or retry.
    #[error("this server does not lead the cluster{}", match leader {
        Some((id, addr)) => format!("; server {id} at {addr} does"),
        None => "; no leader is known yet (an election may be under way)".into(),
    })]
    NotLeader {
        /// The leader, when known: its id and address.
        leader: Option<(NodeId, String)>,
    },
    /// The leader cannot reach a quorum to confirm it still leads.
    #[error("this server cannot reach a quorum of the cluster: {0}")]
    NoQuorum(String),
    /// Raft stopped on this server (shutting down or a fatal storage error).
    #[error("this server's Raft has stopped: {0}")]
    Stopped(String),
    /// The cluster did not answer in time. For a write, it may or may not have been applied:
    /// read before writing again.
    #[error("the cluster did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// How long a write waits to be committed and applied before the API gives up on it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a linearizable read waits for the leader to confirm its leadership.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two rounds of confirming leadership for a read.
const READ_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// The leader `raft` knows of: its id and address.
pub(crate) fn leader_of(raft: &Raft<ClusterConfig>) -> Option<(NodeId, String)> {
    let metrics = raft.metrics();
    let m = metrics.borrow();
    let id = m.current_leader?;
    let node: &BasicNode = m.membership_config.membership().get_node(&id)?;
    Some((id, node.addr.clone()))
}

/// The local member of the control plane. Cloning is cheap.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    advertise: String,
    raft: Raft<ClusterConfig>,
    sm: StateMachineStore<State>,
    proposer: Proposer,
}

impl fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlPlane")
            .field("id", &self.inner.id)
            .field("advertise", &self.inner.advertise)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Wraps a running Raft member and its state machine.
    pub fn new(
        id: NodeId,
        advertise: String,
        raft: Raft<ClusterConfig>,
        sm: StateMachineStore<State>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                advertise,
                proposer: Proposer::start(id, raft.clone()),
                raft,
                sm,
            }),
        }
    }

    /// This server's Raft id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The address other members and clients reach this server at.
    pub fn advertise(&self) -> &str {
        &self.inner.advertise
    }

    /// The Raft member, for membership changes and metrics.
    pub fn raft(&self) -> &Raft<ClusterConfig> {
        &self.inner.raft
    }

    /// Whether this server leads, as far as it knows.
    pub fn is_leader(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.inner.id)
    }

    /// The leader this server knows of: its id and address.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        leader_of(&self.inner.raft)
    }

    /// Proposes `command` through Raft on this server (which must lead) and returns what the
    /// state machine answered once the entry is committed and applied. Concurrent commands are
    /// grouped into shared log entries ([`crate::proposer`]).
    pub async fn propose(&self, command: Command) -> Result<Response, Unavailable> {
        self.inner.proposer.propose(command).await
    }

    /// Runs `read` on the state, after making sure it is fresh enough.
    pub async fn read<R>(
        &self,
        consistency: Consistency,
        read: impl FnOnce(&State) -> R,
    ) -> Result<R, Unavailable> {
        if consistency == Consistency::Linearizable {
            self.confirm_leadership().await?;
        }
        Ok(self.inner.sm.read(read).await)
    }

    /// openraft's read index: this server still leads and has applied what was committed when
    /// the read began. One round of heartbeats must be answered by a quorum within the
    /// heartbeat interval; a follower busy flushing its disk can miss that while the cluster is
    /// healthy, so a round that misses the quorum is tried again until [`READ_TIMEOUT`] (a
    /// leader cut off from the quorum then answers [`Unavailable::NoQuorum`]).
    async fn confirm_leadership(&self) -> Result<(), Unavailable> {
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        loop {
            let round = tokio::time::timeout_at(deadline, self.inner.raft.ensure_linearizable())
                .await
                .map_err(|_| Unavailable::Timeout(READ_TIMEOUT))?;
            match round {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => {
                    return Err(self.not_leader())
                }
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
                    if tokio::time::Instant::now() + READ_RETRY_PAUSE >= deadline {
                        return Err(Unavailable::NoQuorum(e.to_string()));
                    }
                    tokio::time::sleep(READ_RETRY_PAUSE).await;
                }
                Err(RaftError::Fatal(fatal)) => {
                    return Err(Unavailable::Stopped(fatal.to_string()))
                }
            }
        }
    }

    fn not_leader(&self) -> Unavailable {
        Unavailable::NotLeader {
            leader: self.leader().filter(|(id, _)| *id != self.inner.id),
        }
    }
}
