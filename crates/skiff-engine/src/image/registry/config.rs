//! [`RegistryConfig`]: how the engine talks to registries, and its file form.
//!
//! The file is JSON; every field is optional and unknown fields are refused:
//!
//! ```json
//! {
//!   "insecure": ["127.0.0.1:5000", "registry.lan:5000"],
//!   "auth_file": "/root/.docker/config.json",
//!   "connect_timeout_secs": 30,
//!   "read_timeout_secs": 60,
//!   "attempts": 3,
//!   "backoff_ms": 500,
//!   "max_concurrent_downloads": 3
//! }
//! ```
//!
//! * `insecure` — registries (`host:port`, as written in image references) reached over plain
//!   HTTP; every other registry is reached over HTTPS.
//! * `auth_file` — a Docker-compatible auth file (`docker login` writes one):
//!   `{"auths": {"host:port": {"auth": "<base64 of user:password>"}}}`, or `username` and
//!   `password` fields instead of `auth`. Keys may carry a scheme and a path
//!   (`https://index.docker.io/v1/` is Docker Hub). Credential helpers are not used. A missing
//!   file means no credentials.
//! * `connect_timeout_secs`, `read_timeout_secs` — how long to wait for a connection, and for
//!   each read from it (a registry that stops answering fails after this long); fractions are
//!   allowed.
//! * `attempts` — tries per request when the connection fails or the registry answers 5xx or
//!   429 (at least 1); timeouts are not retried.
//! * `backoff_ms` — the wait before the second try; it doubles for each further one.
//! * `max_concurrent_downloads` — layers downloaded at once by one pull (at least 1).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::RegistryError;
use crate::fsutil::read_limited;

/// Largest registry configuration file read.
const MAX_CONFIG: u64 = 1 << 20;

/// Registry settings: which registries may be reached over plain HTTP, where credentials are,
/// timeouts and retries. It holds no secrets itself (only the auth file's path), so its
/// `Debug` output is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Registries (`host:port`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// A Docker-compatible auth file with credentials per registry.
    pub auth_file: Option<PathBuf>,
    /// How long to wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// How long to wait for each read from a connection (headers or body).
    pub read_timeout: Duration,
    /// Tries per request on connection errors and 5xx/429 answers (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    pub backoff: Duration,
    /// Layers downloaded at once by one pull (at least 1).
    pub max_concurrent_downloads: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            auth_file: None,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            attempts: 3,
            backoff: Duration::from_millis(500),
            max_concurrent_downloads: 3,
        }
    }
}

/// The file form (see the module documentation).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    insecure: Vec<String>,
    auth_file: Option<PathBuf>,
    connect_timeout_secs: Option<f64>,
    read_timeout_secs: Option<f64>,
    attempts: Option<u32>,
    backoff_ms: Option<u64>,
    max_concurrent_downloads: Option<usize>,
}

impl RegistryConfig {
    /// Reads a configuration file (format in the module documentation); fields it leaves out
    /// keep their defaults.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let bytes = read_limited(path, MAX_CONFIG).map_err(|e| RegistryError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_json(&bytes).map_err(|reason| RegistryError::Config {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses the file form; the error says what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let file: ConfigFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut config = RegistryConfig {
            insecure: file.insecure,
            auth_file: file.auth_file,
            ..RegistryConfig::default()
        };
        if let Some(secs) = file.connect_timeout_secs {
            config.connect_timeout = seconds("connect_timeout_secs", secs)?;
        }
        if let Some(secs) = file.read_timeout_secs {
            config.read_timeout = seconds("read_timeout_secs", secs)?;
        }
        if let Some(attempts) = file.attempts {
            if !(1..=20).contains(&attempts) {
                return Err(format!("attempts must be 1 to 20, not {attempts}"));
            }
            config.attempts = attempts;
        }
        if let Some(ms) = file.backoff_ms {
            if ms > 60_000 {
                return Err(format!("backoff_ms must be at most 60000, not {ms}"));
            }
            config.backoff = Duration::from_millis(ms);
        }
        if let Some(n) = file.max_concurrent_downloads {
            if !(1..=32).contains(&n) {
                return Err(format!("max_concurrent_downloads must be 1 to 32, not {n}"));
            }
            config.max_concurrent_downloads = n;
        }
        for registry in &config.insecure {
            if registry.is_empty() || registry.contains('/') {
                return Err(format!(
                    "insecure registry {registry:?} must be host or host:port, without scheme or path"
                ));
            }
        }
        Ok(config)
    }

    /// Whether `registry` (`host:port`) is reached over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure.iter().any(|r| r == registry)
    }
}

fn seconds(field: &str, secs: f64) -> Result<Duration, String> {
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!(
            "{field} must be more than 0 and at most 3600, not {secs}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fields_override_defaults() {
        let c = RegistryConfig::from_json(
            br#"{"insecure":["127.0.0.1:5000"],"read_timeout_secs":1.5,"attempts":2}"#,
        )
        .unwrap();
        assert_eq!(c.insecure, ["127.0.0.1:5000"]);
        assert_eq!(c.read_timeout, Duration::from_millis(1500));
        assert_eq!(c.attempts, 2);
        assert_eq!(c.connect_timeout, RegistryConfig::default().connect_timeout);
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(!c.is_insecure("127.0.0.1:5001"));
        assert_eq!(
            RegistryConfig::from_json(b"{}").unwrap(),
            RegistryConfig::default()
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_field_named() {
        for (text, what) in [
            (r#"{"insecur":[]}"#, "insecur"),
            (r#"{"attempts":0}"#, "attempts"),
            (r#"{"read_timeout_secs":-1}"#, "read_timeout_secs"),
            (r#"{"insecure":["http://x:5000"]}"#, "insecure"),
            (
                r#"{"max_concurrent_downloads":0}"#,
                "max_concurrent_downloads",
            ),
        ] {
            let err = RegistryConfig::from_json(text.as_bytes()).unwrap_err();
            assert!(err.contains(what), "{text}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.json");
        std::fs::write(&path, "[").unwrap();
        let err = RegistryConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("registries.json"), "{err}");
    }
}
