//! `skiff image`: manage the local engine's images. (Being written; see issue 4.)

use std::process::ExitCode;

use super::engine_args::EngineArgs;

/// The arguments of `skiff image`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `skiff image`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let _engine = args.engine.open(None)?;
    anyhow::bail!("skiff image is not written yet")
}
