//! `skiff shim`: the per-container shim process the engine starts (not for people). See
//! `skiff_engine::container::shim`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use skiff_engine::container::exec::{shim_exec_main, ExecConfig, ShimExecArgs};
use skiff_engine::container::shim::{self, ShimArgs};

/// The arguments of `skiff shim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The engine's data directory.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The container.
    #[arg(long, global = true)]
    id: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a process in the container (for `skiff container exec`).
    Exec {
        /// KEY=VALUE to add to the environment.
        #[arg(long = "env")]
        env: Vec<String>,
        /// USER[:GROUP] (names resolved in the container).
        #[arg(long)]
        user: Option<String>,
        /// Working directory.
        #[arg(long)]
        cwd: Option<String>,
        /// The command.
        #[arg(last = true, required = true)]
        args: Vec<String>,
    },
}

/// Runs the shim (or an exec) and returns its exit code.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (Some(data_dir), Some(id)) = (&args.data_dir, &args.id) else {
        anyhow::bail!("skiff shim needs --data-dir and --id");
    };
    match &args.command {
        None => {
            let code = shim::main(&ShimArgs {
                data_dir: data_dir.clone(),
                id: id.clone(),
            });
            Ok(ExitCode::from(code as u8))
        }
        Some(Cmd::Exec {
            env,
            user,
            cwd,
            args: command,
        }) => {
            let code = shim_exec_main(&ShimExecArgs {
                data_dir: data_dir.clone(),
                id: id.clone(),
                exec: ExecConfig {
                    args: command.clone(),
                    env: env.clone(),
                    user: user.clone(),
                    workdir: cwd.clone(),
                },
            })
            .map_err(|e| anyhow::anyhow!("exec: {e}"))?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
        }
    }
}
