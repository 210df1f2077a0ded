//! `skiff exec [APP/]SERVICE[.SLOT] -- CMD…`: runs a command in a task's container, through the
//! servers to the agent of its node; prints what it wrote and exits with its exit code.
//!
//! Non-interactive: `-i` sends all of this command's standard input first; no TTY (the API
//! answers once the command ended; docs/orchestration.md, "Logs and exec").

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use skiff_api::v1::ExecRequest;
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::remote::{api_error, RemoteArgs};
use super::task_target::{label, resolve, Target};

/// The arguments of `skiff exec`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The service (`APP/SERVICE` when several apps have one of that name) and optionally the
    /// slot of the task (`web.2`; a node id for a global service) [default: the first task].
    #[arg(value_name = "[APP/]SERVICE[.SLOT]")]
    target: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
    /// Send this command's standard input (read to its end first) to the command.
    #[arg(short = 'i', long = "stdin")]
    stdin: bool,
    /// The environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Runs `skiff exec`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.target)?;
    let stdin = if args.stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input (it must be UTF-8 text)")?;
        Some(text)
    } else {
        None
    };
    let client = args.remote.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let request = ExecRequest {
        command: args.command.clone(),
        stdin,
    };
    let answer = runtime.block_on(async {
        let tasks = resolve(&client, &args.environment, &target).await?;
        let task = &tasks[0];
        client
            .exec_task(task.id.as_str(), &request)
            .await
            .map_err(api_error)
            .with_context(|| format!("exec in {}", label(task)))
    })?;
    let _ = std::io::stdout().write_all(answer.stdout.as_bytes());
    let _ = std::io::stderr().write_all(answer.stderr.as_bytes());
    if answer.truncated {
        eprintln!("skiff exec: the output was cut at the server's limit");
    }
    Ok(exit_code(answer.exit_code))
}

/// This process's exit code for the command's: the same when it fits, else 1.
fn exit_code(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(code) => ExitCode::from(code),
        Err(_) => ExitCode::FAILURE,
    }
}
