//! Waiting until an applied app runs: what `skiff apply` (unless `--detach`) and `skiff dev`
//! show while the control plane places its tasks and the agents start them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use skiff_api::ServiceMode;
use skiff_client::{Client, Error, TaskFilter};
use skiff_core::objects::{DesiredState, Rollout, RolloutState, Service, Task, TaskState};
use skiff_core::Object;

/// How a service stands: its tasks wanted running, how many of those run the current spec,
/// the notes of those that do not run (a pending task's reason, a failure), and its rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceProgress {
    /// The tasks it should have (global services: the tasks the orchestrator made).
    pub wanted: usize,
    /// Tasks of the current spec observed running.
    pub running: usize,
    /// Why some do not run yet, one line each.
    pub notes: Vec<String>,
    /// The rollout of the change being waited for, while it goes: `2 of 6 updated`.
    pub rolling: Option<String>,
    /// Why the change failed: its rollout paused or rolled back.
    pub failed: Option<String>,
}

/// The app's services and their progress, by service name. `applied` is the app's spec
/// revision the wait is for: a rollout of that revision (or later) that pauses or rolls back
/// fails the wait, one still going keeps it waiting. Without it, only tasks are looked at.
pub fn progress(
    services: &[&Service],
    tasks: &[&Task],
    applied: Option<u64>,
) -> BTreeMap<String, ServiceProgress> {
    let mut out = BTreeMap::new();
    for service in services {
        let current: Vec<&&Task> = tasks
            .iter()
            .filter(|t| t.service == service.name && t.desired == DesiredState::Running)
            .collect();
        let wanted = match service.mode() {
            ServiceMode::Replicated { replicas } => replicas as usize,
            ServiceMode::Global => current.len(),
        };
        let up_to_date = |t: &&&Task| t.spec_revision == service.spec_revision;
        let running = current
            .iter()
            .filter(|t| up_to_date(t) && t.observed == TaskState::Running)
            .count();
        let notes = current
            .iter()
            .filter(|t| t.observed != TaskState::Running && !t.message.is_empty())
            .map(|t| format!("{}: {}", super::listing::word(&t.observed), t.message))
            .collect();
        let (rolling, failed) = match (&service.rollout, applied) {
            (Some(r), Some(applied)) => judge_rollout(r, applied, wanted),
            _ => (None, None),
        };
        out.insert(
            service.name.to_string(),
            ServiceProgress {
                wanted,
                running,
                notes,
                rolling,
                failed,
            },
        );
    }
    out
}

/// What a service's rollout says of the change to app revision `applied`: still going (how
/// far), or failed (why).
fn judge_rollout(r: &Rollout, applied: u64, wanted: usize) -> (Option<String>, Option<String>) {
    match r.state {
        RolloutState::Updating if r.to_revision >= applied => {
            (Some(format!("{} of {wanted} updated", r.updated)), None)
        }
        RolloutState::Paused if r.to_revision >= applied => (None, Some(r.message.clone())),
        RolloutState::RollbackStarted
        | RolloutState::RollbackPaused
        | RolloutState::RollbackCompleted
            if r.from_revision >= applied =>
        {
            let word = match r.state {
                RolloutState::RollbackCompleted => "rolled back",
                RolloutState::RollbackPaused => "rollback paused",
                _ => "rolling back",
            };
            (None, Some(format!("{word}: {}", r.message)))
        }
        _ => (None, None),
    }
}

/// Whether every service runs all it should, its rollout done.
pub fn done(progress: &BTreeMap<String, ServiceProgress>) -> bool {
    progress
        .values()
        .all(|p| p.running >= p.wanted && p.rolling.is_none() && p.failed.is_none())
}

/// Whether a service's change failed (its rollout paused or rolled back).
pub fn failed(progress: &BTreeMap<String, ServiceProgress>) -> bool {
    progress.values().any(|p| p.failed.is_some())
}

/// One line for people: `web 2/3 (rolling out: 2 of 3 updated), worker 3/3`.
pub fn summary(progress: &BTreeMap<String, ServiceProgress>) -> String {
    progress
        .iter()
        .map(|(name, p)| {
            let mut text = format!("{name} {}/{}", p.running, p.wanted);
            if let Some(rolling) = &p.rolling {
                text.push_str(&format!(" (rolling out: {rolling})"));
            }
            if p.failed.is_some() {
                text.push_str(" (failed)");
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls the app's services and tasks until they all run (and the rollouts of app revision
/// `applied` completed) or `timeout` passes, printing a line on stderr each time the picture
/// changes. Answers whether it got there; when not (a rollout paused or rolled back, or the
/// time ran out), the reasons were printed.
pub async fn until_running(
    client: &Client,
    env: &str,
    app: &str,
    applied: Option<u64>,
    timeout: Duration,
) -> Result<bool, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let terminal = std::io::stderr().is_terminal();
    let mut last = String::new();
    loop {
        let services = client.list_services(env, Some(app)).await?;
        let filter = TaskFilter {
            env: Some(env.to_owned()),
            app: Some(app.to_owned()),
            ..TaskFilter::default()
        };
        let tasks = client.list_tasks(&filter).await?;
        let services: Vec<&Service> = services
            .items
            .iter()
            .filter_map(|r| match &r.object {
                Object::Service(s) => Some(s.as_ref()),
                _ => None,
            })
            .collect();
        let tasks: Vec<&Task> = tasks
            .items
            .iter()
            .filter_map(|r| match &r.object {
                Object::Task(t) => Some(t),
                _ => None,
            })
            .collect();
        let now = progress(&services, &tasks, applied);
        let line = format!("{app}: {}", summary(&now));
        let finished = done(&now) || failed(&now);
        if line != last {
            if terminal && !finished {
                eprint!("\r\x1b[K{line}");
            } else if terminal {
                eprintln!("\r\x1b[K{line}");
            } else {
                eprintln!("{line}");
            }
            last = line;
        }
        if failed(&now) {
            for (name, p) in &now {
                if let Some(why) = &p.failed {
                    eprintln!("{name}: {why}");
                }
            }
            eprintln!(
                "(`skiff rollout status {app}` shows the rollout, `skiff ps {app}` the tasks)"
            );
            return Ok(false);
        }
        if finished {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            if terminal {
                eprintln!();
            }
            eprintln!("{app} is not running after {} s:", timeout.as_secs());
            for (name, p) in &now {
                for note in p.notes.iter().take(5) {
                    eprintln!("  {name}: {note}");
                }
            }
            eprintln!("(`skiff ps {app}` shows every task)");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use skiff_core::objects::{Health, Slot, Timestamp};
    use skiff_core::Name;
    use skiff_manifest::{load, MemoryLoader, Options};

    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn services() -> Vec<Service> {
        let yaml = "services:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n  mon:\n    image: busybox\n    deploy:\n      mode: global\n";
        let loader = MemoryLoader::new().with("/app/compose.yaml", yaml);
        let mut options = Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        let spec = load(&options, &loader).unwrap().spec;
        spec.services
            .into_iter()
            .map(|(n, spec)| Service {
                env: name("dev"),
                app: name("shop"),
                name: name(&n),
                spec_revision: 2,
                spec,
                vip: None,
                rollout: None,
            })
            .collect()
    }

    fn task(service: &str, slot: u32, revision: u64, observed: TaskState, message: &str) -> Task {
        Task {
            id: name(&format!("{service}{slot}r{revision}")),
            env: name("dev"),
            app: name("shop"),
            service: name(service),
            slot: Slot::Replica(slot),
            spec_revision: revision,
            desired: DesiredState::Running,
            node: None,
            observed,
            message: message.into(),
            container_id: None,
            ip: None,
            exit_code: None,
            restart_count: 0,
            health: Health::Unknown,
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        }
    }

    #[test]
    fn progress_counts_running_tasks_of_the_current_spec_and_says_why_others_wait() {
        let services = services();
        let services: Vec<&Service> = services.iter().collect();
        let tasks = [
            task("web", 1, 2, TaskState::Running, ""),
            task("web", 2, 1, TaskState::Running, ""),
            task(
                "mon",
                1,
                2,
                TaskState::Pending,
                "no suitable node (1 node down)",
            ),
        ];
        let tasks: Vec<&Task> = tasks.iter().collect();
        let now = progress(&services, &tasks, None);
        assert_eq!(now["web"].wanted, 2);
        assert_eq!(now["web"].running, 1, "the old spec's task does not count");
        assert_eq!(now["mon"].wanted, 1);
        assert_eq!(
            now["mon"].notes,
            ["pending: no suitable node (1 node down)"]
        );
        assert_eq!(summary(&now), "mon 0/1, web 1/2");
        assert!(!done(&now));
        let all = [
            task("web", 1, 2, TaskState::Running, ""),
            task("web", 2, 2, TaskState::Running, ""),
            task("mon", 1, 2, TaskState::Running, ""),
        ];
        let all: Vec<&Task> = all.iter().collect();
        assert!(done(&progress(&services, &all, None)));
    }

    #[test]
    fn a_rollout_keeps_the_wait_going_and_a_pause_or_rollback_fails_it() {
        let mut services = services();
        let tasks = [
            task("web", 1, 2, TaskState::Running, ""),
            task("web", 2, 2, TaskState::Running, ""),
            task("mon", 1, 2, TaskState::Running, ""),
        ];
        let tasks: Vec<&Task> = tasks.iter().collect();
        let web = services
            .iter_mut()
            .find(|s| s.name.as_str() == "web")
            .unwrap();
        let mut rollout = Rollout::start(RolloutState::Updating, 1, 2, Timestamp(1));
        rollout.updated = 2;
        web.rollout = Some(rollout.clone());
        let at = |services: &[Service], applied| {
            let refs: Vec<&Service> = services.iter().collect();
            progress(&refs, &tasks, applied)
        };
        let now = at(&services, Some(2));
        assert_eq!(
            summary(&now),
            "mon 1/1, web 2/2 (rolling out: 2 of 2 updated)"
        );
        assert!(!done(&now), "the monitor window is not over");
        assert!(done(&at(&services, None)), "without a revision, tasks only");
        assert!(
            done(&at(&services, Some(3))),
            "an older rollout is not waited for"
        );

        let set = |services: &mut Vec<Service>, state, message: &str| {
            let web = services
                .iter_mut()
                .find(|s| s.name.as_str() == "web")
                .unwrap();
            let mut r = rollout.clone();
            r.state = state;
            r.message = message.into();
            web.rollout = Some(r);
        };
        set(&mut services, RolloutState::Completed, "update completed");
        assert!(done(&at(&services, Some(2))));
        set(
            &mut services,
            RolloutState::Paused,
            "update paused: 1 of 2 new tasks failed",
        );
        let now = at(&services, Some(2));
        assert!(failed(&now));
        assert_eq!(
            now["web"].failed.as_deref(),
            Some("update paused: 1 of 2 new tasks failed")
        );
        // Rolled back from revision 2 to a revision 3 that restores revision 1.
        set(
            &mut services,
            RolloutState::RollbackCompleted,
            "rollback completed",
        );
        let web = services
            .iter_mut()
            .find(|s| s.name.as_str() == "web")
            .unwrap();
        let r = web.rollout.as_mut().unwrap();
        (r.from_revision, r.to_revision) = (2, 3);
        let now = at(&services, Some(2));
        assert_eq!(
            now["web"].failed.as_deref(),
            Some("rolled back: rollback completed")
        );
        assert_eq!(summary(&now), "mon 1/1, web 2/2 (failed)");
    }
}
