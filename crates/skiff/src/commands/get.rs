//! `skiff get envs|apps|services|tasks|nodes`: list what the control plane holds.

use std::process::ExitCode;

use clap::ValueEnum;
use skiff_api::ServiceMode;
use skiff_client::TaskFilter;
use skiff_core::api::List;
use skiff_core::objects::{Environment, Node, Slot, Task};
use skiff_core::{Object, Record};
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::listing::{self, or_dash, row, word, Format};
use super::remote::{self, RemoteArgs};

/// The arguments of `skiff get`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to list.
    #[arg(value_enum)]
    kind: Kind,
    /// The environment of the apps, services and tasks listed.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    /// Only this app's services or tasks.
    #[arg(long, value_name = "APP")]
    app: Option<String>,
    /// How to print the listing.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    output: Format,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// The kinds `skiff get` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Environments (cluster-wide).
    #[value(alias = "env")]
    Envs,
    /// The apps of an environment.
    #[value(alias = "app")]
    Apps,
    /// The services of an environment.
    #[value(alias = "service", alias = "svc")]
    Services,
    /// The tasks of an environment.
    #[value(alias = "task")]
    Tasks,
    /// The nodes (cluster-wide).
    #[value(alias = "node")]
    Nodes,
}

/// Runs `skiff get`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let env = args.environment.clone();
    let app = args.app.clone();
    let kind = args.kind;
    let list = remote::run(&args.remote, |client| async move {
        match kind {
            Kind::Envs => client.list_envs().await,
            Kind::Apps => client.list_apps(&env).await,
            Kind::Services => client.list_services(&env, app.as_deref()).await,
            Kind::Tasks => {
                let filter = TaskFilter {
                    env: Some(env),
                    app,
                    ..TaskFilter::default()
                };
                client.list_tasks(&filter).await
            }
            Kind::Nodes => client.list_nodes().await,
        }
    })?;
    listing::print(args.output, &list.items, table(kind, &list))?;
    Ok(ExitCode::SUCCESS)
}

/// The listing as a table of `kind`: a header, then a row per record.
fn table(kind: Kind, list: &List) -> Vec<Vec<String>> {
    let header = match kind {
        Kind::Envs => row!["NAME", "QUOTA", "NODE-SELECTOR", "REVISION"],
        Kind::Apps => row!["NAME", "ENV", "SPEC-REV", "SERVICES", "REVISION"],
        Kind::Services => row!["NAME", "APP", "MODE", "REPLICAS", "IMAGE"],
        Kind::Tasks => row!["ID", "SERVICE", "SLOT", "NODE", "DESIRED", "STATE"],
        Kind::Nodes => row![
            "ID",
            "NAME",
            "ADDRESS",
            "STATUS",
            "AVAILABILITY",
            "CPUS",
            "MEMORY"
        ],
    };
    std::iter::once(header)
        .chain(list.items.iter().filter_map(record_row))
        .collect()
}

/// A record's row; `None` for an object of another kind than listed (never sent).
fn record_row(record: &Record) -> Option<Vec<String>> {
    Some(match &record.object {
        Object::Environment(env) => environment_row(env, record.mod_revision),
        Object::App(app) => row![
            app.name,
            app.env,
            app.spec_revision,
            app.spec.services.len(),
            record.mod_revision
        ],
        Object::Service(service) => {
            let (mode, replicas) = match service.mode() {
                ServiceMode::Replicated { replicas } => ("replicated", replicas.to_string()),
                ServiceMode::Global => ("global", "-".to_owned()),
            };
            row![
                service.name,
                service.app,
                mode,
                replicas,
                service.spec.image
            ]
        }
        Object::Task(task) => task_row(task),
        Object::Node(node) => node_row(node),
        _ => return None,
    })
}

fn environment_row(env: &Environment, revision: u64) -> Vec<String> {
    let quota = &env.quota;
    let limits: Vec<String> = [
        quota.max_cpus.map(|c| format!("cpus={c}")),
        quota.max_memory.map(|m| format!("memory={m}")),
        quota.max_tasks.map(|t| format!("tasks={t}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let selector: Vec<String> = env
        .node_selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let joined = |parts: Vec<String>, sep| {
        if parts.is_empty() {
            "-".to_owned()
        } else {
            parts.join(sep)
        }
    };
    row![
        env.name,
        joined(limits, " "),
        joined(selector, ","),
        revision
    ]
}

fn task_row(task: &Task) -> Vec<String> {
    let slot = match &task.slot {
        Slot::Replica(n) => n.to_string(),
        Slot::Node(node) => node.to_string(),
    };
    row![
        task.id,
        format!("{}/{}", task.app, task.service),
        slot,
        or_dash(task.node.as_ref()),
        word(&task.desired),
        word(&task.observed)
    ]
}

pub(super) fn node_row(node: &Node) -> Vec<String> {
    row![
        node.id,
        node.name,
        node.address,
        word(&node.status),
        word(&node.availability),
        node.capacity.cpus,
        node.capacity.memory
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use skiff_core::objects::Quota;
    use skiff_core::Name;

    use super::*;

    #[test]
    fn environments_show_their_quota_and_selector() {
        let env = Environment {
            name: Name::new("prod").unwrap(),
            quota: Quota {
                max_cpus: Some("8".parse().unwrap()),
                max_memory: Some("16G".parse().unwrap()),
                max_tasks: None,
            },
            node_selector: BTreeMap::from([("tier".into(), "prod".into())]),
        };
        assert_eq!(
            environment_row(&env, 7),
            ["prod", "cpus=8 memory=16GiB", "tier=prod", "7"]
        );
        let bare = Environment {
            quota: Quota::default(),
            node_selector: BTreeMap::new(),
            ..env
        };
        assert_eq!(environment_row(&bare, 3), ["prod", "-", "-", "3"]);
    }
}
