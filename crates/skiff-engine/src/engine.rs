//! [`Engine`]: one node's engine over one data directory. It holds no long-lived state in
//! memory: everything is on disk under the data directory, so every `skiff` command opens its
//! own `Engine` and a restarted agent finds images and containers where it left them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::container::ContainerError;
use crate::content::ContentStore;
use crate::error::Error;
use crate::fsutil::FileLock;
use crate::image::layers::LayerStore;
use crate::image::registry::RegistryConfig;
use crate::image::unpack::UnpackLimits;
use crate::image::ImageIndex;
use crate::storage::VolumeStore;

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/skiff";

/// Which OCI runtime runs a container: the engine's default, and what each container's
/// record keeps (`{"kind": "builtin"}` or `{"kind": "external", "path": "runc"}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum RuntimeChoice {
    /// `skiff-runtime`, as a library inside the shim process.
    #[default]
    Builtin,
    /// An external runc-compatible binary (`runc`, `crun`, `skiff-runtime`), found in `PATH`
    /// when not a path.
    External(PathBuf),
}

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The default OCI runtime for new containers.
    pub runtime: RuntimeChoice,
    /// The program run as each container's shim (`PROGRAM shim …`): the `skiff` binary.
    pub shim_program: PathBuf,
    /// Largest blob accepted into the content store.
    pub max_blob: u64,
    /// Bounds on unpacking one layer.
    pub unpack: UnpackLimits,
    /// Registry settings.
    pub registry: RegistryConfig,
    /// The node network (bridge mode).
    pub network: crate::network::NetworkOptions,
}

impl EngineOptions {
    /// Defaults for a data directory, with the running program as the shim.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineOptions {
            data_dir: data_dir.into(),
            runtime: RuntimeChoice::Builtin,
            shim_program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("skiff")),
            max_blob: 16 << 30,
            unpack: UnpackLimits::default(),
            registry: RegistryConfig::default(),
            network: crate::network::NetworkOptions::default(),
        }
    }
}

/// The engine of one node.
#[derive(Debug)]
pub struct Engine {
    pub(crate) opts: EngineOptions,
    pub(crate) content: ContentStore,
    pub(crate) layers: LayerStore,
    pub(crate) images: ImageIndex,
    pub(crate) volumes: VolumeStore,
}

impl Engine {
    /// Opens the engine on its data directory, creating the directory layout if needed.
    pub fn open(opts: EngineOptions) -> Result<Engine, Error> {
        let data = &opts.data_dir;
        let content_dir = data.join("content");
        let layers_dir = data.join("layers");
        // Layers and container roots hold the images' setuid programs and device nodes, and
        // blobs and volumes their data: only root may reach them, as under /var/lib/docker.
        // The data directory itself stays traversable (0711), not listable.
        let private = [
            data.join("containers"),
            data.join("volumes"),
            content_dir.clone(),
            layers_dir.clone(),
        ];
        for (dir, mode) in std::iter::once((data.clone(), 0o711)).chain(private.map(|d| (d, 0o700)))
        {
            fs::create_dir_all(&dir)
                .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(mode)))
                .map_err(|source| Error::Io {
                    path: dir.clone(),
                    source,
                })?;
        }
        let content = ContentStore::open(&content_dir, opts.max_blob)?;
        let layers = LayerStore::open(&layers_dir, opts.unpack.clone())?;
        let images = ImageIndex::new(&data.join("images.json"));
        let volumes = VolumeStore::open(&data.join("volumes")).map_err(ContainerError::from)?;
        Ok(Engine {
            opts,
            content,
            layers,
            images,
            volumes,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.opts.data_dir
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The layer store.
    pub fn layer_store(&self) -> &LayerStore {
        &self.layers
    }

    /// The named volumes.
    pub fn volume_store(&self) -> &VolumeStore {
        &self.volumes
    }

    /// The image index.
    pub fn image_index(&self) -> &ImageIndex {
        &self.images
    }

    /// Held (shared) by every operation that adds blobs, layers or references to them, and
    /// (exclusive) by garbage collection, so that GC never removes what is being added.
    pub(crate) fn gc_guard(&self, exclusive: bool) -> Result<FileLock, Error> {
        let path = self.opts.data_dir.join("gc.lock");
        let lock = if exclusive {
            FileLock::exclusive(&path)
        } else {
            FileLock::shared(&path)
        };
        lock.map_err(|source| Error::Io { path, source })
    }
}

/// `skiff` (or `builtin`) is the built-in runtime; anything else names a runc-compatible binary.
pub fn parse_runtime(name: &str) -> RuntimeChoice {
    match name {
        "skiff" | "builtin" => RuntimeChoice::Builtin,
        other => RuntimeChoice::External(PathBuf::from(other)),
    }
}

/// The current time in RFC 3339 with nanoseconds (UTC).
pub(crate) fn now() -> String {
    skiff_runtime::state::now_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// The agent (issue 7) keeps one engine in an `Arc` and calls it from `spawn_blocking`, and
    /// moves started containers and errors across threads.
    #[test]
    fn the_engine_and_what_it_returns_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn send<T: Send + 'static>() {}
        send_sync::<Engine>();
        send_sync::<Error>();
        send_sync::<crate::container::ContainerInfo>();
        send::<crate::container::Attached>();
    }

    #[test]
    fn only_root_reaches_layers_containers_blobs_and_volumes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // A data directory made by an older version, open to everyone.
        for sub in ["layers", "containers"] {
            fs::create_dir_all(data.join(sub)).unwrap();
            fs::set_permissions(data.join(sub), fs::Permissions::from_mode(0o755)).unwrap();
        }
        Engine::open(EngineOptions::new(&data)).unwrap();
        assert_eq!(mode(&data), 0o711);
        for sub in ["layers", "containers", "content", "volumes"] {
            assert_eq!(mode(&data.join(sub)), 0o700, "{sub}");
        }
    }
}
