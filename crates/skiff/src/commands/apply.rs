//! `skiff apply`: load compose files as `skiff validate` does and make the cluster's app match.

use std::process::ExitCode;

use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::listing::write_stdout;
use super::manifest::{self, ManifestArgs};
use super::remote::{self, RemoteArgs};
use super::wait;

/// The arguments of `skiff apply`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    manifest: ManifestArgs,
    /// The environment to apply to: its `x-skiff.environments.<ENV>` overrides apply.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    /// Show what would change, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Return once the change is written, without waiting for the tasks to run.
    #[arg(short, long)]
    detach: bool,
    /// How long to wait for the app's tasks to run before giving up (exit 1, saying why).
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    timeout: skiff_api::Duration,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Runs `skiff apply`: prints the diff, then the revision written. Exit 1 when the files are
/// refused (here or by the server).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(loaded) = manifest::load(&args.manifest, &args.environment)? else {
        return Ok(ExitCode::FAILURE);
    };
    let env = args.environment.clone();
    let dry_run = args.dry_run;
    let wait = !(args.detach || dry_run);
    let timeout = args.timeout.to_std();
    let app = loaded.spec.name.clone();
    let running = remote::run(&args.remote, |client| async move {
        let result = client.apply_app(&env, &loaded.spec, dry_run).await?;
        let mut out = result.diff.to_string();
        match result.revision {
            _ if result.dry_run => out.push_str("dry run: nothing was changed\n"),
            Some(revision) => out.push_str(&format!("applied at revision {revision}\n")),
            // The diff already says "nothing to do".
            None => {}
        }
        // Printed before waiting, so that the diff shows at once.
        let _ = write_stdout(&out);
        if !wait {
            return Ok(true);
        }
        // The rollouts of this revision are judged (a new one, or none if nothing changed).
        let applied = result.revision.map(|_| result.diff.to_revision);
        wait::until_running(&client, &env, &app, applied, timeout).await
    })?;
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
