//! `skiff agent --simulate N`: N simulated nodes in one process, for the benchmark at scale.
//! Each node registers and holds its session for real (gRPC to the servers, sharing the
//! process's connections); a fake executor stands in for the engine and the reconciler: a task
//! wanted running is reported preparing, starting and running at once, a task wanted shut
//! down or removed is reported shut down.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skiff_proto::agent::TaskState;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::session::{Capacity, Outputs, ServerPool, Session, SessionConfig, SessionError};
use crate::{DesiredSet, StatusBoard, TaskStatus, Want};

/// What a simulated node says it has: 64 CPUs and 256 GiB.
pub const SIMULATED_CAPACITY: Capacity = Capacity {
    cpus_milli: 64_000,
    memory_bytes: 256 << 30,
};
/// Simulated node `k` says its agent is at `127.0.0.1:<SIMULATED_PORT_BASE + k>` (nothing
/// listens there: simulated nodes serve no logs or exec).
pub const SIMULATED_PORT_BASE: u16 = 20_000;
/// The most simulated nodes one process runs (their addresses' ports must stay valid).
pub const MAX_SIMULATED: usize = 40_000;

/// What a simulation needs to know.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// The servers, `host:port`.
    pub servers: Vec<String>,
    /// The token every call carries.
    pub token: Option<String>,
    /// How many nodes: `<prefix>-1` … `<prefix>-N`.
    pub nodes: usize,
    /// The start of the simulated nodes' ids (`sim` unless told otherwise), so that several
    /// simulations can join one cluster.
    pub prefix: String,
    /// Labels every simulated node has.
    pub labels: BTreeMap<String, String>,
    /// How often each node sends a heartbeat.
    pub heartbeat_interval: Duration,
}

/// Counters a simulation keeps, for progress reports.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Nodes registered.
    pub registered: AtomicUsize,
    /// Tasks reported running (and not since reported shut down).
    pub running: AtomicUsize,
    /// The connections of the simulated nodes, once made (for [`SimStats::take_problem`]).
    pool: std::sync::OnceLock<ServerPool>,
}

impl SimStats {
    /// The last problem a simulated node met (a failed registration, a lost session) since
    /// the last call: the nodes do not log, there are too many.
    pub fn take_problem(&self) -> Option<String> {
        self.pool.get().and_then(ServerPool::take_problem)
    }
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The number of nodes is out of range.
    #[error("--simulate {nodes}: simulate between 1 and {MAX_SIMULATED} nodes")]
    Nodes {
        /// The number asked.
        nodes: usize,
    },
    /// A node's session could not go on.
    #[error("simulated node {node}: {source}")]
    Session {
        /// The node.
        node: String,
        /// Why.
        source: SessionError,
    },
}

/// Runs the simulated nodes until `shutdown` turns true, or one of them meets an error it
/// cannot get past (a refused token), which stops them all.
pub async fn simulate(
    config: SimulateConfig,
    stats: Arc<SimStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SimulateError> {
    if config.nodes == 0 || config.nodes > MAX_SIMULATED {
        return Err(SimulateError::Nodes {
            nodes: config.nodes,
        });
    }
    let session_error = |node: &str| {
        let node = node.to_owned();
        move |source| SimulateError::Session { node, source }
    };
    let pool = ServerPool::new(config.token.as_deref())
        .map_err(|e| session_error(&format!("{}-1", config.prefix))(SessionError::Pool(e)))?;
    let _ = stats.pool.set(pool.clone());
    let (stop, stop_rx) = watch::channel(false);
    let mut nodes = JoinSet::new();
    for k in 1..=config.nodes {
        let node = format!("{}-{k}", config.prefix);
        let session = Session::with_pool(node_config(&config, k), pool.clone(), k - 1)
            .map_err(session_error(&node))?;
        let stats = stats.clone();
        let stop = stop_rx.clone();
        nodes.spawn(async move {
            run_node(session, stats, stop)
                .await
                .map_err(session_error(&node))
        });
    }
    let mut result = Ok(());
    loop {
        tokio::select! {
            _ = crate::session::stopped(&mut shutdown) => stop.send_replace(true),
            joined = nodes.join_next() => match joined {
                None => return result,
                Some(Ok(Ok(()))) => continue,
                Some(Ok(Err(e))) => {
                    stop.send_replace(true);
                    if result.is_ok() {
                        result = Err(e);
                    }
                    continue;
                }
                Some(Err(panic)) => std::panic::resume_unwind(panic.into_panic()),
            },
        };
    }
}

fn node_config(config: &SimulateConfig, k: usize) -> SessionConfig {
    SessionConfig {
        servers: config.servers.clone(),
        token: config.token.clone(),
        node_id: Some(format!("{}-{k}", config.prefix)),
        name: format!("{}-{k}", config.prefix),
        address: format!("127.0.0.1:{}", usize::from(SIMULATED_PORT_BASE) + k),
        labels: config.labels.clone(),
        capacity: SIMULATED_CAPACITY,
        heartbeat_interval: config.heartbeat_interval,
        data_dir: None,
        quiet: true,
    }
}

/// One simulated node: registration, then its session and fake executor side by side.
async fn run_node(
    session: Session,
    stats: Arc<SimStats>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), SessionError> {
    match session.register(&mut stop).await {
        Ok(_) => {}
        Err(SessionError::Stopped) => return Ok(()),
        Err(e) => return Err(e),
    }
    stats.registered.fetch_add(1, Ordering::Relaxed);
    let board = StatusBoard::new();
    // The peers and the service data go unread: a simulated node has no network to set up.
    let outputs = Outputs::new();
    let desired_rx = outputs.desired.subscribe();
    let mut session_stop = stop.clone();
    let held = session.hold(&board, &outputs, &mut session_stop);
    let executed = execute(desired_rx, &board, &stats, stop);
    let (held, ()) = tokio::join!(held, executed);
    held
}

/// The fake executor of one node: follows its desired set until `stop`.
async fn execute(
    mut desired: watch::Receiver<DesiredSet>,
    board: &StatusBoard,
    stats: &SimStats,
    mut stop: watch::Receiver<bool>,
) {
    let mut reported = HashMap::new();
    loop {
        tokio::select! {
            _ = crate::session::stopped(&mut stop) => return,
            changed = desired.changed() => if changed.is_err() { return },
        }
        let plan = plan(&desired.borrow_and_update(), &reported);
        let at_ms = now_ms();
        for step in plan {
            match step {
                Step::Report { task, states } => {
                    for state in states {
                        board.report(TaskStatus {
                            task_id: task.clone(),
                            state: state as i32,
                            at_ms,
                            ..Default::default()
                        });
                        count(stats, reported.get(&task).copied(), state);
                        reported.insert(task.clone(), state);
                    }
                }
                Step::Forget { task } => {
                    board.forget(&task);
                    count(stats, reported.remove(&task), TaskState::Shutdown);
                }
            }
        }
    }
}

/// Keeps `stats.running` in step with a task moving from `from` to `to`.
fn count(stats: &SimStats, from: Option<TaskState>, to: TaskState) {
    let was = from == Some(TaskState::Running);
    let is = to == TaskState::Running;
    if is && !was {
        stats.running.fetch_add(1, Ordering::Relaxed);
    } else if was && !is {
        stats.running.fetch_sub(1, Ordering::Relaxed);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the fake executor does about one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Report these states of the task, in order.
    Report {
        /// The task.
        task: String,
        /// The states.
        states: Vec<TaskState>,
    },
    /// The task is no longer assigned: forget it.
    Forget {
        /// The task.
        task: String,
    },
}

/// Whether a state is final (complete, failed, shut down, orphaned).
fn is_final(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Complete | TaskState::Failed | TaskState::Shutdown | TaskState::Orphaned
    )
}

/// What the fake executor does about `set`, given the state it last reported of each task:
/// a task wanted running moves through the states it has not reached yet (by the control
/// plane's record or the executor's own) up to running; a task wanted shut down or removed
/// that is not finished is reported shut down; once a full set arrived, tasks not in it are
/// forgotten.
pub fn plan(set: &DesiredSet, reported: &HashMap<String, TaskState>) -> Vec<Step> {
    const TO_RUNNING: [TaskState; 3] = [
        TaskState::Preparing,
        TaskState::Starting,
        TaskState::Running,
    ];
    let mut steps = Vec::new();
    for (id, task) in &set.tasks {
        let reached = match reported.get(id) {
            Some(state) if *state as i32 > task.observed as i32 => *state,
            _ => task.observed,
        };
        let states: Vec<TaskState> = match task.want {
            _ if is_final(reached) => Vec::new(),
            Want::Running => TO_RUNNING
                .into_iter()
                .filter(|s| *s as i32 > reached as i32)
                .collect(),
            Want::Shutdown | Want::Remove => vec![TaskState::Shutdown],
        };
        if !states.is_empty() {
            steps.push(Step::Report {
                task: id.clone(),
                states,
            });
        }
    }
    if set.complete {
        let mut gone: Vec<&String> = reported
            .keys()
            .filter(|id| !set.tasks.contains_key(*id))
            .collect();
        gone.sort();
        steps.extend(
            gone.into_iter()
                .map(|task| Step::Forget { task: task.clone() }),
        );
    }
    steps
}

#[cfg(test)]
mod tests {
    use skiff_proto::agent::{
        agent_message::Kind as Up, server_message::Kind as Down, Assignments, DesiredState,
        ServerMessage,
    };

    use super::*;
    use crate::session::fake::{assigned, eventually, FakeServer};
    use crate::DesiredTask;

    fn task(id: &str, want: DesiredState, observed: TaskState) -> DesiredTask {
        let mut wire = assigned(id, 1, want);
        wire.observed = observed as i32;
        DesiredTask::decode(&wire).unwrap()
    }

    fn set(complete: bool, tasks: Vec<DesiredTask>) -> DesiredSet {
        DesiredSet {
            revision: 1,
            complete,
            tasks: tasks.into_iter().map(|t| (t.id.clone(), t)).collect(),
        }
    }

    fn report(task: &str, states: &[TaskState]) -> Step {
        Step::Report {
            task: task.into(),
            states: states.to_vec(),
        }
    }

    #[test]
    fn the_fake_executor_runs_what_is_wanted_and_shuts_down_the_rest() {
        use TaskState::*;
        let run = DesiredState::Running;
        let stop = DesiredState::Shutdown;
        let tasks = vec![
            task("new", run, Assigned),
            task("half", run, Assigned),
            task("told-running", run, Running),
            task("done", run, Complete),
            task("stop", stop, Running),
            task("stopped", DesiredState::Remove, Shutdown),
        ];
        let reported =
            HashMap::from([("half".to_string(), Starting), ("old".to_string(), Running)]);
        let steps = plan(&set(true, tasks.clone()), &reported);
        assert_eq!(
            steps,
            [
                report("half", &[Running]),
                report("new", &[Preparing, Starting, Running]),
                report("stop", &[Shutdown]),
                Step::Forget { task: "old".into() },
            ]
        );
        // Before a full set, nothing is forgotten.
        let steps = plan(&set(false, tasks), &reported);
        assert!(!steps.contains(&Step::Forget { task: "old".into() }));
    }

    fn statuses_of(server: &FakeServer, node: &str) -> HashMap<String, TaskState> {
        server.with(|s| {
            let mut latest = HashMap::new();
            for record in s.sessions.iter().filter(|r| r.node_id() == Some(node)) {
                for message in &record.received {
                    if let Some(Up::Status(batch)) = &message.kind {
                        for status in &batch.statuses {
                            latest.insert(status.task_id.clone(), status.state());
                        }
                    }
                }
            }
            latest
        })
    }

    fn assignments(node: &str, full: bool, want: DesiredState) -> ServerMessage {
        let tasks = (1..=2)
            .map(|slot| assigned(&format!("{node}-t{slot}"), slot, want))
            .take(if full { 2 } else { 1 })
            .collect();
        ServerMessage {
            kind: Some(Down::Assignments(Assignments {
                revision: if full { 5 } else { 6 },
                full,
                tasks,
                removed: vec![],
            })),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_simulated_nodes_register_and_report_their_tasks() {
        const NODES: usize = 50;
        let server = FakeServer::start().await;
        let config = SimulateConfig {
            servers: vec![server.addr.clone()],
            token: Some("t".into()),
            nodes: NODES,
            prefix: "sim".into(),
            labels: BTreeMap::from([("sim".into(), "yes".into())]),
            heartbeat_interval: Duration::from_millis(200),
        };
        let stats = Arc::new(SimStats::default());
        let (stop, stop_rx) = watch::channel(false);
        let simulation = tokio::spawn(simulate(config, stats.clone(), stop_rx));
        // A session counts once its hello named the node: only then can it be sent to.
        eventually("every node holds a session", || {
            server.with(|s| {
                (1..=NODES).all(|k| {
                    let node = format!("sim-{k}");
                    s.sessions
                        .iter()
                        .any(|r| r.node_id() == Some(node.as_str()) && r.to_agent.is_some())
                })
            })
        })
        .await;
        assert_eq!(stats.registered.load(Ordering::Relaxed), NODES);
        server.with(|s| {
            let (first, token) = &s.registrations[0];
            assert_eq!((first.cpus_milli, first.memory_bytes), (64_000, 256 << 30));
            assert_eq!(token.as_deref(), Some("Bearer t"));
            assert_eq!(first.labels.get("sim").map(String::as_str), Some("yes"));
            let mut ids: Vec<_> = s
                .registrations
                .iter()
                .map(|(r, _)| r.node_id.clone())
                .collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), NODES);
        });
        let nodes: Vec<String> = (1..=NODES).map(|k| format!("sim-{k}")).collect();
        for node in &nodes {
            server
                .send(node, assignments(node, true, DesiredState::Running))
                .await;
        }
        eventually("every task reports running", || {
            nodes.iter().all(|node| {
                let latest = statuses_of(&server, node);
                latest.len() == 2 && latest.values().all(|s| *s == TaskState::Running)
            })
        })
        .await;
        assert_eq!(stats.running.load(Ordering::Relaxed), 2 * NODES);
        for node in &nodes {
            server
                .send(node, assignments(node, false, DesiredState::Shutdown))
                .await;
        }
        eventually("the first task of each node reports shut down", || {
            nodes.iter().all(|node| {
                statuses_of(&server, node).get(&format!("{node}-t1")) == Some(&TaskState::Shutdown)
            })
        })
        .await;
        assert_eq!(stats.running.load(Ordering::Relaxed), NODES);
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(10), simulation)
            .await
            .expect("the simulation stops")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_simulation_of_no_nodes_is_refused() {
        let config = SimulateConfig {
            servers: vec!["127.0.0.1:1".into()],
            token: None,
            nodes: 0,
            prefix: "sim".into(),
            labels: BTreeMap::new(),
            heartbeat_interval: Duration::from_secs(1),
        };
        let (_stop, stop_rx) = watch::channel(false);
        let err = simulate(config, Arc::default(), stop_rx).await.unwrap_err();
        assert!(err.to_string().starts_with("--simulate 0:"), "{err}");
    }
}
