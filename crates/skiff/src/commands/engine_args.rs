//! Arguments shared by the commands that work on the local engine (`skiff image`, `skiff
//! container`): where its data lives and how it reaches registries.

use std::path::{Path, PathBuf};

use anyhow::Context;
use skiff_engine::image::registry::RegistryConfig;
use skiff_engine::{parse_runtime, Engine, EngineOptions, DEFAULT_DATA_DIR};

/// The registry settings read when `--registry-config` is not given, if the file exists.
pub const DEFAULT_REGISTRY_CONFIG: &str = "/etc/skiff/registries.json";

/// Where the engine keeps its data and how it reaches registries.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// The engine's data directory (images, layers, containers, volumes).
    #[arg(long, global = true, env = "SKIFF_DATA_DIR", default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Registry settings (JSON: insecure registries, auth file, timeouts; see docs/engine.md)
    /// [default: /etc/skiff/registries.json if it exists].
    #[arg(
        long,
        global = true,
        env = "SKIFF_REGISTRY_CONFIG",
        value_name = "FILE"
    )]
    pub registry_config: Option<PathBuf>,
    /// A registry (host:port) to reach over plain HTTP; repeatable.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
}

impl EngineArgs {
    /// Opens the engine; `runtime` overrides the default OCI runtime.
    pub fn open(&self, runtime: Option<&str>) -> anyhow::Result<Engine> {
        let mut opts = EngineOptions::new(&self.data_dir);
        if let Some(runtime) = runtime {
            opts.runtime = parse_runtime(runtime);
        }
        let config_file = match &self.registry_config {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(DEFAULT_REGISTRY_CONFIG)).filter(|p| p.exists()),
        };
        if let Some(path) = config_file {
            opts.registry =
                RegistryConfig::load(Path::new(&path)).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        opts.registry
            .insecure
            .extend(self.insecure_registries.iter().cloned());
        Engine::open(opts)
            .with_context(|| format!("opening the engine in {}", self.data_dir.display()))
    }
}
