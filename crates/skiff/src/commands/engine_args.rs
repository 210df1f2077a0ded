//! Arguments shared by the commands that work on the local engine (`skiff image`, `skiff
//! container`): where its data lives and which runtime it uses.

use std::path::PathBuf;

use anyhow::Context;
use skiff_engine::{parse_runtime, Engine, EngineOptions, DEFAULT_DATA_DIR};

/// Where the engine keeps its data.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// The engine's data directory (images, layers, containers, volumes).
    #[arg(long, global = true, env = "SKIFF_DATA_DIR", default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
}

impl EngineArgs {
    /// Opens the engine; `runtime` overrides the default OCI runtime.
    pub fn open(&self, runtime: Option<&str>) -> anyhow::Result<Engine> {
        let mut opts = EngineOptions::new(&self.data_dir);
        if let Some(runtime) = runtime {
            opts.runtime = parse_runtime(runtime);
        }
        Engine::open(opts)
            .with_context(|| format!("opening the engine in {}", self.data_dir.display()))
    }
}
