//! `skiff env create|rm`: environments (`skiff get envs` lists them).

use std::collections::BTreeMap;
use std::process::ExitCode;

use skiff_api::v1::{CreateEnvironment, Quota};
use skiff_api::{ByteSize, Cpus};

use super::remote::{self, RemoteArgs};

/// The arguments of `skiff env`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Create an environment, with a quota and a node selector.
    Create(CreateArgs),
    /// Delete an empty environment.
    Rm {
        /// The environment.
        name: String,
    },
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// Its name: lowercase letters, digits and `-`.
    name: String,
    /// CPUs all its tasks together may reserve (`4`, `1.5`).
    #[arg(long, value_name = "CPUS")]
    max_cpus: Option<Cpus>,
    /// Memory all its tasks together may reserve (`8G`, `512M`).
    #[arg(long, value_name = "BYTES")]
    max_memory: Option<ByteSize>,
    /// How many tasks it may run.
    #[arg(long, value_name = "N")]
    max_tasks: Option<u32>,
    /// A label its tasks' nodes must carry, `key=value`; repeatable.
    #[arg(long = "node-selector", value_name = "KEY=VALUE", value_parser = label)]
    node_selector: Vec<(String, String)>,
}

/// Parses `key=value`.
fn label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not key=value")),
    }
}

/// Runs `skiff env`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Create(create) => {
            let request = CreateEnvironment {
                name: create.name.clone(),
                quota: Quota {
                    max_cpus: create.max_cpus,
                    max_memory: create.max_memory,
                    max_tasks: create.max_tasks,
                },
                node_selector: create
                    .node_selector
                    .iter()
                    .cloned()
                    .collect::<BTreeMap<_, _>>(),
            };
            let written = remote::run(&args.remote, |client| async move {
                client.create_env(&request).await
            })?;
            println!(
                "created environment {} (revision {})",
                create.name, written.revision
            );
        }
        Command::Rm { name } => {
            let written = remote::run(&args.remote, |client| async move {
                client.delete_env(name).await
            })?;
            println!("removed environment {name} (revision {})", written.revision);
        }
    }
    Ok(ExitCode::SUCCESS)
}
