//! The registry client (OCI distribution API, as Docker's registry and every OCI registry
//! serve it): manifests and blobs of one repository over HTTPS (plain HTTP for registries the
//! configuration lists as insecure), with anonymous, bearer-token and basic authentication,
//! bounded retries with back-off, connect and read timeouts, and redirects for blob downloads.
//!
//! * [`config`]: [`RegistryConfig`] and its file form;
//! * [`auth`]: credentials from a Docker-compatible auth file, `WWW-Authenticate` challenges;
//! * [`client`]: [`RegistryClient`], the requests themselves.
//!
//! Pulling an image (choosing a platform, storing, unpacking) is [`crate::image::pull`]'s job.

pub mod auth;
pub mod client;
pub mod config;
mod http;

use std::path::PathBuf;
use std::time::Duration;

use crate::content::ContentError;
use crate::digest::Digest;
use crate::image::media::UnsupportedMediaType;

pub use client::{FetchedManifest, RegistryClient};
pub use config::RegistryConfig;

/// What can go wrong talking to a registry. Messages name the registry and what was asked of
/// it, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry configuration file is unreadable or invalid.
    #[error("registry configuration {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The auth file is unreadable or invalid.
    #[error("auth file {path}: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a credential).
        reason: String,
    },
    /// The registry could not be reached.
    #[error("registry {registry}: {reason}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The registry did not answer in time.
    #[error("registry {registry} did not answer within {timeout:?} while {doing} (is it hanging or overloaded? the registry configuration sets the timeouts)")]
    Timeout {
        /// The registry.
        registry: String,
        /// What was being fetched.
        doing: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The registry kept answering with a server error (or "too many requests").
    #[error("registry {registry} answered HTTP {status} while {doing}, {attempts} times; try again later")]
    ServerError {
        /// The registry.
        registry: String,
        /// What was being fetched.
        doing: String,
        /// The last status.
        status: u16,
        /// How many times it was tried.
        attempts: u32,
    },
    /// The registry wants credentials and none are configured.
    #[error("authentication required for {registry} (repository {repository}, or it does not exist): add credentials for {registry} to the auth file")]
    AuthRequired {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
    },
    /// The registry refused the configured credentials.
    #[error("credentials rejected for {registry} (repository {repository}): check the entry for {registry} in the auth file")]
    CredentialsRejected {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
    },
    /// The registry refuses access (HTTP 403).
    #[error("registry {registry} denies access to repository {repository}")]
    Denied {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
    },
    /// The registry asks for an authentication Skiff cannot give.
    #[error("registry {registry}: {reason}")]
    Authentication {
        /// The registry (or its token server).
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The image (tag or digest) is not in the registry.
    #[error("{reference} not found in {registry}")]
    NotFound {
        /// The registry.
        registry: String,
        /// The full reference.
        reference: String,
    },
    /// A blob the manifest lists is not in the registry.
    #[error("blob {digest} of {registry}/{repository} not found in {registry}")]
    BlobNotFound {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The blob.
        digest: Digest,
    },
    /// The registry answered with a status that makes no sense here.
    #[error("registry {registry} answered HTTP {status} while {doing}")]
    UnexpectedStatus {
        /// The registry.
        registry: String,
        /// What was being fetched.
        doing: String,
        /// The status.
        status: u16,
    },
    /// A redirect could not be followed.
    #[error("registry {registry}: {reason}")]
    Redirect {
        /// The registry.
        registry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest does not have the digest it was asked for or announced under.
    #[error("manifest {reference} hashes to {actual}, not {expected}: it was tampered with or corrupted")]
    ManifestDigest {
        /// The registry.
        registry: String,
        /// The full reference.
        reference: String,
        /// The digest expected.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// A manifest is not valid.
    #[error("manifest {reference} is invalid: {reason}")]
    BadManifest {
        /// The registry.
        registry: String,
        /// The full reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest has a media type Skiff does not know.
    #[error("{reference} has media type {media_type:?}, which is not an OCI or Docker (schema 2) image manifest or index")]
    UnknownMediaType {
        /// The registry.
        registry: String,
        /// The full reference.
        reference: String,
        /// The media type.
        media_type: String,
    },
    /// A manifest lists a layer Skiff cannot unpack.
    #[error("{reference}: {source}")]
    LayerMediaType {
        /// The registry.
        registry: String,
        /// The full reference.
        reference: String,
        /// The media type and why.
        source: UnsupportedMediaType,
    },
    /// An index has no image for this node's platform.
    #[error("{reference} has no image for {wanted}; it has {}", if available.is_empty() { "none with a platform".to_string() } else { available.join(", ") })]
    NoPlatform {
        /// The registry.
        registry: String,
        /// The full reference.
        reference: String,
        /// The platform wanted (`linux/amd64`).
        wanted: String,
        /// The platforms the index offers (`os/arch[/variant]`).
        available: Vec<String>,
    },
    /// A downloaded blob failed verification (digest or size) or could not be stored.
    #[error("blob {digest} from {registry}/{repository}: {source}")]
    Blob {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The blob.
        digest: Digest,
        /// Why.
        source: ContentError,
    },
    /// A download kept breaking off.
    #[error("blob {digest} from {registry}/{repository}: the download was cut short {attempts} times (last: {reason})")]
    Download {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The blob.
        digest: Digest,
        /// How many times it was tried.
        attempts: u32,
        /// The last error.
        reason: String,
    },
    /// The download stopped because another part of the pull failed.
    #[error("download from {registry} stopped because another part of the pull failed")]
    Cancelled {
        /// The registry.
        registry: String,
    },
}
