//! `skiff logs [APP/]SERVICE[.SLOT] [-f] [--tail N]`: what a service's tasks wrote, through the
//! servers from the agents of their nodes. Without a slot, every current task of the service,
//! interleaved, each line prefixed with its task (`web.2 | `), as `docker service logs` does.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use futures_util::StreamExt;
use skiff_api::v1::{LogLine, OutputStream};
use skiff_manifest::DEFAULT_ENVIRONMENT;
use tokio::sync::mpsc;

use super::remote::{api_error, RemoteArgs};
use super::task_target::{label, resolve, Target};

/// The arguments of `skiff logs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The service (`APP/SERVICE` when several apps have one of that name), and optionally a
    /// slot (`web.2`; a node id for a global service) for one task alone.
    #[arg(value_name = "[APP/]SERVICE[.SLOT]")]
    target: String,
    /// Keep printing new output until the tasks end (Ctrl-C to stop).
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines of each task.
    #[arg(long, value_name = "N")]
    tail: Option<u32>,
    /// Print lines without the task prefix.
    #[arg(long)]
    no_prefix: bool,
    /// The environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// What one task's stream brought: a line, or how it ended.
enum Event {
    Line(usize, LogLine),
    Failed(usize, String),
}

/// Runs `skiff logs`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.target)?;
    let client = args.remote.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let tasks = resolve(&client, &args.environment, &target).await?;
        let labels: Vec<String> = tasks.iter().map(label).collect();
        let width = labels.iter().map(String::len).max().unwrap_or(0);
        let prefixes: Vec<String> = labels
            .iter()
            .map(|l| match args.no_prefix || target.slot.is_some() {
                true => String::new(),
                false => format!("{l:width$} | "),
            })
            .collect();
        let (tx, mut rx) = mpsc::channel(64);
        for (i, task) in tasks.iter().enumerate() {
            let (client, id, tx) = (client.clone(), task.id.to_string(), tx.clone());
            let (follow, tail) = (args.follow, args.tail);
            tokio::spawn(async move {
                let mut lines = match client.task_logs(&id, follow, tail).await {
                    Ok(lines) => lines,
                    Err(e) => {
                        let _ = tx.send(Event::Failed(i, api_error(e).to_string())).await;
                        return;
                    }
                };
                while let Some(item) = lines.next().await {
                    let event = match item {
                        Ok(line) => Event::Line(i, line),
                        Err(e) => Event::Failed(i, api_error(e).to_string()),
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut failed = false;
        while let Some(event) = rx.recv().await {
            match event {
                Event::Line(i, line) => print(&prefixes[i], &line),
                Event::Failed(i, why) => {
                    failed = true;
                    eprintln!("skiff logs: {}: {why}", labels[i]);
                }
            }
        }
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Prints one line where its container wrote it, after `prefix`.
fn print(prefix: &str, line: &LogLine) {
    let mut text = format!("{prefix}{}", line.text);
    if !prefix.is_empty() && !text.ends_with('\n') {
        // Interleaved with other tasks' lines, a partial line must not run into the next.
        text.push('\n');
    }
    let _ = match line.stream {
        OutputStream::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
        OutputStream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}
