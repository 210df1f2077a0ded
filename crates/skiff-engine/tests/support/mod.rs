//! Helpers for the pull tests: engines pointed at local registries, small images, a progress
//! recorder.
#![allow(dead_code)]

pub mod fake_registry;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use skiff_engine::image::pull::PullProgress;
use skiff_engine::image::registry::RegistryConfig;
use skiff_engine::image::Reference;
use skiff_engine::{Digest, Engine, EngineOptions};
use skiff_testkit::image::{BuiltImage, Compression, ImageBuilder, LayerBuilder};

use fake_registry::Content;

/// Registry settings for tests: `addr` over plain HTTP, 1 s timeouts, quick retries.
pub fn config(addr: &str) -> RegistryConfig {
    RegistryConfig {
        insecure: vec![addr.to_string()],
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        backoff: Duration::from_millis(20),
        ..RegistryConfig::default()
    }
}

/// An engine on `dir` with `registry` settings.
pub fn engine(dir: &Path, registry: RegistryConfig) -> Engine {
    let mut opts = EngineOptions::new(dir);
    opts.registry = registry;
    Engine::open(opts).unwrap()
}

/// Parses a reference.
pub fn reference(text: &str) -> Reference {
    text.parse().unwrap()
}

/// A small three-layer image (gzip, zstd, plain) without busybox.
pub fn small_image() -> ImageBuilder {
    ImageBuilder::new()
        .layer(LayerBuilder::new(Compression::Gzip).dir("etc", 0o755).file(
            "etc/hello",
            "hello\n",
            0o644,
        ))
        .layer(LayerBuilder::new(Compression::Zstd).file("two.txt", vec![b'2'; 300_000], 0o644))
        .layer(LayerBuilder::new(Compression::None).file("three.txt", "3\n", 0o644))
}

/// An image of one zstd layer: tests of a failing download use it, so that no other layer is
/// being unpacked when the download fails.
pub fn one_layer_image() -> ImageBuilder {
    ImageBuilder::new().layer(
        LayerBuilder::new(Compression::Zstd).file(
            "data.bin",
            (0..200_000u32)
                .map(|i| (i * 7919 % 251) as u8)
                .collect::<Vec<u8>>(),
            0o644,
        ),
    )
}

/// `image` written as an OCI layout under `dir`, as a fake's content tagged `tag`.
pub fn served(image: &ImageBuilder, dir: &Path, tag: &str) -> (Content, BuiltImage) {
    let built = image.write_oci_layout(dir, tag);
    let mut content = Content::from_layout(dir);
    let manifest = content.blobs[&built.manifest_digest].clone();
    content.add_manifest(
        Some(tag),
        "application/vnd.oci.image.manifest.v1+json",
        manifest,
    );
    (content, built)
}

/// The manifest `content` serves for `tag`, parsed.
pub fn manifest_json(content: &Content, tag: &str) -> Value {
    serde_json::from_slice(&content.manifests[tag].1).unwrap()
}

/// What a pull reported.
#[derive(Debug, Default)]
pub struct Recorder {
    /// The resolved manifest.
    pub resolved: Mutex<Option<Digest>>,
    /// Bytes per blob.
    pub bytes: Mutex<Vec<(Digest, u64)>>,
    /// Finished layers and whether they were present.
    pub done: Mutex<Vec<(Digest, bool)>>,
}

impl PullProgress for Recorder {
    fn resolved(&self, _r: &Reference, manifest: &Digest) {
        *self.resolved.lock().unwrap() = Some(manifest.clone());
    }
    fn layer_bytes(&self, blob: &Digest, new_bytes: u64) {
        self.bytes.lock().unwrap().push((blob.clone(), new_bytes));
    }
    fn layer_done(&self, blob: &Digest, already_present: bool) {
        self.done
            .lock()
            .unwrap()
            .push((blob.clone(), already_present));
    }
}

impl Recorder {
    /// Total bytes reported for `blob`.
    pub fn bytes_of(&self, blob: &Digest) -> u64 {
        let bytes = self.bytes.lock().unwrap();
        bytes
            .iter()
            .filter(|(b, _)| b == blob)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The digest of layer `i` of the manifest `content` serves for `tag`.
pub fn layer_digest(content: &Content, tag: &str, i: usize) -> String {
    manifest_json(content, tag)["layers"][i]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An index (or manifest list) of `media_type` with entries (os, arch, variant, digest, size).
pub fn index(entries: &[(&str, &str, Option<&str>, &str, u64)], media_type: &str) -> Vec<u8> {
    let manifests: Vec<_> = entries
        .iter()
        .map(|(os, arch, variant, d, size)| {
            let mut platform = json!({"os": os, "architecture": arch});
            if let Some(v) = variant {
                platform["variant"] = json!(v);
            }
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": d, "size": size, "platform": platform})
        })
        .collect();
    serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}),
    )
    .unwrap()
}
