//! `skiff ps [APP]`: the tasks of an environment — where each runs, in what state, with its
//! address, restarts, health and, for a task that cannot be placed or failed, why.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use skiff_client::TaskFilter;
use skiff_core::objects::{DesiredState, Health, Slot, Task, Timestamp};
use skiff_core::{Object, Record};
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::human;
use super::listing::{self, or_dash, row, word, Format};
use super::remote::{self, RemoteArgs};

/// The arguments of `skiff ps`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only this app's tasks.
    #[arg(value_name = "APP")]
    app: Option<String>,
    /// The environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    /// Also the finished tasks kept as history (replaced, scaled away, failed).
    #[arg(short, long)]
    all: bool,
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

/// Runs `skiff ps`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let filter = TaskFilter {
        env: Some(args.environment.clone()),
        app: args.app.clone(),
        ..TaskFilter::default()
    };
    let list = remote::run(&args.remote, |client| async move {
        client.list_tasks(&filter).await
    })?;
    let mut records: Vec<&Record> = list
        .items
        .iter()
        .filter(|r| matches!(&r.object, Object::Task(t) if args.all || is_current(t)))
        .collect();
    records.sort_by_key(|r| order(r));
    let now = now_ms();
    let header =
        row!["ID", "NAME", "NODE", "DESIRED", "STATE", "IP", "RESTARTS", "HEALTH", "MESSAGE"];
    let rows = records.iter().filter_map(|r| match &r.object {
        Object::Task(t) => Some(task_row(t, now)),
        _ => None,
    });
    let table = std::iter::once(header).chain(rows).collect();
    listing::print(args.output, &records, table)?;
    Ok(ExitCode::SUCCESS)
}

/// A task worth showing without `--all`: wanted running, or not over yet.
fn is_current(task: &Task) -> bool {
    task.desired == DesiredState::Running || !task.observed.is_terminal()
}

/// App, service, slot, then the newest task of a slot first.
fn order(record: &Record) -> (String, String, Slot, std::cmp::Reverse<Timestamp>) {
    match &record.object {
        Object::Task(t) => (
            t.app.to_string(),
            t.service.to_string(),
            t.slot.clone(),
            std::cmp::Reverse(t.created_at),
        ),
        _ => (
            String::new(),
            String::new(),
            Slot::Replica(0),
            std::cmp::Reverse(Timestamp(0)),
        ),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn task_row(task: &Task, now: u64) -> Vec<String> {
    let slot = match &task.slot {
        Slot::Replica(n) => n.to_string(),
        Slot::Node(node) => node.to_string(),
    };
    let age = now.saturating_sub(task.updated_at.0) / 1000;
    let state = format!(
        "{} {} ago",
        word(&task.observed),
        human::duration(age as i64)
    );
    let health = match task.health {
        Health::Unknown => "-".to_owned(),
        other => word(&other),
    };
    row![
        task.id.as_str().get(..12).unwrap_or(task.id.as_str()),
        format!("{}/{}.{slot}", task.app, task.service),
        or_dash(task.node.as_ref()),
        word(&task.desired),
        state,
        or_dash(task.ip.as_ref()),
        task.restart_count,
        health,
        if task.message.is_empty() {
            "-"
        } else {
            task.message.as_str()
        }
    ]
}
