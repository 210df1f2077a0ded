//! Pulling images from registries into the store: the reference is resolved to a manifest
//! (an index or manifest list is narrowed to its linux/amd64 image), the manifest and config
//! are stored, the layers not unpacked yet are downloaded a few at a time — each unpacked as
//! soon as its download is complete — and the image is recorded by [`commit`].
//!
//! Everything downloaded is verified by the content store before it gets its name, so a
//! failed pull leaves only complete, verified blobs and layers (and leftovers under `ingest/`
//! and `layers/tmp/` that nothing uses). The engine's GC guard is held throughout, so garbage
//! collection cannot remove what the pull has stored but not yet recorded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Deserialize;

use super::commit::{self, MAX_JSON_BLOB};
use super::platform::{self, Platform};
use super::registry::client::is_manifest_media_type;
use super::registry::{FetchedManifest, RegistryClient, RegistryError};
use super::{media, Image, Layer, Reference};
use crate::digest::Digest;
use crate::engine::{now, Engine};
use crate::error::Error;

/// Hears how a pull is going (for progress bars); every method has an empty default. Called
/// from the download threads, so implementations must be `Sync`.
pub trait PullProgress: Sync {
    /// The reference was resolved to the image manifest `manifest` (for an index: the
    /// linux/amd64 entry's).
    fn resolved(&self, _r: &Reference, _manifest: &Digest) {}
    /// Work on the layer with blob `blob` of `size` bytes begins.
    fn layer_start(&self, _blob: &Digest, _size: u64) {}
    /// `new_bytes` more bytes of `blob` arrived (a retried download counts each byte once).
    fn layer_bytes(&self, _blob: &Digest, _new_bytes: u64) {}
    /// The layer is unpacked; `already_present` when nothing had to be downloaded (the layer,
    /// or its blob, was already in the store).
    fn layer_done(&self, _blob: &Digest, _already_present: bool) {}
}

/// A [`PullProgress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl PullProgress for NoProgress {}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct IndexDoc {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ManifestDoc {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Just enough of any manifest to tell what it is.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    manifests: Option<serde::de::IgnoredAny>,
    layers: Option<serde::de::IgnoredAny>,
}

/// What a fetched manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Index,
    Manifest,
}

impl Engine {
    /// Pulls `reference` from its registry into the store and records it (under the
    /// reference, or `name@digest` when pulled by digest). Synchronous; async callers use
    /// `spawn_blocking`.
    pub fn pull(&self, reference: &Reference, progress: &dyn PullProgress) -> Result<Image, Error> {
        let _guard = self.gc_guard(false)?;
        let client = RegistryClient::new(&self.opts.registry, reference)?;
        let (manifest, doc) = resolve(&client, reference)?;
        progress.resolved(reference, &manifest.digest);
        let here = format!("{}@{}", client.name(), manifest.digest);
        check_manifest(&client, &here, &doc)?;
        self.content.write_bytes(&manifest.bytes)?;

        let config = descriptor_digest(&client, &here, &doc.config)?;
        if !self.content.contains(&config) {
            let never = AtomicBool::new(false);
            client.fetch_blob(&self.content, &config, doc.config.size, &|_| {}, &never)?;
        }
        let (_, layers) = commit::plan(&self.content, &manifest.digest)?;
        self.fetch_layers(&client, &layers, progress)?;
        let names = vec![match reference.digest {
            Some(_) => Reference {
                tag: None,
                ..reference.clone()
            },
            None => reference.clone(),
        }];
        Ok(commit::commit(
            &self.content,
            &self.layers,
            &self.images,
            &manifest.digest,
            names,
            now(),
        )?)
    }

    /// Downloads and unpacks the layers, up to `max_concurrent_downloads` at once; the first
    /// failure stops the others.
    fn fetch_layers(
        &self,
        client: &RegistryClient,
        layers: &[Layer],
        progress: &dyn PullProgress,
    ) -> Result<(), Error> {
        let mut unique: Vec<&Layer> = Vec::with_capacity(layers.len());
        for layer in layers {
            if !unique.iter().any(|l| l.diff_id == layer.diff_id) {
                unique.push(layer);
            }
        }
        let next = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self
            .opts
            .registry
            .max_concurrent_downloads
            .clamp(1, unique.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while !cancel.load(Ordering::Relaxed) {
                        let Some(layer) = unique.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        if let Err(e) = self.fetch_layer(client, layer, progress, &cancel) {
                            cancel.store(true, Ordering::Relaxed);
                            let mut first = failure.lock().unwrap_or_else(|e| e.into_inner());
                            let cancelled = matches!(&e, Error::Registry(r)
                                if matches!(**r, RegistryError::Cancelled { .. }));
                            if first.is_none() && !cancelled {
                                *first = Some(e);
                            }
                            break;
                        }
                    }
                });
            }
        });
        match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None if cancel.load(Ordering::Relaxed) => Err(RegistryError::Cancelled {
                registry: client.registry().to_string(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Makes one layer present: nothing to do if it is unpacked, else its blob is downloaded
    /// (unless stored) and unpacked.
    fn fetch_layer(
        &self,
        client: &RegistryClient,
        layer: &Layer,
        progress: &dyn PullProgress,
        cancel: &AtomicBool,
    ) -> Result<(), Error> {
        progress.layer_start(&layer.blob, layer.size);
        if self.layers.contains(&layer.diff_id) {
            progress.layer_done(&layer.blob, true);
            return Ok(());
        }
        let download = !self.content.contains(&layer.blob);
        if download {
            let on_bytes = |n| progress.layer_bytes(&layer.blob, n);
            client.fetch_blob(&self.content, &layer.blob, layer.size, &on_bytes, cancel)?;
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(RegistryError::Cancelled {
                registry: client.registry().to_string(),
            }
            .into());
        }
        commit::unpack_layer(&self.content, &self.layers, layer)?;
        progress.layer_done(&layer.blob, !download);
        Ok(())
    }
}

/// Fetches the manifest `reference` names; an index is narrowed to its linux/amd64 manifest.
fn resolve(
    client: &RegistryClient,
    reference: &Reference,
) -> Result<(FetchedManifest, ManifestDoc), RegistryError> {
    let wanted = match (&reference.digest, &reference.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => "latest".to_string(),
    };
    let full = reference.to_string();
    let fetched = client.manifest(&wanted)?;
    let fetched = match kind(client, &full, &fetched)? {
        Kind::Manifest => fetched,
        Kind::Index => {
            let index: IndexDoc = parse(client, &full, &fetched.bytes)?;
            let entry = pick_platform(client, &full, &index)?;
            let digest = descriptor_digest(client, &full, entry)?;
            let here = format!("{}@{digest}", client.name());
            let platform = client.manifest(&digest.to_string())?;
            if kind(client, &here, &platform)? != Kind::Manifest {
                return Err(bad_manifest(
                    client,
                    &here,
                    "an index entry is itself an index",
                ));
            }
            if platform.bytes.len() as u64 != entry.size {
                return Err(bad_manifest(
                    client,
                    &here,
                    "its size differs from the index",
                ));
            }
            platform
        }
    };
    let here = format!("{}@{}", client.name(), fetched.digest);
    let doc = parse(client, &here, &fetched.bytes)?;
    Ok((fetched, doc))
}

/// Whether `fetched` is an index or an image manifest: the `mediaType` inside (covered by the
/// digest) wins over `Content-Type`; without either, the shape decides.
fn kind(
    client: &RegistryClient,
    reference: &str,
    fetched: &FetchedManifest,
) -> Result<Kind, RegistryError> {
    let probe: Probe = parse(client, reference, &fetched.bytes)?;
    let unknown = |media_type: &str| RegistryError::UnknownMediaType {
        registry: client.registry().to_string(),
        reference: reference.to_string(),
        media_type: media_type.chars().take(200).collect(),
    };
    let declared = probe.media_type.clone().or_else(|| {
        fetched
            .content_type
            .clone()
            .filter(|c| is_manifest_media_type(c))
    });
    match declared.as_deref() {
        Some(media::OCI_INDEX | media::DOCKER_LIST) => Ok(Kind::Index),
        Some(media::OCI_MANIFEST | media::DOCKER_MANIFEST) => Ok(Kind::Manifest),
        Some(other) => Err(unknown(other)),
        None if probe.schema_version == Some(1) => Err(unknown("schema 1 (no media type)")),
        None if probe.manifests.is_some() => Ok(Kind::Index),
        None if probe.layers.is_some() => Ok(Kind::Manifest),
        None => Err(unknown(fetched.content_type.as_deref().unwrap_or("none"))),
    }
}

/// The index entry for linux/amd64.
fn pick_platform<'a>(
    client: &RegistryClient,
    reference: &str,
    index: &'a IndexDoc,
) -> Result<&'a Descriptor, RegistryError> {
    let platforms: Vec<Option<&Platform>> = index
        .manifests
        .iter()
        .map(|d| d.platform.as_ref())
        .collect();
    platform::choose(&platforms)
        .map(|i| &index.manifests[i])
        .map_err(|available| RegistryError::NoPlatform {
            registry: client.registry().to_string(),
            reference: reference.to_string(),
            wanted: format!("{}/{}", platform::OS, platform::ARCH),
            available,
        })
}

/// Refuses, before anything is downloaded, a manifest whose config is not an image config or
/// whose layers Skiff cannot unpack.
fn check_manifest(
    client: &RegistryClient,
    reference: &str,
    doc: &ManifestDoc,
) -> Result<(), RegistryError> {
    let config_type = doc.config.media_type.as_str();
    if ![media::OCI_CONFIG, media::DOCKER_CONFIG].contains(&config_type) {
        return Err(bad_manifest(
            client,
            reference,
            &format!("its config has media type {config_type:?}: it is not a container image"),
        ));
    }
    if doc.config.size > MAX_JSON_BLOB {
        return Err(bad_manifest(client, reference, "its config is too large"));
    }
    for layer in &doc.layers {
        media::layer_compression(&layer.media_type).map_err(|source| {
            RegistryError::LayerMediaType {
                registry: client.registry().to_string(),
                reference: reference.to_string(),
                source,
            }
        })?;
    }
    Ok(())
}

fn descriptor_digest(
    client: &RegistryClient,
    reference: &str,
    desc: &Descriptor,
) -> Result<Digest, RegistryError> {
    desc.digest
        .parse()
        .map_err(|e: crate::digest::InvalidDigest| bad_manifest(client, reference, &e.to_string()))
}

fn parse<'a, T: Deserialize<'a>>(
    client: &RegistryClient,
    reference: &str,
    bytes: &'a [u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| bad_manifest(client, reference, &e.to_string()))
}

fn bad_manifest(client: &RegistryClient, reference: &str, reason: &str) -> RegistryError {
    RegistryError::BadManifest {
        registry: client.registry().to_string(),
        reference: reference.to_string(),
        reason: reason.to_string(),
    }
}
