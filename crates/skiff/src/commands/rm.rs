//! `skiff rm APP`: delete an app, its services and their tasks.

use std::process::ExitCode;

use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::remote::{self, RemoteArgs};

/// The arguments of `skiff rm`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The app.
    #[arg(value_name = "APP")]
    app: String,
    /// Its environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Runs `skiff rm`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let written = remote::run(&args.remote, |client| async move {
        client.delete_app(&args.environment, &args.app).await
    })?;
    println!(
        "removed app {}/{} (revision {})",
        args.environment, args.app, written.revision
    );
    Ok(ExitCode::SUCCESS)
}
