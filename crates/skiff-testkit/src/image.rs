//! Building OCI images for tests, without Docker: layers are tar streams written here, images
//! are an OCI layout (or archive) around them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// tar+gzip.
    Gzip,
    /// tar+zstd.
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer with this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
        uid: u64,
        gid: u64,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
}

/// One layer: entries in the order they go into the tar.
#[derive(Debug, Clone)]
pub struct LayerBuilder {
    entries: Vec<Entry>,
    compression: Compression,
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new(compression: Compression) -> Self {
        LayerBuilder {
            entries: Vec::new(),
            compression,
        }
    }

    /// Adds a directory.
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.entries.push(Entry::Dir {
            path: path.into(),
            mode,
        });
        self
    }

    /// Adds a regular file owned by root.
    pub fn file(self, path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.file_owned(path, data, mode, 0, 0)
    }

    /// Adds a regular file with an owner.
    pub fn file_owned(
        mut self,
        path: &str,
        data: impl Into<Vec<u8>>,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Self {
        self.entries.push(Entry::File {
            path: path.into(),
            data: data.into(),
            mode,
            uid,
            gid,
        });
        self
    }

    /// Adds a symbolic link.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink {
            path: path.into(),
            target: target.into(),
        });
        self
    }

    /// Adds a hard link to an earlier entry.
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Hardlink {
            path: path.into(),
            target: target.into(),
        });
        self
    }

    /// Deletes `path` of a lower layer (an AUFS-style `.wh.` whiteout entry).
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), Vec::new(), 0o644)
    }

    /// Hides everything lower layers have in directory `dir` (an opaque whiteout).
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), Vec::new(), 0o644)
    }

    /// The uncompressed tar stream.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(1_700_000_000);
            match entry {
                Entry::Dir { path, mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    builder.append_data(&mut header, path, &[][..]).unwrap();
                }
                Entry::File {
                    path,
                    data,
                    mode,
                    uid,
                    gid,
                } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_uid(*uid);
                    header.set_gid(*gid);
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, &data[..]).unwrap();
                }
                Entry::Symlink { path, target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
                Entry::Hardlink { path, target } => {
                    header.set_entry_type(tar::EntryType::Link);
                    header.set_mode(0o644);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    /// The layer blob: the tar, compressed.
    pub fn blob(&self) -> Vec<u8> {
        compress(&self.tar(), self.compression)
    }
}

/// Compresses `data`.
pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// Path of the static busybox the tests use (Debian's `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// A base layer: static busybox with its applets linked in `/bin`, `/etc/passwd` and
/// `/etc/group` (root, `app` 1000:1000, nobody), and `/tmp`.
pub fn busybox_layer(compression: Compression) -> LayerBuilder {
    let busybox =
        fs::read(BUSYBOX).expect("busybox-static is installed (apt install busybox-static)");
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut layer = LayerBuilder::new(compression)
        .dir("bin", 0o755)
        .file("bin/busybox", busybox, 0o755)
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
        )
        .file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n", 0o644)
        .dir("tmp", 0o1777)
        .dir("root", 0o700)
        .dir("home", 0o755)
        .dir("home/app", 0o755);
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "busybox" {
            layer = layer.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    layer
}

/// An image: layers bottom first, and the config's process defaults.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    layers: Vec<LayerBuilder>,
    config: Value,
}

/// What was written for an image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
    /// `sha256:…` of the config (the image id).
    pub config_digest: String,
    /// `sha256:…` of each uncompressed layer, bottom first.
    pub diff_ids: Vec<String>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageBuilder {
    /// An image without layers, `Cmd ["sh"]`, a `PATH`.
    pub fn new() -> Self {
        ImageBuilder {
            layers: Vec::new(),
            config: json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            }),
        }
    }

    /// Adds a layer on top.
    pub fn layer(mut self, layer: LayerBuilder) -> Self {
        self.layers.push(layer);
        self
    }

    /// Sets a key of the config's `config` object (`Entrypoint`, `Cmd`, `Env`, `WorkingDir`,
    /// `User`, `StopSignal`, …).
    pub fn config(mut self, key: &str, value: Value) -> Self {
        self.config[key] = value;
        self
    }

    /// Writes the blobs of the image into `blobs/sha256/` under `dir`; returns the manifest's
    /// descriptor and what was built.
    fn write_blobs(&self, dir: &Path) -> (Value, BuiltImage) {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in &self.layers {
            let tar = layer.tar();
            diff_ids.push(digest(&tar));
            let blob = compress(&tar, layer.compression);
            let d = put(&blobs, &blob);
            layer_descs.push(json!({
                "mediaType": layer.compression.media_type(),
                "digest": d,
                "size": blob.len(),
            }));
        }
        let config = json!({
            "created": "2026-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        });
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = put(&blobs, &config_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_bytes.len(),
            },
            "layers": layer_descs,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = put(&blobs, &manifest_bytes);
        let desc = json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
        });
        (
            desc,
            BuiltImage {
                manifest_digest,
                config_digest,
                diff_ids,
            },
        )
    }

    /// Writes the image as an OCI image layout in `dir`, tagged `tag` (the index's
    /// `org.opencontainers.image.ref.name`). Several images can share one layout: the index
    /// gains an entry each time.
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) -> BuiltImage {
        let (mut desc, built) = self.write_blobs(dir);
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index_path = dir.join("index.json");
        let mut index: Value = fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
        index["manifests"].as_array_mut().unwrap().push(desc);
        fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        built
    }

    /// Writes the image as an OCI archive (a tar of an OCI layout) at `path`.
    pub fn write_oci_archive(&self, path: &Path, tag: &str) -> BuiltImage {
        let dir = tempfile::tempdir().unwrap();
        let built = self.write_oci_layout(dir.path(), tag);
        tar_dir(dir.path(), path);
        built
    }

    /// Writes the image as a `docker save` archive at `path` with `repo_tag`
    /// (`name:tag`): `manifest.json`, the config as `<hex>.json`, layers as plain tars.
    pub fn write_docker_archive(&self, path: &Path, repo_tag: &str) -> BuiltImage {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (_, built) = self.write_blobs(&root.join("scratch"));
        let mut layer_paths = Vec::new();
        for (layer, diff_id) in self.layers.iter().zip(&built.diff_ids) {
            let hex = diff_id.trim_start_matches("sha256:");
            fs::create_dir_all(root.join(hex)).unwrap();
            fs::write(root.join(hex).join("layer.tar"), layer.tar()).unwrap();
            layer_paths.push(format!("{hex}/layer.tar"));
        }
        let config_hex = built.config_digest.trim_start_matches("sha256:");
        fs::copy(
            root.join("scratch/blobs/sha256").join(config_hex),
            root.join(format!("{config_hex}.json")),
        )
        .unwrap();
        fs::remove_dir_all(root.join("scratch")).unwrap();
        let manifest = json!([{
            "Config": format!("{config_hex}.json"),
            "RepoTags": [repo_tag],
            "Layers": layer_paths,
        }]);
        fs::write(
            root.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        tar_dir(root, path);
        built
    }
}

/// `sha256:<hex>` of `data`.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn put(blobs: &Path, data: &[u8]) -> String {
    let d = digest(data);
    fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
    d
}

/// Tars the content of `dir` (relative paths, no leading `./`) into `out`.
pub fn tar_dir(dir: &Path, out: &Path) {
    let file = fs::File::create(out).unwrap();
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let path = entry.path();
        if path.is_dir() {
            builder.append_dir_all(&name, &path).unwrap();
        } else {
            builder.append_path_with_name(&path, &name).unwrap();
        }
    }
    builder.finish().unwrap();
}

/// The test image most engine tests use, with every layer feature exercised: a gzip busybox
/// base; a zstd layer that adds files (one owned by `app`, one with mode 0600), a directory
/// `/data/old` with content and a symlink; a plain layer that deletes `/etc/motd` with a
/// whiteout and makes `/data/old` opaque, adding `/data/old/new.txt`.
pub fn layered_busybox() -> ImageBuilder {
    ImageBuilder::new()
        .layer(busybox_layer(Compression::Gzip))
        .layer(
            LayerBuilder::new(Compression::Zstd)
                .file("etc/motd", "hello from layer 2\n", 0o644)
                .dir("data", 0o755)
                .dir("data/old", 0o755)
                .file("data/old/stale.txt", "stale\n", 0o644)
                .file_owned("data/owned.txt", "mine\n", 0o640, 1000, 1000)
                .file("data/secret.txt", "s3cret\n", 0o600)
                .symlink("data/link", "owned.txt"),
        )
        .layer(
            LayerBuilder::new(Compression::None)
                .whiteout("etc/motd")
                .opaque("data/old")
                .file("data/old/new.txt", "fresh\n", 0o644),
        )
}

/// A directory for test data that is removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("skiff-test-")
        .tempdir()
        .unwrap()
}

/// The `skopeo` binary, if installed.
pub fn skopeo() -> Option<PathBuf> {
    which("skopeo")
}

/// Finds a program in `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}
