//! Applying an app: the one transaction that makes the stored app and its services equal to a
//! spec, and the diff it amounts to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skiff_api::{AppSpec, ByteSize, Cpus, ServiceMode, ServiceSpec};

use super::diff::{
    app_fields, change, service_fields, AppDiff, ChangeKind, FieldChange, ObjectDiff,
};
use super::error::{PlanError, QuotaExcess};
use crate::objects::{App, Environment, Key, Kind, Name, Object, Rollout, Service};
use crate::state::{Command, Expect, Op, State};

/// What applying an app takes: one transaction, and what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPlan {
    /// A [`Command::Txn`]; with no ops when nothing changes.
    pub command: Command,
    /// What the command changes, for `?dry_run` and the CLI.
    pub diff: AppDiff,
}

impl AppPlan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.diff.is_empty()
    }
}

/// Plans applying `spec` to environment `env`, over `state` as the server read it.
///
/// The transaction puts the app (new at spec revision 1, or — when its spec changed — with the
/// previous spec pushed to its history and the revision one higher), puts each service whose
/// spec is new or changed (stamped with the app's spec revision after the apply), and deletes
/// the stored services the spec no longer has. Every key it read carries an expectation:
/// `Absent` for what it creates, the read revision for what it replaces or deletes, and a
/// [`Op::Check`] for the environment and for what it leaves as it is — so the transaction
/// conflicts if any of them changed in between. When nothing differs the transaction is empty.
///
/// The services of a replaced app keep their tasks; the orchestrator rolls changed services
/// out and removes the tasks of deleted ones.
pub fn apply_app(state: &State, env: &Name, spec: &AppSpec) -> Result<AppPlan, PlanError> {
    apply_app_with(state, env, spec, &|old, _| old.rollout.clone())
}

/// What a changed service's `rollout` becomes, from the stored service and the new spec
/// revision: an apply keeps it (the orchestrator starts the new rollout), a rollback the
/// operator asks for marks it started.
pub(super) type RolloutMark<'a> = &'a dyn Fn(&Service, u64) -> Option<Rollout>;

/// [`apply_app`], with what becomes of a changed service's rollout.
pub(super) fn apply_app_with(
    state: &State,
    env: &Name,
    spec: &AppSpec,
    mark: RolloutMark<'_>,
) -> Result<AppPlan, PlanError> {
    let app = Name::new(spec.name.as_str()).map_err(|source| PlanError::InvalidAppName {
        name: spec.name.clone(),
        source,
    })?;
    if spec.environment != env.as_str() {
        return Err(PlanError::EnvironmentMismatch {
            env: env.clone(),
            spec_env: spec.environment.clone(),
        });
    }
    let desired = service_names(spec)?;
    let env_key = Key::Environment { env: env.clone() };
    let (environment, env_revision) = match state.get(&env_key) {
        Some(record) => match &record.object {
            Object::Environment(e) => (e, record.mod_revision),
            _ => return Err(PlanError::NoSuchEnvironment { env: env.clone() }),
        },
        None => return Err(PlanError::NoSuchEnvironment { env: env.clone() }),
    };

    let mut plan = Builder::default();
    plan.check(env_key, env_revision);

    let app_key = Key::App {
        env: env.clone(),
        app: app.clone(),
    };
    let stored = state.get(&app_key).and_then(|r| match &r.object {
        Object::App(a) => Some((a, r.mod_revision)),
        _ => None,
    });
    let (from_revision, to_revision) = match stored {
        None => {
            let new = App::new(env.clone(), app.clone(), spec.clone(), 1);
            plan.write(app_key, Object::App(new), Expect::Absent, ChangeKind::Added);
            (None, 1)
        }
        Some((old, revision)) if old.spec != *spec => {
            let to = old.spec_revision + 1;
            let mut new = old.clone();
            new.push_spec(spec.clone(), to);
            let mut fields = vec![change(
                "spec_revision",
                Some(old.spec_revision.to_string()),
                Some(to.to_string()),
            )];
            fields.extend(app_fields(&old.spec, spec));
            plan.write(
                app_key,
                Object::App(new),
                Expect::Revision(revision),
                ChangeKind::Changed,
            );
            plan.last_fields(fields);
            (Some(old.spec_revision), to)
        }
        Some((old, revision)) => {
            plan.check(app_key, revision);
            (Some(old.spec_revision), old.spec_revision)
        }
    };

    plan_services(&mut plan, state, env, &app, &desired, to_revision, mark);

    if plan.writes > 0 {
        // The quota is judged from the other apps' services as read: they must not change
        // before this commits, or two concurrent applies could each fit and together not.
        let counted = check_quota(state, environment, &app, &desired)?;
        plan.checks.extend(counted);
    }
    Ok(plan.finish(AppDiff {
        env: env.clone(),
        app,
        from_revision,
        to_revision,
        objects: Vec::new(),
    }))
}

/// Adds the services' ops: create, replace, delete or check each, in name order.
fn plan_services(
    plan: &mut Builder,
    state: &State,
    env: &Name,
    app: &Name,
    desired: &BTreeMap<Name, &ServiceSpec>,
    to_revision: u64,
    mark: RolloutMark<'_>,
) {
    let stored_services = services_of(state, env, app);
    let mut names: Vec<&Name> = desired.keys().chain(stored_services.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let key = Key::Service {
            env: env.clone(),
            app: app.clone(),
            service: name.clone(),
        };
        // A changed service keeps its virtual IP (the orchestrator gives new ones theirs).
        let new = |spec: &ServiceSpec, vip, rollout| {
            Object::Service(Box::new(Service {
                env: env.clone(),
                app: app.clone(),
                name: name.clone(),
                spec_revision: to_revision,
                spec: spec.clone(),
                vip,
                rollout,
            }))
        };
        match (desired.get(name), stored_services.get(name)) {
            (Some(spec), None) => plan.write(
                key,
                new(spec, None, None),
                Expect::Absent,
                ChangeKind::Added,
            ),
            (Some(spec), Some((old, revision))) if old.spec != **spec => {
                let fields = service_fields(&old.spec, spec);
                plan.write(
                    key,
                    new(spec, old.vip, mark(old, to_revision)),
                    Expect::Revision(*revision),
                    ChangeKind::Changed,
                );
                plan.last_fields(fields);
            }
            (Some(_), Some((_, revision))) => plan.check(key, *revision),
            (None, Some((_, revision))) => plan.delete(key, *revision),
            (None, None) => {}
        }
    }
}

/// The spec's services by validated name.
fn service_names(spec: &AppSpec) -> Result<BTreeMap<Name, &ServiceSpec>, PlanError> {
    spec.services
        .iter()
        .map(|(name, service)| {
            Name::new(name.as_str())
                .map(|n| (n, service))
                .map_err(|source| PlanError::InvalidServiceName {
                    name: name.clone(),
                    source,
                })
        })
        .collect()
}

/// The stored services of an app, by name, with their revisions.
fn services_of<'a>(state: &'a State, env: &Name, app: &Name) -> BTreeMap<Name, (&'a Service, u64)> {
    let prefix = format!("{}{env}/{app}/", Kind::Service.prefix());
    state
        .list(&prefix)
        .into_iter()
        .filter_map(|r| match &r.object {
            Object::Service(s) => Some((s.name.clone(), (s.as_ref(), r.mod_revision))),
            _ => None,
        })
        .collect()
}

/// Collects the ops and the diff: writes in order, and the checks on what is read but kept.
#[derive(Default)]
struct Builder {
    checks: Vec<Op>,
    ops: Vec<Op>,
    objects: Vec<ObjectDiff>,
    writes: usize,
}

impl Builder {
    fn check(&mut self, key: Key, revision: u64) {
        if !matches!(key, Key::Environment { .. }) {
            self.objects
                .push(ObjectDiff::new(key.clone(), ChangeKind::Unchanged));
        }
        self.checks.push(Op::Check {
            key,
            expect: Expect::Revision(revision),
        });
    }

    fn write(&mut self, key: Key, object: Object, expect: Expect, change: ChangeKind) {
        self.objects.push(ObjectDiff::new(key.clone(), change));
        self.ops.push(Op::Put {
            key,
            object,
            expect,
        });
        self.writes += 1;
    }

    fn delete(&mut self, key: Key, revision: u64) {
        self.objects
            .push(ObjectDiff::new(key.clone(), ChangeKind::Removed));
        self.ops.push(Op::Delete {
            key,
            expect: Expect::Revision(revision),
        });
        self.writes += 1;
    }

    fn last_fields(&mut self, fields: Vec<FieldChange>) {
        if let Some(last) = self.objects.last_mut() {
            last.fields = fields;
        }
    }

    fn finish(self, mut diff: AppDiff) -> AppPlan {
        diff.objects = self.objects;
        let ops = if self.writes == 0 {
            Vec::new()
        } else {
            self.checks.into_iter().chain(self.ops).collect()
        };
        AppPlan {
            command: Command::Txn { ops },
            diff,
        }
    }
}

/// What a set of services reserves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    cpu_millis: u64,
    memory: u64,
    tasks: u64,
}

impl Usage {
    fn add(&mut self, spec: &ServiceSpec, global_nodes: u64) {
        let replicas = match spec.deploy.mode {
            ServiceMode::Replicated { replicas } => u64::from(replicas),
            ServiceMode::Global => global_nodes,
        };
        let reserved = spec.deploy.resources.reservations;
        let cpus = reserved.cpus.map_or(0, Cpus::millis);
        let memory = reserved.memory.map_or(0, |m| m.0);
        self.cpu_millis = self
            .cpu_millis
            .saturating_add(replicas.saturating_mul(cpus));
        self.memory = self.memory.saturating_add(replicas.saturating_mul(memory));
        self.tasks = self.tasks.saturating_add(replicas);
    }
}

/// Refuses an apply that takes the environment's reservations over its quota. Only a limit the
/// apply raises usage against is checked, so that an environment already over a lowered quota
/// can still scale down. A global service counts one task per node that the environment's node
/// selector admits (an upper bound: its placement constraints are not looked at). Answers a
/// check of every other app's service it counted, for the transaction to carry.
fn check_quota(
    state: &State,
    env: &Environment,
    app: &Name,
    desired: &BTreeMap<Name, &ServiceSpec>,
) -> Result<Vec<Op>, PlanError> {
    let quota = env.quota;
    if quota == Default::default() {
        return Ok(Vec::new());
    }
    let mut counted = Vec::new();
    let global_nodes = eligible_nodes(state, env);
    let (mut before, mut after) = (Usage::default(), Usage::default());
    let prefix = format!("{}{}/", Kind::Service.prefix(), env.name);
    for record in state.list(&prefix) {
        let Object::Service(service) = &record.object else {
            continue;
        };
        before.add(&service.spec, global_nodes);
        if service.app != *app {
            after.add(&service.spec, global_nodes);
            counted.push(Op::Check {
                key: record.key.clone(),
                expect: Expect::Revision(record.mod_revision),
            });
        }
    }
    for spec in desired.values() {
        after.add(spec, global_nodes);
    }
    let over = |limit: u64, before: u64, after: u64| after > limit && after > before;
    let excess = if let Some(limit) = quota
        .max_cpus
        .filter(|l| over(l.millis(), before.cpu_millis, after.cpu_millis))
    {
        Some(QuotaExcess::Cpus {
            requested: Cpus::from_millis(after.cpu_millis),
            limit,
        })
    } else if let Some(limit) = quota
        .max_memory
        .filter(|l| over(l.0, before.memory, after.memory))
    {
        Some(QuotaExcess::Memory {
            requested: ByteSize(after.memory),
            limit,
        })
    } else {
        quota
            .max_tasks
            .filter(|l| over(u64::from(*l), before.tasks, after.tasks))
            .map(|limit| QuotaExcess::Tasks {
                requested: after.tasks,
                limit,
            })
    };
    match excess {
        Some(excess) => Err(PlanError::QuotaExceeded {
            env: env.name.clone(),
            excess,
        }),
        None => Ok(counted),
    }
}

/// How many nodes carry every label of the environment's node selector.
fn eligible_nodes(state: &State, env: &Environment) -> u64 {
    let count = state
        .list(&Kind::Node.prefix())
        .into_iter()
        .filter(|r| match &r.object {
            Object::Node(node) => env
                .node_selector
                .iter()
                .all(|(k, v)| node.labels.get(k) == Some(v)),
            _ => false,
        })
        .count();
    u64::try_from(count).unwrap_or(u64::MAX)
}
