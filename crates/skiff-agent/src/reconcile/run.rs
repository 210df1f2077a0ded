//! The reconciler's loop: watch the desired set, list the engine's containers, apply the
//! [`diff`](super::diff::diff), restart what exits (per the restart policy), run healthchecks,
//! and report every change of a task's status to the [`StatusBoard`].
//!
//! Engine operations run in blocking threads, one at a time per task (a task with an
//! operation in flight is left out of the passes until it ends); their results come back to
//! the loop, which alone changes the tasks' state. Exits are found by listing the containers
//! every poll interval. The loop keeps in memory only what the engine does not know (restart
//! history, health, the last status); after an agent restart it starts from the engine's
//! containers and adopts the running ones.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use skiff_proto::agent::{Health, TaskState};
use tokio::sync::{mpsc, watch};

use super::diff::{diff, Action};
use super::engine::{ContainerState, ContainerView, NodeEngine, NodeError};
use super::track::{Phase, Tracked};
use crate::desired::{DesiredSet, DesiredTask, Want};
use crate::health::{run_check, CheckResult, HealthRule};
use crate::restart::{Decision, GiveUpReason};
use crate::status::{StatusBoard, TaskStatus};
use crate::translate::{translate, TranslateOptions};
use skiff_engine::network::service::ServicePort;

/// How the reconciler runs.
#[derive(Debug, Clone)]
pub struct ReconcilerOptions {
    /// How tasks become containers on this node.
    pub translate: TranslateOptions,
    /// How often the containers are listed (exits are found this way).
    pub poll_interval: Duration,
    /// Publish the node's ingress ports from its own tasks (node-local ingress). Off in an
    /// agent whose session carries the cluster's service data: the routing mesh
    /// ([`crate::services`]) publishes them on every node over every node's tasks.
    pub local_ingress: bool,
    /// How long a running task the control plane wants stopped keeps running before its stop
    /// signal: the control plane has taken it out of its service's traffic at the same moment,
    /// and every node's virtual IPs and ingress ports need that long to let it go, so that no
    /// new connection reaches a container that is going (Kubernetes users get the same with a
    /// `preStop` sleep). Zero by default; the agent uses [`DEFAULT_DRAIN`].
    pub drain: Duration,
}

/// The agent's drain time (see [`ReconcilerOptions::drain`]): the convergence of a change of
/// endpoints is measured in tens of milliseconds (docs/services.md), with ample room.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(1);

impl Default for ReconcilerOptions {
    fn default() -> Self {
        ReconcilerOptions {
            translate: TranslateOptions::default(),
            poll_interval: Duration::from_millis(200),
            local_ingress: true,
            drain: Duration::ZERO,
        }
    }
}

/// Keeps the node's containers at the desired set. See the module documentation.
#[derive(Debug)]
pub struct Reconciler {
    engine: Arc<dyn NodeEngine>,
    board: StatusBoard,
    opts: ReconcilerOptions,
    tasks: BTreeMap<String, Tracked>,
    busy: BTreeSet<String>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// The last failure to list the containers, reported once per change.
    list_error: Option<NodeError>,
    /// The service ports last handed to the engine (whether it took them or not): handed
    /// again only when they change.
    service_ports: Option<Vec<ServicePort>>,
}

/// The end of an engine operation.
#[derive(Debug)]
enum Done {
    /// A create-and-start, or a restart; the view of the running container.
    Started {
        task: String,
        result: Result<ContainerView, NodeError>,
    },
    Stopped {
        task: String,
        result: Result<(), NodeError>,
    },
    Removed {
        task: String,
        result: Result<(), NodeError>,
    },
    Checked {
        task: String,
        run: u64,
        result: CheckResult,
    },
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Reconciler {
    /// A reconciler over `engine`, reporting to `board`.
    pub fn new(engine: Arc<dyn NodeEngine>, board: StatusBoard, opts: ReconcilerOptions) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Reconciler {
            engine,
            board,
            opts,
            tasks: BTreeMap::new(),
            busy: BTreeSet::new(),
            done_tx,
            done_rx,
            list_error: None,
            service_ports: None,
        }
    }

    /// Runs until `shutdown` completes or the desired set's sender is dropped. Containers are
    /// left as they are when it returns: a new reconciler adopts the running ones.
    pub async fn run(
        mut self,
        mut desired: watch::Receiver<DesiredSet>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(self.opts.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let set = desired.borrow_and_update().clone();
            self.pass(&set).await;
            tokio::select! {
                () = &mut shutdown => return,
                changed = desired.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
                Some(done) = self.done_rx.recv() => self.on_done(done, &set),
            }
            while let Ok(done) = self.done_rx.try_recv() {
                self.on_done(done, &set);
            }
        }
    }

    /// One pass: list, diff, apply; then due restarts and healthchecks.
    async fn pass(&mut self, set: &DesiredSet) {
        let engine = self.engine.clone();
        let listed = tokio::task::spawn_blocking(move || engine.list()).await;
        let observed = match listed {
            Ok(Ok(observed)) => {
                self.list_error = None;
                observed
            }
            Ok(Err(e)) => {
                if self.list_error.as_ref() != Some(&e) {
                    eprintln!("skiff agent: cannot list the containers: {e}");
                    self.list_error = Some(e);
                }
                return;
            }
            Err(_) => return,
        };
        let now = Instant::now();
        for action in diff(set, &observed) {
            if !self.busy.contains(action.task()) {
                self.apply(action, set, &observed, now);
            }
        }
        self.settle(set, &observed);
        if self.opts.local_ingress {
            self.publish(set, &observed).await;
        }
        self.due(now);
    }

    fn apply(
        &mut self,
        action: Action,
        set: &DesiredSet,
        observed: &[ContainerView],
        now: Instant,
    ) {
        let desired = set.tasks.get(action.task());
        match (action, desired) {
            (Action::Create { .. }, Some(d)) => self.create(d, None),
            (Action::Start { task, container }, Some(d)) => {
                if self.tracked(d).phase != Phase::Over {
                    self.spawn_start(task, container, false);
                }
            }
            (Action::Adopt { container, .. }, Some(d)) => {
                let view = observed.iter().find(|c| c.id == container);
                self.adopt(d, view, now, "running container adopted");
            }
            (
                Action::Exited {
                    container,
                    exit_code,
                    ..
                },
                Some(d),
            ) => {
                let dead = observed
                    .iter()
                    .any(|c| c.id == container && c.state == ContainerState::Dead);
                self.exited(d, &container, exit_code, dead, now);
            }
            (Action::Stop { task, container }, _) => {
                let drain = self.opts.drain;
                self.spawn(task.clone(), move |e| {
                    std::thread::sleep(drain);
                    Done::Stopped {
                        task,
                        result: e.stop(&container),
                    }
                });
            }
            (Action::Remove { task, container }, _) => {
                self.spawn(task.clone(), move |e| Done::Removed {
                    task,
                    result: e.remove(&container),
                });
            }
            // The diff only names desired tasks in these.
            (_, None) => {}
        }
    }

    fn tracked(&mut self, d: &DesiredTask) -> &mut Tracked {
        self.tasks
            .entry(d.id.clone())
            .or_insert_with(|| Tracked::new(d))
    }

    /// Reports a change of a task's status: `change` edits the last one.
    fn report(&mut self, task: &str, change: impl FnOnce(&mut TaskStatus)) {
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        change(&mut t.status);
        t.status.restart_count = t.restart_count;
        t.status.at_ms = now_ms();
        self.board.report(t.status.clone());
    }

    /// Translates, pulls, creates and starts the task's container (`replace`: a dead
    /// container to remove first).
    fn create(&mut self, d: &DesiredTask, replace: Option<String>) {
        if self.tracked(d).phase == Phase::Over {
            return;
        }
        let translation = match translate(d, &self.opts.translate) {
            Ok(t) => t,
            Err(e) => return self.give_up(&d.id, TaskState::Failed, e.to_string()),
        };
        let notes: Vec<String> = translation.notes.iter().map(|n| n.to_string()).collect();
        let notes = notes.join("; ");
        self.tracked(d).notes = notes.clone();
        self.report(&d.id, |s| {
            s.state = TaskState::Preparing as i32;
            s.message = notes;
        });
        let task = d.id.clone();
        self.spawn(task.clone(), move |e| {
            let result = (|| {
                if let Some(old) = replace {
                    e.remove(&old)?;
                }
                e.ensure_image(&translation.config.image)?;
                for dir in &translation.host_dirs {
                    std::fs::create_dir_all(dir).map_err(|err| NodeError {
                        op: "create host directory",
                        subject: dir.display().to_string(),
                        message: err.to_string(),
                    })?;
                }
                let created = e.create(translation.config)?;
                e.start(&created.id)
            })();
            Done::Started { task, result }
        });
    }

    fn spawn_start(&mut self, task: String, container: String, dead: bool) {
        if dead {
            let d = self.tasks.get(&task).map(|t| t.desired.clone());
            if let Some(d) = d {
                self.create(&d, Some(container));
            }
            return;
        }
        self.spawn(task.clone(), move |e| Done::Started {
            task,
            result: e.start(&container),
        });
    }

    /// Runs `op` on the engine in a blocking thread; the task is busy until it ends.
    fn spawn(&mut self, task: String, op: impl FnOnce(&dyn NodeEngine) -> Done + Send + 'static) {
        self.busy.insert(task.clone());
        let (engine, tx) = (self.engine.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            let done = tokio::task::spawn_blocking(move || op(engine.as_ref())).await;
            let done = done.unwrap_or_else(|e| Done::Started {
                task: task.clone(),
                result: Err(NodeError {
                    op: "engine operation",
                    subject: task,
                    message: e.to_string(),
                }),
            });
            let _ = tx.send(done);
        });
    }
}

impl Reconciler {
    /// Keeps a running container: the task's from now on (after an agent restart, or a
    /// container found running), never restarted for it.
    fn adopt(&mut self, d: &DesiredTask, view: Option<&ContainerView>, now: Instant, why: &str) {
        let Some(view) = view else { return };
        let t = self.tracked(d);
        if t.container.as_deref() == Some(&view.id)
            && t.phase == Phase::Running
            && t.started.is_some()
        {
            return;
        }
        t.run_started(view, now);
        let message = why.to_owned();
        let health = t.health.as_ref().map(|h| h.status());
        let (id, ip) = (view.id.clone(), view.ip.clone().unwrap_or_default());
        self.report(&d.id, |s| {
            s.state = TaskState::Running as i32;
            s.container_id = id;
            s.ip = ip;
            s.exit_code = None;
            s.health = health.unwrap_or(Health::Unknown) as i32;
            s.message = message;
        });
    }

    /// The task's container ended: restart it (in place, after the back-off) or give up.
    fn exited(
        &mut self,
        d: &DesiredTask,
        container: &str,
        exit_code: Option<i32>,
        dead: bool,
        now: Instant,
    ) {
        let t = self.tracked(d);
        if t.container.as_deref() == Some(container) && t.phase != Phase::Running {
            return; // already decided
        }
        if t.phase == Phase::Over {
            return;
        }
        t.container = Some(container.to_owned());
        t.health = None;
        let code = exit_code.unwrap_or(-1);
        let ran = t
            .started
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        let why = match (t.unhealthy.take(), exit_code) {
            (Some(detail), _) => format!("unhealthy ({detail}), stopped"),
            (None, Some(code)) => format!("exited with code {code}"),
            (None, None) => "its shim died".to_owned(),
        };
        match t.restart.on_exit(code, ran, now) {
            Decision::RestartAt { at, attempt } => {
                t.phase = Phase::RestartAt { at, dead };
                t.restart_count += 1;
                let wait = at.saturating_duration_since(now);
                self.report(&d.id, |s| {
                    s.state = TaskState::Starting as i32;
                    s.exit_code = exit_code;
                    s.health = Health::Unknown as i32;
                    s.message = format!("{why}; restart {attempt} in a row in {wait:?}");
                });
            }
            Decision::GiveUp { failed, reason } => {
                let state = if failed {
                    TaskState::Failed
                } else {
                    TaskState::Complete
                };
                let reason = match reason {
                    GiveUpReason::Condition => "its restart condition does not restart it".into(),
                    GiveUpReason::MaxAttempts(n) => {
                        format!("{n} restarts were made (max_attempts)")
                    }
                };
                self.report(&d.id, |s| s.exit_code = exit_code);
                self.give_up(&d.id, state, format!("{why}; {reason}"));
            }
        }
    }

    /// The task is over on this node.
    fn give_up(&mut self, task: &str, state: TaskState, message: String) {
        if let Some(t) = self.tasks.get_mut(task) {
            t.phase = Phase::Over;
            t.health = None;
        }
        self.report(task, |s| {
            s.state = state as i32;
            s.message = message;
            s.health = Health::Unknown as i32;
        });
    }

    /// Tasks wanted stopped whose container no longer runs are reported shut down.
    fn settle(&mut self, set: &DesiredSet, observed: &[ContainerView]) {
        for d in set.tasks.values().filter(|d| d.want != Want::Running) {
            let running = observed.iter().any(|c| {
                c.state == ContainerState::Running
                    && c.labels.get(crate::translate::LABEL_TASK) == Some(&d.id)
            });
            if running || self.busy.contains(&d.id) {
                continue;
            }
            let t = self.tracked(d);
            if t.phase == Phase::Over {
                continue;
            }
            if t.container.is_none() && matches!(d.observed, TaskState::Shutdown) {
                t.phase = Phase::Over; // reported by an earlier agent
                continue;
            }
            let id = d.id.clone();
            self.give_up(
                &id,
                TaskState::Shutdown,
                "stopped as the control plane asked".into(),
            );
        }
    }

    /// Starts the restarts and healthchecks that are due.
    fn due(&mut self, now: Instant) {
        let mut restarts = Vec::new();
        let mut checks = Vec::new();
        for (id, t) in &self.tasks {
            if self.busy.contains(id) {
                continue;
            }
            match (&t.phase, &t.container, &t.health) {
                (Phase::RestartAt { at, dead }, Some(c), _) if *at <= now => {
                    restarts.push((id.clone(), c.clone(), *dead));
                }
                (Phase::Running, Some(c), Some(h)) if !t.checking && h.next_check() <= now => {
                    checks.push((id.clone(), c.clone(), t.run, h.rule().clone()));
                }
                _ => {}
            }
        }
        for (task, container, dead) in restarts {
            if let Some(t) = self.tasks.get_mut(&task) {
                t.phase = Phase::Running;
            }
            self.spawn_start(task, container, dead);
        }
        for (task, container, run, rule) in checks {
            self.check(task, container, run, rule);
        }
    }

    /// Runs one healthcheck; the task is not busy meanwhile (a stop may come first).
    fn check(&mut self, task: String, container: String, run: u64, rule: HealthRule) {
        if let Some(t) = self.tasks.get_mut(&task) {
            t.checking = true;
        }
        let (engine, tx) = (self.engine.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            let result = run_check(engine, container, &rule).await;
            let _ = tx.send(Done::Checked { task, run, result });
        });
    }

    fn on_done(&mut self, done: Done, set: &DesiredSet) {
        match done {
            Done::Started { task, result } => {
                self.busy.remove(&task);
                match result {
                    Ok(view) => {
                        if let Some(t) = self.tasks.get_mut(&task) {
                            t.started = None; // a new run
                            let (d, notes) = (t.desired.clone(), t.notes.clone());
                            self.adopt(&d, Some(&view), Instant::now(), &notes);
                        }
                    }
                    Err(e) => self.give_up(&task, TaskState::Failed, e.to_string()),
                }
            }
            Done::Stopped { task, result } => {
                self.busy.remove(&task);
                if let Err(e) = result {
                    self.report(&task, |s| s.message = e.to_string());
                }
            }
            Done::Removed { task, result } => {
                self.busy.remove(&task);
                match result {
                    Err(e) => self.report(&task, |s| s.message = e.to_string()),
                    Ok(()) if !set.tasks.contains_key(&task) => {
                        self.tasks.remove(&task);
                        self.board.forget(&task);
                    }
                    Ok(()) => {}
                }
            }
            Done::Checked { task, run, result } => self.checked(&task, run, result),
        }
    }

    /// A healthcheck's result: a new verdict is reported; unhealthy stops the container (its
    /// restart policy then decides).
    fn checked(&mut self, task: &str, run: u64, result: CheckResult) {
        let now = Instant::now();
        let Some(t) = self.tasks.get_mut(task) else {
            return;
        };
        if t.run != run || t.phase != Phase::Running {
            return; // a check of an earlier run
        }
        t.checking = false;
        let Some(container) = t.container.clone() else {
            return;
        };
        let Some(health) = t.health.as_mut() else {
            return;
        };
        let Some(verdict) = health.record(result.passed, now) else {
            return;
        };
        let detail = result.detail.clone();
        self.report(task, |s| {
            s.health = verdict as i32;
            // The output of a passing check is no news; a failing one's says why.
            s.message = match verdict {
                Health::Healthy => String::new(),
                _ => format!("healthcheck failed: {detail}"),
            };
        });
        if verdict == Health::Unhealthy && !self.busy.contains(task) {
            if let Some(t) = self.tasks.get_mut(task) {
                t.unhealthy = Some(result.detail);
            }
            let task = task.to_owned();
            self.spawn(task.clone(), move |e| Done::Stopped {
                task,
                result: e.stop(&container),
            });
        }
    }
}

#[path = "run_ingress.rs"]
mod ingress;

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
