//! Media types of manifests, configs and layers (OCI and Docker), and what they tell about a
//! layer's compression.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

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

/// A layer media type Skiff cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported layer media type {media_type:?}: {reason}")]
pub struct UnsupportedMediaType {
    /// The media type.
    pub media_type: String,
    /// Why, and what would work.
    pub reason: &'static str,
}

/// The compression of a layer with this media type.
pub fn layer_compression(media_type: &str) -> Result<Compression, UnsupportedMediaType> {
    let unsupported = |reason| UnsupportedMediaType {
        media_type: media_type.chars().take(200).collect(),
        reason,
    };
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Ok(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Ok(Compression::Zstd),
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Err(unsupported(
            "foreign layers (Windows base images) are fetched from outside URLs; Skiff runs Linux images only",
        )),
        _ => Err(unsupported(
            "layers must be tar, tar+gzip or tar+zstd (OCI or Docker media types)",
        )),
    }
}

/// The compression a blob's first bytes show (for `docker save` archives, whose layers carry
/// no media type).
pub fn sniff_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_types() {
        assert_eq!(
            layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Ok(Compression::Gzip)
        );
        assert_eq!(
            layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"),
            Ok(Compression::Zstd)
        );
        let err = layer_compression("application/x-tar+bzip2").unwrap_err();
        assert!(err.to_string().contains("tar, tar+gzip or tar+zstd"));
        assert_eq!(sniff_compression(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(sniff_compression(b"bin/\0\0"), Compression::None);
    }
}
