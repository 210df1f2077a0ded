//! `[APP/]SERVICE[.SLOT]`, as `skiff logs` and `skiff exec` name tasks, and the choice of the
//! tasks it means among those of the environment (pure: tested as data).

use anyhow::{bail, Context};
use skiff_core::objects::{DesiredState, Slot, Task, TaskState};
use skiff_core::Object;

use super::remote::api_error;

/// A parsed `[APP/]SERVICE[.SLOT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The app, when given.
    pub app: Option<String>,
    /// The service.
    pub service: String,
    /// The slot: a replica number, or a node id for a global service.
    pub slot: Option<String>,
}

impl Target {
    /// Parses `[APP/]SERVICE[.SLOT]`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let usage = || format!("{text:?}: write SERVICE, SERVICE.SLOT or APP/SERVICE[.SLOT]");
        let (app, rest) = match text.split_once('/') {
            Some((app, rest)) => (Some(app.to_owned()), rest),
            None => (None, text),
        };
        let (service, slot) = match rest.split_once('.') {
            Some((service, slot)) => (service, Some(slot.to_owned())),
            None => (rest, None),
        };
        if service.is_empty()
            || app.as_deref() == Some("")
            || slot.as_deref() == Some("")
            || rest.contains('/')
        {
            bail!(usage());
        }
        Ok(Target {
            app,
            service: service.to_owned(),
            slot,
        })
    }
}

/// The slot as people write it: `2`, or the node id of a global service's task.
pub fn slot_text(slot: &Slot) -> String {
    match slot {
        Slot::Replica(n) => n.to_string(),
        Slot::Node(node) => node.to_string(),
    }
}

/// A task's label in output: `web.2`.
pub fn label(task: &Task) -> String {
    format!("{}.{}", task.service, slot_text(&task.slot))
}

/// The tasks `target` means among `tasks` (those of its service in the environment): per slot
/// the newest task that has a node, preferring one wanted running; only `target.slot`'s when
/// given. In slot order. Fails saying why when none is left.
pub fn select(tasks: &[Task], target: &Target) -> anyhow::Result<Vec<Task>> {
    let ours: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.service.as_str() == target.service)
        .filter(|t| target.app.as_ref().is_none_or(|a| t.app.as_str() == a))
        .collect();
    let mut apps: Vec<&str> = ours.iter().map(|t| t.app.as_str()).collect();
    apps.sort_unstable();
    apps.dedup();
    match apps.as_slice() {
        [] => bail!(
            "no app of the environment has a service named {}",
            target.service
        ),
        [_] => {}
        many => bail!(
            "apps {} each have a service named {}: write APP/{}",
            many.join(", "),
            target.service,
            target.service
        ),
    }
    let mut chosen: Vec<&Task> = Vec::new();
    let mut candidates: Vec<&Task> = ours
        .into_iter()
        .filter(|t| t.node.is_some())
        .filter(|t| {
            target
                .slot
                .as_ref()
                .is_none_or(|s| slot_text(&t.slot) == *s)
        })
        .collect();
    // Per slot, the best first: wanted running, then running, then the newest.
    candidates.sort_by_key(|t| {
        (
            t.slot.clone(),
            t.desired != DesiredState::Running,
            t.observed != TaskState::Running,
            std::cmp::Reverse(t.created_at),
        )
    });
    for task in candidates {
        if chosen.last().is_none_or(|last| last.slot != task.slot) {
            chosen.push(task);
        }
    }
    if target.slot.is_none() {
        // Without a slot: the slots still wanted, not the history of scaled-away ones.
        chosen.retain(|t| t.desired == DesiredState::Running);
    }
    if chosen.is_empty() {
        match &target.slot {
            Some(slot) => bail!(
                "service {} has no task {slot} that was placed on a node; see `skiff ps`",
                target.service
            ),
            None => bail!(
                "no task of service {} is placed on a node; see `skiff ps` for why",
                target.service
            ),
        }
    }
    Ok(chosen.into_iter().cloned().collect())
}

/// The tasks `target` means in environment `env`, read from the cluster.
pub async fn resolve(
    client: &skiff_client::Client,
    env: &str,
    target: &Target,
) -> anyhow::Result<Vec<Task>> {
    let filter = skiff_client::TaskFilter {
        env: Some(env.to_owned()),
        app: target.app.clone(),
        service: Some(target.service.clone()),
        node: None,
    };
    let list = client
        .list_tasks(&filter)
        .await
        .map_err(api_error)
        .with_context(|| format!("listing the tasks of environment {env}"))?;
    let tasks: Vec<Task> = list
        .items
        .into_iter()
        .filter_map(|r| match r.object {
            Object::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    select(&tasks, target).with_context(|| format!("in environment {env}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(app: Option<&str>, service: &str, slot: Option<&str>) -> Target {
        Target {
            app: app.map(str::to_owned),
            service: service.to_owned(),
            slot: slot.map(str::to_owned),
        }
    }

    #[test]
    fn targets_name_an_optional_app_a_service_and_an_optional_slot() {
        assert_eq!(Target::parse("web").unwrap(), target(None, "web", None));
        assert_eq!(
            Target::parse("web.2").unwrap(),
            target(None, "web", Some("2"))
        );
        assert_eq!(
            Target::parse("shop/web.node-1").unwrap(),
            target(Some("shop"), "web", Some("node-1"))
        );
        for bad in ["", "/web", "shop/", "web.", "a/b/c", ".2"] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(e.contains("APP/SERVICE"), "{bad:?}: {e}");
        }
    }

    fn task(id: &str, app: &str, slot: u32, node: Option<&str>, desired: &str, at: u64) -> Task {
        serde_json::from_value(json!({
            "id": id, "env": "dev", "app": app, "service": "web", "slot": {"replica": slot},
            "spec_revision": 1, "desired": desired, "node": node,
            "observed": if desired == "running" { "running" } else { "shutdown" },
            "created_at": at, "updated_at": at,
        }))
        .unwrap()
    }

    fn ids(tasks: &[Task]) -> Vec<&str> {
        tasks.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn the_current_task_of_each_slot_is_chosen() {
        let tasks = [
            task("old1", "shop", 1, Some("n1"), "shutdown", 1),
            task("new1", "shop", 1, Some("n2"), "running", 2),
            task("t2", "shop", 2, Some("n1"), "running", 1),
            task("pending3", "shop", 3, None, "running", 3),
            task("gone4", "shop", 4, Some("n1"), "shutdown", 1),
        ];
        let all = select(&tasks, &target(None, "web", None)).unwrap();
        assert_eq!(ids(&all), ["new1", "t2"]);
        let two = select(&tasks, &target(Some("shop"), "web", Some("2"))).unwrap();
        assert_eq!(ids(&two), ["t2"]);
        // A slot named on purpose may be one that is over: its logs are still there.
        let four = select(&tasks, &target(None, "web", Some("4"))).unwrap();
        assert_eq!(ids(&four), ["gone4"]);
        let e = select(&tasks, &target(None, "web", Some("3"))).unwrap_err();
        assert!(e.to_string().contains("no task 3"), "{e}");
        let e = select(&tasks, &target(None, "db", None)).unwrap_err();
        assert!(e.to_string().contains("named db"), "{e}");
    }

    #[test]
    fn a_service_name_in_two_apps_needs_the_app() {
        let tasks = [
            task("a", "shop", 1, Some("n1"), "running", 1),
            task("b", "blog", 1, Some("n1"), "running", 1),
        ];
        let e = select(&tasks, &target(None, "web", None)).unwrap_err();
        assert!(e.to_string().contains("blog, shop"), "{e}");
        assert_eq!(
            ids(&select(&tasks, &target(Some("blog"), "web", None)).unwrap()),
            ["b"]
        );
    }
}
