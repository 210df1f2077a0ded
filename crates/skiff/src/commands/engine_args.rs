//! Arguments shared by the commands that work on the local engine (`skiff image`, `skiff
//! container`): where its data lives and how it reaches registries.

use std::path::{Path, PathBuf};

use skiff_api::ByteSize;
use skiff_engine::image::registry::RegistryConfig;
use skiff_engine::network;
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
    /// The largest blob (compressed layer, archive entry) accepted [default: 16GiB].
    #[arg(long, global = true, env = "SKIFF_MAX_BLOB_SIZE", value_name = "SIZE")]
    pub max_blob_size: Option<ByteSize>,
    /// The most a layer may unpack to (a decompression bomb stops there) [default: 64GiB].
    #[arg(long, global = true, env = "SKIFF_MAX_LAYER_SIZE", value_name = "SIZE")]
    pub max_layer_size: Option<ByteSize>,
    /// The bridge containers on the bridge network join (created if missing).
    #[arg(long, global = true, env = "SKIFF_BRIDGE", default_value = skiff_engine::network::DEFAULT_BRIDGE, value_name = "NAME", value_parser = parse_bridge)]
    pub bridge: String,
    /// The node subnet: the bridge takes its first address, containers the others.
    #[arg(long, global = true, env = "SKIFF_SUBNET", default_value = skiff_engine::network::DEFAULT_SUBNET, value_name = "CIDR", value_parser = parse_subnet)]
    pub subnet: ipnet::Ipv4Net,
    /// The MTU of a bridge the engine creates [default: 1450, room for VXLAN on a 1500 link].
    #[arg(long, global = true, env = "SKIFF_MTU", value_name = "BYTES", value_parser = parse_mtu)]
    pub mtu: Option<u32>,
    /// Masquerade container traffic that leaves the node (needed when the node subnet is not
    /// routed by the rest of the network).
    #[arg(long, global = true, env = "SKIFF_MASQUERADE")]
    pub masquerade: bool,
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
        if let Some(size) = self.max_blob_size {
            opts.max_blob = size.0;
        }
        if let Some(size) = self.max_layer_size {
            opts.unpack.max_uncompressed = size.0;
        }
        opts.network.bridge = self.bridge.clone();
        opts.network.subnet = self.subnet;
        if let Some(mtu) = self.mtu {
            opts.network.mtu = mtu;
        }
        opts.network.masquerade = self.masquerade;
        let engine = Engine::open(opts).map_err(|e| {
            anyhow::anyhow!("opening the engine in {}: {e}", self.data_dir.display())
        })?;
        load_drop_folder(&engine);
        Ok(engine)
    }
}

/// `--bridge`: a name the kernel takes for an interface (clap names the flag in the error).
fn parse_bridge(text: &str) -> Result<String, String> {
    network::check_ifname(text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

/// `--subnet`: an IPv4 network address with a prefix a node subnet can have.
fn parse_subnet(text: &str) -> Result<ipnet::Ipv4Net, String> {
    let subnet: ipnet::Ipv4Net = text
        .parse()
        .map_err(|_| "expected an IPv4 network such as 10.87.0.0/16".to_string())?;
    network::ipam::check_subnet(subnet).map_err(|e| e.to_string())?;
    Ok(subnet)
}

/// `--mtu`: a number of bytes in the range the engine takes.
fn parse_mtu(text: &str) -> Result<u32, String> {
    let mtu: u32 = text
        .parse()
        .map_err(|_| "expected a number of bytes such as 1450".to_string())?;
    let opts = network::NetworkOptions {
        mtu,
        ..Default::default()
    };
    opts.check().map_err(|e| e.to_string())?;
    Ok(mtu)
}

/// Loads archives dropped into `<data>/images/` since the last command (for air-gapped nodes):
/// what was loaded and what failed is reported on stderr; a failure does not stop the command.
fn load_drop_folder(engine: &Engine) {
    let dir = engine.drop_folder();
    let has_files = std::fs::read_dir(&dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
    });
    if !has_files {
        return;
    }
    match engine.import_drop_folder() {
        Ok(report) => {
            for done in &report.imported {
                for image in &done.images {
                    let name = image
                        .names
                        .first()
                        .map(|n| n.familiar())
                        .unwrap_or_else(|| image.id.to_string());
                    eprintln!("skiff: loaded {name} from {}", done.file.display());
                }
            }
            for failed in &report.failed {
                eprintln!(
                    "skiff: warning: could not load {}: {} (fix or remove the file)",
                    failed.file.display(),
                    failed.error
                );
            }
        }
        Err(e) => eprintln!("skiff: warning: the drop folder {}: {e}", dir.display()),
    }
}
