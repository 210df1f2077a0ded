//! Reading an OCI image layout: `oci-layout`, then `index.json`, its manifests (or nested
//! indexes, of which the linux/amd64 image is taken), their configs and layers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::source::{blob_entry, Source};
use super::{parse_name, Found, ImportError};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::image::commit::MAX_JSON_BLOB;
use crate::image::media;
use crate::image::platform::{self, Platform};
use crate::image::Reference;

/// The annotation containerd, BuildKit and Docker put the full image name in.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a manifest's reference (a tag, or a full name).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// How deep indexes may nest (an index of indexes of manifests is already unusual).
const MAX_DEPTH: usize = 2;

/// A content descriptor, as much of it as an import needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Descriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    image_layout_version: String,
}

fn malformed(source: &dyn Source, entry: &str, reason: impl ToString) -> ImportError {
    ImportError::Malformed {
        archive: source.origin().to_path_buf(),
        entry: entry.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks `oci-layout`, when present, names a layout version this reader knows (1.x).
pub(super) fn check_layout_version(source: &mut dyn Source) -> Result<(), ImportError> {
    let Some(bytes) = source.metadata("oci-layout")? else {
        return Ok(());
    };
    let layout: Layout =
        serde_json::from_slice(&bytes).map_err(|e| malformed(source, "oci-layout", e))?;
    if !layout.image_layout_version.starts_with("1.") {
        return Err(malformed(
            source,
            "oci-layout",
            format!(
                "image layout version {:?} is not supported (1.x is)",
                layout.image_layout_version
            ),
        ));
    }
    Ok(())
}

/// The images `index.json` lists, each with its blobs checked into the content store.
pub(super) fn images(
    source: &mut dyn Source,
    content: &ContentStore,
    index_json: &[u8],
) -> Result<Vec<Found>, ImportError> {
    let index: Index =
        serde_json::from_slice(index_json).map_err(|e| malformed(source, "index.json", e))?;
    let mut found = Vec::with_capacity(index.manifests.len());
    for (i, desc) in index.manifests.iter().enumerate() {
        let entry = format!("index.json manifests[{i}]");
        let names = names(source, &entry, &desc.annotations)?;
        let (manifest, config) = resolve(source, content, desc, &entry, 0)?;
        found.push(Found {
            entry,
            manifest,
            config,
            names,
        });
    }
    Ok(found)
}

/// The names an index entry's annotations give (see the module documentation of
/// [`super`]): the containerd name, else a `ref.name` that is a full reference.
pub(super) fn names(
    source: &dyn Source,
    entry: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<Reference>, ImportError> {
    let text = match (
        annotations.get(ANNOTATION_IMAGE_NAME),
        annotations.get(ANNOTATION_REF_NAME),
    ) {
        (Some(full), _) => full,
        (None, Some(r)) if r.contains(['/', ':', '@']) => r,
        _ => return Ok(Vec::new()),
    };
    Ok(parse_name(source.origin(), entry, text)?
        .into_iter()
        .collect())
}

/// The image manifest and config digests a descriptor leads to, its blobs checked.
fn resolve(
    source: &mut dyn Source,
    content: &ContentStore,
    desc: &Descriptor,
    entry: &str,
    depth: usize,
) -> Result<(Digest, Digest), ImportError> {
    let digest = parse_digest(source, entry, &desc.digest)?;
    let media_type = desc.media_type.as_deref().unwrap_or("");
    if let Some(platform) = &desc.platform {
        if !platform.is_ours() && !is_index(media_type) {
            return Err(ImportError::NoAmd64 {
                archive: source.origin().to_path_buf(),
                entry: entry.to_string(),
                platforms: platform.show(),
            });
        }
    }
    match media_type {
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => {
            let config = check_manifest(source, content, &digest, desc.size, entry)?;
            Ok((digest, config))
        }
        _ if is_index(media_type) && depth < MAX_DEPTH => {
            let bytes = read_json_blob(source, content, &digest, desc.size, entry)?;
            let blob = blob_entry(&digest);
            let index: Index =
                serde_json::from_slice(&bytes).map_err(|e| malformed(source, &blob, e))?;
            let (i, chosen) = choose_amd64(source, &index, &format!("index {blob}"))?;
            resolve(
                source,
                content,
                chosen,
                &format!("{blob} manifests[{i}]"),
                depth + 1,
            )
        }
        _ if is_index(media_type) => Err(ImportError::TooDeep {
            archive: source.origin().to_path_buf(),
            entry: entry.to_string(),
            limit: MAX_DEPTH,
        }),
        _ => Err(ImportError::UnknownMediaType {
            archive: source.origin().to_path_buf(),
            entry: entry.to_string(),
            media_type: media_type.chars().take(200).collect(),
        }),
    }
}

fn is_index(media_type: &str) -> bool {
    media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST
}

/// The linux/amd64 image of an index (a plain one before a variant); without any platform
/// given, the only entry. Attestations and other platforms are skipped: their blobs need not
/// be in the archive.
fn choose_amd64<'i>(
    source: &dyn Source,
    index: &'i Index,
    entry: &str,
) -> Result<(usize, &'i Descriptor), ImportError> {
    let platforms: Vec<Option<&Platform>> = index
        .manifests
        .iter()
        .map(|d| d.platform.as_ref())
        .collect();
    match platform::choose(&platforms) {
        Ok(i) => Ok((i, &index.manifests[i])),
        Err(available) => Err(ImportError::NoAmd64 {
            archive: source.origin().to_path_buf(),
            entry: entry.to_string(),
            platforms: if available.is_empty() {
                "nothing".into()
            } else {
                available.join(", ")
            },
        }),
    }
}

/// Checks an image manifest and everything it refers to into the content store; returns its
/// config digest.
fn check_manifest(
    source: &mut dyn Source,
    content: &ContentStore,
    digest: &Digest,
    size: u64,
    entry: &str,
) -> Result<Digest, ImportError> {
    let bytes = read_json_blob(source, content, digest, size, entry)?;
    let blob = blob_entry(digest);
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| malformed(source, &blob, e))?;
    if let Some(own) = &manifest.media_type {
        if own != media::OCI_MANIFEST && own != media::DOCKER_MANIFEST {
            return Err(ImportError::UnknownMediaType {
                archive: source.origin().to_path_buf(),
                entry: blob,
                media_type: own.chars().take(200).collect(),
            });
        }
    }
    let config_entry = format!("manifest {blob} config");
    let config_type = manifest.config.media_type.as_deref().unwrap_or("");
    if config_type != media::OCI_CONFIG && config_type != media::DOCKER_CONFIG {
        return Err(ImportError::UnknownMediaType {
            archive: source.origin().to_path_buf(),
            entry: config_entry,
            media_type: config_type.chars().take(200).collect(),
        });
    }
    let config = parse_digest(source, &config_entry, &manifest.config.digest)?;
    source.blob(&config, manifest.config.size, &config_entry)?;
    for (i, layer) in manifest.layers.iter().enumerate() {
        let layer_entry = format!("manifest {blob} layers[{i}]");
        let layer_type = layer.media_type.as_deref().unwrap_or("");
        if media::layer_compression(layer_type).is_err() {
            return Err(ImportError::UnknownMediaType {
                archive: source.origin().to_path_buf(),
                entry: layer_entry,
                media_type: layer_type.chars().take(200).collect(),
            });
        }
        let layer_digest = parse_digest(source, &layer_entry, &layer.digest)?;
        source.blob(&layer_digest, layer.size, &layer_entry)?;
    }
    Ok(config)
}

/// Checks a manifest or index blob into the content store and reads it back.
fn read_json_blob(
    source: &mut dyn Source,
    content: &ContentStore,
    digest: &Digest,
    size: u64,
    entry: &str,
) -> Result<Vec<u8>, ImportError> {
    let blob = blob_entry(digest);
    if size > MAX_JSON_BLOB {
        return Err(ImportError::TooLarge {
            archive: source.origin().to_path_buf(),
            entry: blob,
            limit: MAX_JSON_BLOB,
        });
    }
    source.blob(digest, size, entry)?;
    content
        .read(digest, MAX_JSON_BLOB)
        .map_err(|source_err| ImportError::Blob {
            archive: source.origin().to_path_buf(),
            entry: blob,
            source: source_err,
        })
}

fn parse_digest(source: &dyn Source, entry: &str, text: &str) -> Result<Digest, ImportError> {
    text.parse()
        .map_err(|e: crate::digest::InvalidDigest| malformed(source, entry, e))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::image::import::source::Stored;

    struct NoFiles;
    impl Source for NoFiles {
        fn origin(&self) -> &Path {
            Path::new("x.tar")
        }
        fn metadata(&mut self, _: &str) -> Result<Option<Vec<u8>>, ImportError> {
            Ok(None)
        }
        fn file(&mut self, name: &str, referrer: &str) -> Result<Stored, ImportError> {
            Err(ImportError::Missing {
                archive: "x.tar".into(),
                referrer: referrer.into(),
                entry: name.into(),
            })
        }
    }

    fn index(json: serde_json::Value) -> Index {
        serde_json::from_value(json).unwrap()
    }

    fn desc(platform: serde_json::Value) -> serde_json::Value {
        let mut d = serde_json::json!({
            "mediaType": media::OCI_MANIFEST,
            "digest": Digest::of(platform.to_string().as_bytes()).to_string(),
            "size": 10,
        });
        if !platform.is_null() {
            d["platform"] = platform;
        }
        d
    }

    #[test]
    fn amd64_is_chosen_plain_first() {
        let i = index(serde_json::json!({"manifests": [
            desc(serde_json::json!({"os": "linux", "architecture": "arm64"})),
            desc(serde_json::json!({"os": "linux", "architecture": "amd64", "variant": "v3"})),
            desc(serde_json::json!({"os": "linux", "architecture": "amd64"})),
            desc(serde_json::json!({"os": "unknown", "architecture": "unknown"})),
        ]}));
        assert_eq!(choose_amd64(&NoFiles, &i, "idx").unwrap().0, 2);
        let only = index(serde_json::json!({"manifests": [desc(serde_json::Value::Null)]}));
        assert_eq!(choose_amd64(&NoFiles, &only, "idx").unwrap().0, 0);
    }

    #[test]
    fn an_index_without_amd64_is_refused_with_its_platforms() {
        let i = index(serde_json::json!({"manifests": [
            desc(serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})),
            desc(serde_json::json!({"os": "linux", "architecture": "s390x"})),
        ]}));
        let err = choose_amd64(&NoFiles, &i, "blobs/sha256/abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.tar: blobs/sha256/abc has no linux/amd64 image (it has: linux/arm64/v8, \
             linux/s390x); this node runs linux/amd64"
        );
    }

    #[test]
    fn names_from_annotations() {
        let names = |pairs: &[(&str, &str)]| {
            let a = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            names(&NoFiles, "index.json manifests[0]", &a)
                .map(|n| n.iter().map(|r| r.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            names(&[(ANNOTATION_REF_NAME, "latest")]).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            names(&[(ANNOTATION_REF_NAME, "busybox:1")]).unwrap(),
            ["docker.io/library/busybox:1"]
        );
        assert_eq!(
            names(&[
                (ANNOTATION_REF_NAME, "1"),
                (ANNOTATION_IMAGE_NAME, "example.com/app:1")
            ])
            .unwrap(),
            ["example.com/app:1"]
        );
        assert!(names(&[(ANNOTATION_IMAGE_NAME, "UPPER/case:1")]).is_err());
    }

    #[test]
    fn unknown_media_types_are_refused() {
        let d: Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.cncf.helm.config.v1+json",
            "digest": Digest::of(b"x").to_string(),
            "size": 1,
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path(), 1 << 20).unwrap();
        let err = resolve(&mut NoFiles, &content, &d, "index.json manifests[0]", 0).unwrap_err();
        assert!(matches!(err, ImportError::UnknownMediaType { .. }), "{err}");
        assert!(err.to_string().contains("helm"), "{err}");
    }
}
