//! `skiff`: the command line over Skiff's libraries.
//!
//! Each subcommand lives in `commands/` and only turns arguments into a library call and the
//! result into output and an exit code; what the commands decide lives in the libraries.

mod commands;
mod fs_loader;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "Skiff: run compose-style apps on a cluster of nodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check compose files and show the app they describe, without applying it.
    Validate(commands::validate::Args),
    /// Apply compose files to an environment of the cluster (or show what would change).
    Apply(commands::apply::Args),
    /// List environments, apps, services, tasks or nodes.
    Get(commands::get::Args),
    /// Remove an app, its services and their tasks.
    Rm(commands::rm::Args),
    /// List the tasks of an environment: where they run, their state, address and health.
    Ps(commands::ps::Args),
    /// Set replicated services' task counts.
    Scale(commands::scale::Args),
    /// How a changed spec rolls out, the revisions kept, and rolling back (`undo`).
    Rollout(commands::rollout::Args),
    /// Print what a service's tasks wrote (`-f` to follow).
    Logs(commands::logs::Args),
    /// Run a command in a task's container and exit with its exit code.
    Exec(commands::exec::Args),
    /// List the cluster's nodes; drain, pause, activate and label them.
    Node(commands::node::Args),
    /// Create and remove environments.
    Env(commands::env::Args),
    /// Create, list and revoke API tokens.
    Token(commands::token::Args),
    /// Create, list and remove an environment's secrets (payloads sealed at rest, never shown
    /// again, delivered as files to the containers that declare them).
    Secret(commands::payload::Args),
    /// Create, list and remove an environment's configs (payloads delivered as files).
    Config(commands::payload::Args),
    /// Show the control plane's servers; add and remove them.
    Cluster(commands::cluster::Args),
    /// Manage the images of the local engine: load, pull, list, inspect, remove, prune.
    Image(commands::image::Args),
    /// Run and manage containers on the local engine.
    Container(Box<commands::container::Args>),
    /// The local node's network: the VXLAN overlay to other nodes, the bridge and addresses.
    Network(commands::network::Args),
    /// Run one server of the control plane.
    Server(commands::server::Args),
    /// Run a one-node cluster in one process (control plane and agent): the embedded default.
    Dev(commands::dev::Args),
    /// Run a node's agent (or, with --simulate N, N simulated nodes).
    Agent(commands::agent::Args),
    /// The per-container shim the engine starts (internal).
    #[command(hide = true)]
    Shim(commands::shim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Get(args) => commands::get::run(args),
        Command::Rm(args) => commands::rm::run(args),
        Command::Ps(args) => commands::ps::run(args),
        Command::Scale(args) => commands::scale::run(args),
        Command::Rollout(args) => commands::rollout::run(args),
        Command::Logs(args) => commands::logs::run(args),
        Command::Exec(args) => commands::exec::run(args),
        Command::Node(args) => commands::node::run(args),
        Command::Env(args) => commands::env::run(args),
        Command::Token(args) => commands::token::run(args),
        Command::Secret(args) => commands::payload::run(commands::payload::Kind::Secret, args),
        Command::Config(args) => commands::payload::run(commands::payload::Kind::Config, args),
        Command::Cluster(args) => commands::cluster::run(args),
        Command::Image(args) => commands::image::run(args),
        Command::Container(args) => commands::container::run(args),
        Command::Network(args) => commands::network::run(args),
        Command::Shim(args) => commands::shim::run(args),
        Command::Server(args) => commands::server::run(args),
        Command::Dev(args) => commands::dev::run(args),
        Command::Agent(args) => commands::agent::run(args),
    };
    result.unwrap_or_else(|e| {
        report_error(&e);
        ExitCode::FAILURE
    })
}

/// Prints `skiff: error: …` with the error and its causes on stderr, for the command's
/// failure and for each failed item of a command that carries on (`rm A B`).
fn report_error(e: &anyhow::Error) {
    eprintln!("skiff: error: {}", render(e));
}

/// The error and its causes, each cause once: library errors often say their cause in their
/// own message already, so a cause whose text is already there is not repeated.
fn render(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}
