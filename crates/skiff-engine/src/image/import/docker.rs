//! Reading a `docker save` archive's `manifest.json`: for each image its config (named by its
//! digest), its layers (plain tars whose digests are the config's diff ids, or compressed
//! ones), and its `RepoTags`. Docker archives carry no image manifest, so one is made: a
//! Docker schema 2 manifest, stored as a blob; its digest is the image's manifest digest.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::json;

use super::source::{digest_in_name, Source, Stored};
use super::{parse_name, Found, ImportError};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::image::commit::MAX_JSON_BLOB;
use crate::image::media::{self, Compression};
use crate::image::Reference;

/// Docker's media type of a plain layer tar.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker's media type of a gzip-compressed layer tar.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI's media type of a zstd-compressed layer tar (Docker has none).
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// The part of an image config the import checks.
#[derive(Debug, Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    diff_ids: Vec<Digest>,
}

/// Parses `manifest.json`.
pub(super) fn parse(source: &dyn Source, bytes: &[u8]) -> Result<Vec<Entry>, ImportError> {
    serde_json::from_slice(bytes).map_err(|e| ImportError::Malformed {
        archive: source.origin().to_path_buf(),
        entry: "manifest.json".into(),
        reason: e.to_string(),
    })
}

/// An image of `manifest.json`.
#[derive(Debug)]
pub(super) enum Listed {
    /// One the OCI index of the same archive lists too: it only adds names.
    Known {
        /// Its config digest.
        config: Digest,
        /// Its `RepoTags`.
        names: Vec<Reference>,
    },
    /// One read from `manifest.json` alone.
    New(Found),
}

/// The images `manifest.json` lists. Those whose config is in `known` (already read from the
/// OCI index of the same archive) are not read again.
pub(super) fn images(
    source: &mut dyn Source,
    content: &ContentStore,
    manifest_json: &[u8],
    known: &BTreeSet<Digest>,
) -> Result<Vec<Listed>, ImportError> {
    let entries = parse(source, manifest_json)?;
    let mut found = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let entry = format!("manifest.json[{i}]");
        let config = config(source, e, &entry)?;
        let mut names = Vec::new();
        for tag in e.repo_tags.iter().flatten() {
            names.extend(parse_name(source.origin(), &entry, tag)?);
        }
        if known.contains(&config.digest) {
            found.push(Listed::Known {
                config: config.digest,
                names,
            });
            continue;
        }
        let manifest = synthesize(source, content, e, &config, &entry)?;
        found.push(Listed::New(Found {
            entry,
            manifest,
            config: config.digest,
            names,
        }));
    }
    Ok(found)
}

/// The entry's config, checked against its file name when that is a digest (`<hex>.json`,
/// `blobs/sha256/<hex>`).
fn config(source: &mut dyn Source, e: &Entry, entry: &str) -> Result<Stored, ImportError> {
    let referrer = format!("{entry} Config");
    let stored = source.file(&e.config, &referrer)?;
    let named = match e.config.strip_suffix(".json") {
        Some(hex) if !hex.contains('/') => format!("sha256:{hex}").parse::<Digest>().ok(),
        _ => digest_in_name(&e.config).ok().flatten(),
    };
    if let Some(named) = named {
        if named != stored.digest {
            return Err(ImportError::DigestMismatch {
                archive: source.origin().to_path_buf(),
                referrer,
                entry: e.config.clone(),
                expected: named,
                actual: stored.digest,
            });
        }
    }
    Ok(stored)
}

/// Checks the layers against the config and stores a schema 2 manifest for the image;
/// returns its digest.
fn synthesize(
    source: &mut dyn Source,
    content: &ContentStore,
    e: &Entry,
    config: &Stored,
    entry: &str,
) -> Result<Digest, ImportError> {
    let origin = source.origin().to_path_buf();
    let bytes = content
        .read(&config.digest, MAX_JSON_BLOB)
        .map_err(|err| ImportError::Blob {
            archive: origin.clone(),
            entry: e.config.clone(),
            source: err,
        })?;
    let parsed: Config = serde_json::from_slice(&bytes).map_err(|err| ImportError::Malformed {
        archive: origin.clone(),
        entry: e.config.clone(),
        reason: err.to_string(),
    })?;
    let diff_ids = parsed.rootfs.diff_ids;
    if diff_ids.len() != e.layers.len() {
        return Err(ImportError::Malformed {
            archive: origin,
            entry: entry.to_string(),
            reason: format!(
                "it lists {} layers but its config {} has {} diff ids",
                e.layers.len(),
                e.config,
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::with_capacity(e.layers.len());
    for (i, (name, diff_id)) in e.layers.iter().zip(&diff_ids).enumerate() {
        let referrer = format!("{entry} Layers[{i}]");
        let stored = source.file(name, &referrer)?;
        let media_type = match stored.compression {
            Compression::None if &stored.digest != diff_id => {
                return Err(ImportError::DigestMismatch {
                    archive: source.origin().to_path_buf(),
                    referrer: format!("{} rootfs.diff_ids[{i}]", e.config),
                    entry: name.clone(),
                    expected: diff_id.clone(),
                    actual: stored.digest,
                })
            }
            Compression::None => DOCKER_LAYER,
            Compression::Gzip => DOCKER_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        };
        layers.push(json!({
            "mediaType": media_type,
            "size": stored.size,
            "digest": stored.digest.to_string(),
        }));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_MANIFEST,
        "config": {
            "mediaType": media::DOCKER_CONFIG,
            "size": config.size,
            "digest": config.digest.to_string(),
        },
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
    content
        .write_bytes(&bytes)
        .map_err(|err| ImportError::Blob {
            archive: source.origin().to_path_buf(),
            entry: format!("the manifest made for {entry}"),
            source: err,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_json_shapes() {
        struct S;
        impl Source for S {
            fn origin(&self) -> &std::path::Path {
                std::path::Path::new("a.tar")
            }
            fn metadata(&mut self, _: &str) -> Result<Option<Vec<u8>>, ImportError> {
                Ok(None)
            }
            fn file(&mut self, _: &str, _: &str) -> Result<Stored, ImportError> {
                unreachable!()
            }
        }
        let ok = br#"[{"Config":"abc.json","RepoTags":null,"Layers":["a/layer.tar"],"Parent":"x","LayerSources":{}}]"#;
        let entries = parse(&S, ok).unwrap();
        assert_eq!(entries[0].layers, ["a/layer.tar"]);
        assert!(entries[0].repo_tags.is_none());
        for bad in [&br#"{"Config":"x"}"#[..], br#"[{"RepoTags":[]}]"#, b"[{"] {
            let err = parse(&S, bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("a.tar: manifest.json is malformed:"),
                "{err}"
            );
        }
    }
}
