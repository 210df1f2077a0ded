//! Waiting until an applied app runs: what `skiff apply` (unless `--detach`) and `skiff dev`
//! show while the control plane places its tasks and the agents start them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use skiff_api::ServiceMode;
use skiff_client::{Client, Error, TaskFilter};
use skiff_core::objects::{DesiredState, Service, Task, TaskState};
use skiff_core::Object;

/// How a service stands: its tasks wanted running, how many of those run the current spec,
/// and the notes of those that do not run (a pending task's reason, a failure).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceProgress {
    /// The tasks it should have (global services: the tasks the orchestrator made).
    pub wanted: usize,
    /// Tasks of the current spec observed running.
    pub running: usize,
    /// Why some do not run yet, one line each.
    pub notes: Vec<String>,
}

/// The app's services and their progress, by service name.
pub fn progress(services: &[&Service], tasks: &[&Task]) -> BTreeMap<String, ServiceProgress> {
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
        out.insert(
            service.name.to_string(),
            ServiceProgress {
                wanted,
                running,
                notes,
            },
        );
    }
    out
}

/// Whether every service runs all it should.
pub fn done(progress: &BTreeMap<String, ServiceProgress>) -> bool {
    progress.values().all(|p| p.running >= p.wanted)
}

/// One line for people: `web 2/3, worker 3/3`.
pub fn summary(progress: &BTreeMap<String, ServiceProgress>) -> String {
    progress
        .iter()
        .map(|(name, p)| format!("{name} {}/{}", p.running, p.wanted))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls the app's services and tasks until they all run or `timeout` passes, printing a line
/// on stderr each time the picture changes. Answers whether it got there; when not, the
/// reasons were printed.
pub async fn until_running(
    client: &Client,
    env: &str,
    app: &str,
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
        let now = progress(&services, &tasks);
        let line = format!("{app}: {}", summary(&now));
        let finished = done(&now);
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
        let now = progress(&services, &tasks);
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
        assert!(done(&progress(&services, &all)));
    }
}
