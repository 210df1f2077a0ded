//! `skiff apply`: load compose files as `skiff validate` does and make the cluster's app match.

use std::process::ExitCode;

use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::listing::write_stdout;
use super::manifest::{self, ManifestArgs};
use super::remote::{self, RemoteArgs};

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
    let result = remote::run(&args.remote, |client| async move {
        client.apply_app(&env, &loaded.spec, dry_run).await
    })?;
    let mut out = result.diff.to_string();
    match result.revision {
        _ if result.dry_run => out.push_str("dry run: nothing was changed\n"),
        Some(revision) => out.push_str(&format!("applied at revision {revision}\n")),
        // The diff already says "nothing to do".
        None => {}
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
