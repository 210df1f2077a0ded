//! Routing the state's changes to the sessions they concern.
//!
//! One loop per server follows the applied state and works out, for each change, which nodes'
//! sessions it concerns: a task's change goes to the node it is assigned to (and to the one it
//! was, should that differ); a service's or a node's change goes to every session (a session
//! knows which of its tasks a service change touches, and any node's change may change every
//! node's overlay peers). Each session has a [`Mailbox`] where these accumulate until it takes
//! them, so a session works in proportion to its own node's changes rather than the cluster's:
//! a thousand sessions that each scanned every change did a thousand times the work, under the
//! state's read lock. The loop also keeps which tasks each node holds, so that a new session
//! builds its full set from its own tasks rather than from every task of the cluster.
//!
//! It keeps the service data of every environment too ([`super::endpoints`]) and which
//! environments each node runs tasks of: a round's change to an environment's data, encoded
//! once, goes to the nodes running tasks there (to every node when the environment publishes an
//! ingress port).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use skiff_core::{Event, EventKind, Key, Kind, Name, Object, State};
use tokio::sync::Notify;

use super::endpoints::{EndpointTables, EnvChange};
use crate::control::{Consistency, ControlPlane};

/// What changed for one node since its session last looked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Tasks that changed: assigned to the node now, or before the change.
    pub tasks: BTreeSet<String>,
    /// Services that changed.
    pub services: Vec<Key>,
    /// Whether some node changed (the overlay peers may differ).
    pub nodes: bool,
    /// Whether changes were lost (the watch history no longer reached back): the session must
    /// send the full set again.
    pub full: bool,
    /// Whether the environments the node runs tasks of changed: the session sends the whole
    /// service data of those it gained and clears those it lost.
    pub envs: bool,
    /// Changes to the service data of the node's environments, in order.
    pub endpoints: Vec<EnvChange>,
}

impl Touched {
    /// Everything `events` touch, whatever node they concern: what a lone session following
    /// the whole history would look at (and what the tests feed [`super::assign::View`]).
    pub fn of_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut touched = Touched::default();
        for event in events {
            match &event.key {
                Key::Task { id } => {
                    touched.tasks.insert(id.to_string());
                }
                key @ Key::Service { .. } => touched.add_service(key),
                Key::Node { .. } => touched.nodes = true,
                _ => {}
            }
        }
        touched
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
            && self.services.is_empty()
            && !self.nodes
            && !self.full
            && !self.envs
            && self.endpoints.is_empty()
    }

    fn add_service(&mut self, key: &Key) {
        if !self.services.contains(key) {
            self.services.push(key.clone());
        }
    }

    fn merge(&mut self, other: &Touched) {
        self.tasks.extend(other.tasks.iter().cloned());
        for key in &other.services {
            self.add_service(key);
        }
        self.nodes |= other.nodes;
        self.full |= other.full;
        self.envs |= other.envs;
        self.endpoints.extend(other.endpoints.iter().cloned());
    }
}

/// Where one session's changes accumulate.
#[derive(Debug, Default)]
struct Mailbox {
    touched: Mutex<Touched>,
    notify: Notify,
}

impl Mailbox {
    fn put(&self, touched: &Touched) {
        lock(&self.touched).merge(touched);
        // Stores a permit when the session is not waiting: no change is missed.
        self.notify.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while routing leaves plain data behind, still consistent enough to go on with.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The routing tables, and the sessions' mailboxes.
#[derive(Debug, Default)]
struct Routes {
    /// The revision the tables are up to, once they were first built.
    revision: Option<u64>,
    /// Task id → the node it is assigned to, and its environment.
    placed: HashMap<String, (Name, Name)>,
    /// Node → the ids of the tasks assigned to it.
    by_node: HashMap<Name, HashSet<String>>,
    /// Node → how many of its tasks each environment has.
    envs_of: HashMap<Name, HashMap<Name, usize>>,
    /// Nodes whose set of environments changed in the round under way.
    envs_changed: HashSet<Name>,
    /// The service data of every environment.
    endpoints: EndpointTables,
    /// The environments with an ingress port: every node gets their service data.
    ingress: std::collections::BTreeSet<Name>,
    /// Node → its sessions' mailboxes, by subscription number (a node may briefly have two
    /// sessions while a new one replaces an old one).
    mailboxes: HashMap<Name, Vec<(u64, Arc<Mailbox>)>>,
    next_subscription: u64,
}

impl Routes {
    /// Brings the tables to `state` and hands each session what concerns it.
    fn advance(&mut self, state: &State) {
        let mut per_node: HashMap<Name, Touched> = HashMap::new();
        let mut everyone = Touched::default();
        let events = match self.revision {
            Some(revision) => state.events_after(revision).ok(),
            None => None,
        };
        match events {
            Some(events) => {
                for event in events {
                    self.route(state, event, &mut per_node, &mut everyone);
                }
            }
            // The first round, or the history no longer reaches back: whoever subscribed
            // meanwhile sends its full set again.
            None => {
                self.rebuild(state);
                everyone.full = true;
            }
        }
        let revision = state.revision();
        self.revision = Some(revision);
        for node in self.envs_changed.drain() {
            per_node.entry(node).or_default().envs = true;
        }
        let ingress = self.endpoints.ingress_envs();
        if ingress != self.ingress {
            self.ingress = ingress;
            everyone.envs = true;
        }
        let changes = self.endpoints.take_changes(revision);
        for (node, boxes) in &self.mailboxes {
            let mut touched = per_node.remove(node).unwrap_or_default();
            let envs = self.envs_of.get(node);
            touched.endpoints.extend(
                changes
                    .iter()
                    .filter(|c| {
                        self.ingress.contains(&c.env)
                            || envs.is_some_and(|e| e.contains_key(&c.env))
                    })
                    .cloned(),
            );
            touched.merge(&everyone);
            if !touched.is_empty() {
                for (_, mailbox) in boxes {
                    mailbox.put(&touched);
                }
            }
        }
    }

    fn route(
        &mut self,
        state: &State,
        event: &Event,
        per_node: &mut HashMap<Name, Touched>,
        everyone: &mut Touched,
    ) {
        match &event.key {
            Key::Task { id } => {
                // A put carries the task; a delete, the task removed.
                let task = match &event.object {
                    Some(Object::Task(task)) => Some(task),
                    _ => None,
                };
                let now = task.filter(|_| event.kind == EventKind::Put);
                let id = id.to_string();
                if let Some(t) = task {
                    self.endpoints.task(state, &t.env, &id, now);
                }
                let node = now.and_then(|t| t.node.as_ref());
                let before = self.place(&id, node, task.map(|t| &t.env));
                for node in before.into_iter().chain(node.cloned()) {
                    per_node.entry(node).or_default().tasks.insert(id.clone());
                }
            }
            key @ Key::Service { .. } => {
                let service = match (event.kind, &event.object) {
                    (EventKind::Put, Some(Object::Service(s))) => Some(s.as_ref()),
                    _ => None,
                };
                self.endpoints.service(state, key, service);
                everyone.add_service(key);
            }
            Key::Node { .. } => everyone.nodes = true,
            _ => {}
        }
    }

    /// Records that task `id` of environment `env` is on `node` (or on none) and returns the
    /// node it was on before, if that was another.
    fn place(&mut self, id: &str, node: Option<&Name>, env: Option<&Name>) -> Option<Name> {
        let old = self.placed.get(id);
        if old.map(|(n, _)| n) == node {
            return None;
        }
        let before = match (node, env) {
            (Some(node), Some(env)) => {
                self.by_node
                    .entry(node.clone())
                    .or_default()
                    .insert(id.to_owned());
                let count = self
                    .envs_of
                    .entry(node.clone())
                    .or_default()
                    .entry(env.clone())
                    .or_default();
                *count += 1;
                if *count == 1 {
                    self.envs_changed.insert(node.clone());
                }
                self.placed
                    .insert(id.to_owned(), (node.clone(), env.clone()))
            }
            _ => self.placed.remove(id),
        };
        let (old, old_env) = before?;
        if let Some(ids) = self.by_node.get_mut(&old) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_node.remove(&old);
            }
        }
        if let Some(envs) = self.envs_of.get_mut(&old) {
            if let Some(count) = envs.get_mut(&old_env) {
                *count -= 1;
                if *count == 0 {
                    envs.remove(&old_env);
                    self.envs_changed.insert(old.clone());
                }
            }
            if envs.is_empty() {
                self.envs_of.remove(&old);
            }
        }
        Some(old)
    }

    /// Rebuilds the tables from every task and service of `state`.
    fn rebuild(&mut self, state: &State) {
        self.placed.clear();
        self.by_node.clear();
        self.envs_of.clear();
        self.endpoints.clear();
        for record in state.list(&Kind::Task.prefix()) {
            if let Object::Task(task) = &record.object {
                self.place(task.id.as_str(), task.node.as_ref(), Some(&task.env));
                self.endpoints
                    .task(state, &task.env, task.id.as_str(), Some(task));
            }
        }
        for record in state.list(&Kind::Service.prefix()) {
            if let Object::Service(service) = &record.object {
                self.endpoints.service(state, &record.key, Some(service));
            }
        }
        // Every session is told to start over: a change of the rebuild means nothing.
        self.envs_changed.clear();
        self.ingress = self.endpoints.ingress_envs();
        self.endpoints.take_changes(0);
    }
}

/// The router of one server. Cloning is cheap; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    routes: Arc<Mutex<Routes>>,
}

/// One session's subscription: its mailbox, taken out of the router when dropped.
#[derive(Debug)]
pub struct Subscription {
    number: u64,
    node: Name,
    mailbox: Arc<Mailbox>,
    routes: Arc<Mutex<Routes>>,
}

impl Dispatcher {
    /// Starts following `control`'s state on the current tokio runtime; the loop ends when
    /// Raft stops.
    pub fn start(control: ControlPlane) -> Self {
        let dispatcher = Self::default();
        tokio::spawn(dispatcher.clone().follow(control));
        dispatcher
    }

    async fn follow(self, control: ControlPlane) {
        let mut metrics = control.raft().metrics();
        let mut seen = None;
        loop {
            let applied = metrics
                .borrow_and_update()
                .last_applied
                .map_or(0, |l| l.index);
            if seen.is_none_or(|seen| applied > seen) {
                seen = Some(applied);
                let routed = control
                    .read(Consistency::Stale, |state| {
                        lock(&self.routes).advance(state)
                    })
                    .await;
                if routed.is_err() {
                    return;
                }
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    }

    /// Subscribes a session of `node` to the changes that concern it. Every change the router
    /// has not yet routed reaches the mailbox, so a session that subscribes, then reads the
    /// state for its full set from [`Subscription::tasks`], misses nothing.
    pub fn subscribe(&self, node: &Name) -> Subscription {
        let mut routes = lock(&self.routes);
        routes.next_subscription += 1;
        let number = routes.next_subscription;
        let mailbox = Arc::new(Mailbox::default());
        routes
            .mailboxes
            .entry(node.clone())
            .or_default()
            .push((number, mailbox.clone()));
        Subscription {
            number,
            node: node.clone(),
            mailbox,
            routes: self.routes.clone(),
        }
    }
}

impl Subscription {
    /// The environments whose service data the node needs — those it runs tasks of, and
    /// those with an ingress port (every node publishes those) — and the router's revision.
    pub fn envs(&self) -> (Vec<Name>, u64) {
        let routes = lock(&self.routes);
        let mut envs: Vec<Name> = routes
            .envs_of
            .get(&self.node)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        envs.extend(routes.ingress.iter().cloned());
        envs.sort();
        envs.dedup();
        (envs, routes.revision.unwrap_or(0))
    }

    /// The whole service data of `env`, encoded, and the router's revision it is at.
    pub fn endpoints(&self, env: &Name) -> (Bytes, u64) {
        let routes = lock(&self.routes);
        (routes.endpoints.full(env), routes.revision.unwrap_or(0))
    }

    /// The ids of the tasks assigned to the node as far as the router knows, in order.
    pub fn tasks(&self) -> Vec<String> {
        let routes = lock(&self.routes);
        let mut ids: Vec<String> = routes
            .by_node
            .get(&self.node)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Waits until something concerning the node changed, and takes it.
    pub async fn changed(&self) -> Touched {
        loop {
            let touched = std::mem::take(&mut *lock(&self.mailbox.touched));
            if !touched.is_empty() {
                return touched;
            }
            self.mailbox.notify.notified().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut routes = lock(&self.routes);
        if let Some(boxes) = routes.mailboxes.get_mut(&self.node) {
            boxes.retain(|(number, _)| *number != self.number);
            if boxes.is_empty() {
                routes.mailboxes.remove(&self.node);
            }
        }
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
