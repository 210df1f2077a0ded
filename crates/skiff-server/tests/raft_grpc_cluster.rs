//! Multi-member Raft clusters of skiff-core's `State` on sled, in one process but talking over
//! real TCP on 127.0.0.1 through the gRPC Raft network: replication, failover without losing
//! an acknowledged write, and a new member catching up from a snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use skiff_core::objects::Environment;
use skiff_core::{Command, Expect, Key, Name, Object, Proposal, Response, State};
use skiff_server::raft_network::{serve, GrpcNetwork};
use skiff_store::cluster::ClusterConfig;
use skiff_store::{NodeId, StateMachineStore, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

fn config(snapshot_policy: SnapshotPolicy) -> Arc<Config> {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    Arc::new(config.validate().expect("a valid test config"))
}

/// One server: its Raft on its own sled directory and its gRPC listener on 127.0.0.1.
struct Member {
    id: NodeId,
    addr: String,
    raft: Raft<ClusterConfig>,
    sm: StateMachineStore<State>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl Member {
    async fn start(id: NodeId, dir: &Path, config: Arc<Config>) -> Member {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (log, sm) = Store::open::<State>(dir.join(format!("member-{id}"))).unwrap();
        let raft = Raft::new(id, config, GrpcNetwork::new(id), log, sm.clone())
            .await
            .expect("raft starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(raft.clone(), listener, async {
            let _ = stopped.await;
        }));
        let server = tokio::spawn(async move { server.await.unwrap().expect("the server runs") });
        Member {
            id,
            addr,
            raft,
            sm,
            stop,
            server,
        }
    }

    fn node(&self) -> BasicNode {
        BasicNode::new(&self.addr)
    }

    /// Stops the gRPC server (its port then refuses connections) and the Raft.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("the server stops")
            .unwrap();
        self.raft.shutdown().await.expect("raft shuts down");
    }

    async fn state(&self) -> Vec<u8> {
        self.sm.read(|s| s.to_snapshot()).await
    }
}

async fn start_cluster(dir: &Path, ids: &[NodeId], config: Arc<Config>) -> Vec<Member> {
    let mut members = Vec::new();
    for &id in ids {
        members.push(Member::start(id, dir, config.clone()).await);
    }
    let nodes: BTreeMap<_, _> = members.iter().map(|m| (m.id, m.node())).collect();
    members[0].raft.initialize(nodes).await.expect("initialise");
    members
}

/// Waits until `members` agree on a leader other than `not` that knows it leads.
async fn leader(members: &[Member], not: Option<NodeId>) -> NodeId {
    let m = members[0]
        .raft
        .wait(TIMEOUT)
        .metrics(
            |m| m.current_leader.is_some() && m.current_leader != not,
            "a leader",
        )
        .await
        .expect("a leader is elected");
    let id = m.current_leader.unwrap();
    let member = members.iter().find(|m| m.id == id).expect("a live leader");
    member
        .raft
        .wait(TIMEOUT)
        .state(ServerState::Leader, "leads")
        .await
        .expect("the leader knows it leads");
    id
}

fn env(name: &str) -> Object {
    Object::Environment(Environment {
        name: Name::new(name).unwrap(),
        quota: Default::default(),
        node_selector: Default::default(),
    })
}

/// Creates environment `name` through the leader; returns its revision once acknowledged.
async fn create(members: &[Member], name: &str) -> u64 {
    for _ in 0..20 {
        let id = leader(members, None).await;
        let member = members.iter().find(|m| m.id == id).unwrap();
        match member
            .raft
            .client_write(Proposal::one(Command::put(env(name), Expect::Absent)))
            .await
        {
            Ok(written) => match written.data.as_deref() {
                Some([Response::Ok { revision, .. }]) => return *revision,
                other => panic!("create {name}: {other:?}"),
            },
            // Leadership moved before the entry was appended: nothing was written, try again.
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("create {name}: {e}"),
        }
    }
    panic!("no stable leader to create {name}")
}

/// Waits until every member has applied the log up to `index` (an acknowledged write's
/// revision), then checks that their states are the same, byte for byte.
async fn converge(members: &[Member], index: u64) {
    for m in members {
        m.raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(index), "caught up")
            .await
            .unwrap_or_else(|e| panic!("member {} catches up: {e}", m.id));
    }
    let expected = members[0].state().await;
    for m in &members[1..] {
        assert!(m.state().await == expected, "member {} diverged", m.id);
    }
}

async fn has_env(member: &Member, name: &str) -> bool {
    let key = Key::parse(&format!("/envs/{name}")).unwrap();
    member.sm.read(|s| s.get(&key).is_some()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_replicate_and_survive_the_loss_of_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = start_cluster(dir.path(), &[1, 2, 3], config(SnapshotPolicy::Never)).await;
    let mut acknowledged = Vec::new();
    let mut last = 0;
    for i in 0..10 {
        let name = format!("before-{i}");
        last = create(&members, &name).await;
        acknowledged.push(name);
    }
    converge(&members, last).await;

    let old = leader(&members, None).await;
    let at = members.iter().position(|m| m.id == old).unwrap();
    members.remove(at).stop().await;
    let new = leader(&members, Some(old)).await;
    assert_ne!(new, old);
    for i in 0..5 {
        let name = format!("after-{i}");
        last = create(&members, &name).await;
        acknowledged.push(name);
    }
    converge(&members, last).await;
    for m in &members {
        for name in &acknowledged {
            assert!(has_env(m, name).await, "member {} lost {name}", m.id);
        }
    }
    for m in members {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_member_catches_up_by_snapshot_and_is_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(SnapshotPolicy::LogsSinceLast(5));
    let mut members = start_cluster(dir.path(), &[1, 2, 3], config.clone()).await;
    let mut last = 0;
    for i in 0..20 {
        last = create(&members, &format!("env-{i}")).await;
    }
    converge(&members, last).await;
    let id = leader(&members, None).await;
    let leader_raft = members.iter().find(|m| m.id == id).unwrap().raft.clone();
    // The leader has purged its log past a snapshot: the first entries exist only there.
    let purged = leader_raft
        .wait(TIMEOUT)
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= 10),
            "log purged past a snapshot",
        )
        .await
        .unwrap()
        .purged
        .unwrap()
        .index;

    let new = Member::start(4, dir.path(), config).await;
    leader_raft
        .add_learner(4, new.node(), true)
        .await
        .expect("the learner is added and catches up");
    // Entries up to `purged` are no longer in any log the leader can send, so a snapshot
    // covering them can only have come by InstallSnapshot.
    new.raft
        .wait(TIMEOUT)
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= purged),
            "the learner holds a snapshot covering the purged log",
        )
        .await
        .unwrap();
    members.push(new);
    converge(&members, last).await;

    let voters: BTreeSet<NodeId> = [1, 2, 3, 4].into();
    leader_raft
        .change_membership(voters.clone(), false)
        .await
        .expect("the learner is promoted");
    members[3]
        .raft
        .wait(TIMEOUT)
        .metrics(
            |m| {
                m.membership_config
                    .membership()
                    .voter_ids()
                    .collect::<BTreeSet<_>>()
                    == voters
            },
            "four voters",
        )
        .await
        .unwrap();
    let last = create(&members, "after-promotion").await;
    converge(&members, last).await;
    assert!(has_env(&members[3], "after-promotion").await);
    for m in members {
        m.stop().await;
    }
}
