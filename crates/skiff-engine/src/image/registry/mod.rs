//! The registry client (OCI distribution API): authentication, retries, manifests and blobs.
//! (Being written; see issue 4.)

/// Registry settings: which registries may be reached over plain HTTP, credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Registries (`host:port`) reached over plain HTTP.
    pub insecure: Vec<String>,
}

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached.
    #[error("registry {registry}: {reason}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// Why.
        reason: String,
    },
}
