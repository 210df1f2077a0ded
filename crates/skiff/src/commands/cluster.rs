//! `skiff cluster status|join|leave`: the servers of the control plane.

use std::process::ExitCode;

use skiff_api::v1::ClusterStatus;

use super::listing::{self, or_dash, row, Format};
use super::remote::{self, RemoteArgs};

/// The arguments of `skiff cluster`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Show the members, the leader and the term, as the answering server sees them.
    Status {
        /// How to print it.
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Format,
    },
    /// Add a server (started with `skiff server --id ID`, without --bootstrap) to the cluster.
    Join {
        /// The new server's id.
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        id: u64,
        /// Where it listens, `host:port`.
        addr: String,
    },
    /// Remove a server from the cluster.
    Leave {
        /// The server's id.
        id: u64,
    },
}

/// Runs `skiff cluster`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (status, output) = match &args.command {
        Command::Status { output } => {
            let status = remote::run(&args.remote, |client| async move {
                client.cluster_status().await
            })?;
            (status, *output)
        }
        Command::Join { id, addr } => {
            let status = remote::run(&args.remote, |client| async move {
                client.join_cluster(*id, addr).await
            })?;
            eprintln!("server {id} at {addr} is a member");
            (status, Format::Table)
        }
        Command::Leave { id } => {
            let status = remote::run(&args.remote, |client| async move {
                client.leave_cluster(*id).await
            })?;
            eprintln!("server {id} left the cluster");
            (status, Format::Table)
        }
    };
    if output == Format::Table {
        listing::write_stdout(&summary(&status))?;
    }
    listing::print(output, &status, members(&status))?;
    Ok(ExitCode::SUCCESS)
}

/// `term 3, leader 1, answered by 2, applied 17`.
fn summary(status: &ClusterStatus) -> String {
    format!(
        "term {}, leader {}, answered by {}, applied {}\n",
        status.term,
        or_dash(status.leader),
        status.answered_by,
        or_dash(status.applied)
    )
}

fn members(status: &ClusterStatus) -> Vec<Vec<String>> {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut rows = vec![row!["ID", "ADDRESS", "VOTER", "LEADER", "MATCHED"]];
    for m in &status.members {
        rows.push(row![
            m.id,
            m.addr,
            yes(m.voter),
            yes(m.leader),
            or_dash(m.matched)
        ]);
    }
    rows
}
