//! [`RegistryClient`]: the requests of one pull against one repository. Every request goes
//! through one loop (`RegistryClient::fetch`) that follows redirects itself (the
//! `Authorization` header only ever goes to the registry's own origin), answers a 401 once by
//! authenticating (bearer token or basic), retries connection errors and 5xx/429 answers with
//! doubling back-off up to the configured number of attempts, and never retries a timeout.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::Response;
use ureq::Body;

mod authenticate;
mod failures;

use failures::Last;

use super::auth::{self, Credentials, Secret};
use super::http::{self, ReadFailure, Tracked, MAX_REDIRECTS};
use super::{RegistryConfig, RegistryError};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::image::commit::MAX_JSON_BLOB;
use crate::image::media;
use crate::image::Reference;

/// Largest token answer read.
const MAX_TOKEN_ANSWER: u64 = 1 << 20;

/// What `Accept` says when asking for a manifest: every kind Skiff can pull.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest (or index) as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The bytes, as served (their digest is the manifest's digest).
    pub bytes: Vec<u8>,
    /// The digest of the bytes (checked against `Docker-Content-Digest` and any pinned digest).
    pub digest: Digest,
    /// The `Content-Type` the registry gave, if any.
    pub content_type: Option<String>,
}

/// A client for one repository of one registry.
pub struct RegistryClient {
    config: RegistryConfig,
    agent: ureq::Agent,
    registry: String,
    base: String,
    repository: String,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<Secret>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.base)
            .field("repository", &self.repository)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// What a request is for, for messages and for what a 401 or 404 means.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// A manifest; the full reference.
    Manifest(&'a str),
    /// A blob.
    Blob(&'a Digest),
    /// A token from a bearer realm.
    Token,
}

/// Why one try of a request's body handling failed.
enum Failure {
    /// Worth another try (the connection broke); the reason.
    Retry(String),
    /// Final.
    Fatal(RegistryError),
}

impl RegistryClient {
    /// A client for the repository of `reference`, with the credentials the auth file has for
    /// its registry.
    pub fn new(config: &RegistryConfig, reference: &Reference) -> Result<Self, RegistryError> {
        let credentials = match &config.auth_file {
            Some(path) => auth::credentials_for(path, &reference.registry)?,
            None => None,
        };
        Ok(Self::with_credentials(config, reference, credentials))
    }

    /// A client with the given credentials (`None`: anonymous).
    pub fn with_credentials(
        config: &RegistryConfig,
        reference: &Reference,
        credentials: Option<Credentials>,
    ) -> Self {
        let host = reference.registry_host();
        let scheme = if config.is_insecure(&reference.registry) || config.is_insecure(host) {
            "http"
        } else {
            "https"
        };
        RegistryClient {
            config: config.clone(),
            agent: http::agent(config),
            registry: reference.registry.clone(),
            base: format!("{scheme}://{host}"),
            repository: reference.repository.clone(),
            credentials,
            authorization: Mutex::new(None),
        }
    }

    /// The registry as references name it.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Fetches the manifest (or index) `tag_or_digest`. With a digest, the bytes must hash to
    /// it; a `Docker-Content-Digest` header must always match the bytes.
    pub fn manifest(&self, tag_or_digest: &str) -> Result<FetchedManifest, RegistryError> {
        let sep = if tag_or_digest.contains(':') {
            '@'
        } else {
            ':'
        };
        let reference = format!("{}{sep}{tag_or_digest}", self.name());
        let url = format!(
            "{}/v2/{}/manifests/{tag_or_digest}",
            self.base, self.repository
        );
        let target = Target::Manifest(&reference);
        let (bytes, header, content_type) =
            self.fetch(&url, Some(MANIFEST_ACCEPT), target, |resp| {
                let header = header(&resp, "docker-content-digest");
                let content_type = header_value(&resp, "content-type");
                let mut resp = resp;
                let bytes = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_JSON_BLOB)
                    .read_to_vec()
                    .map_err(|e| self.body_failure(e, target))?;
                Ok((bytes, header, content_type))
            })?;
        let digest = Digest::of(&bytes);
        let pinned = tag_or_digest.parse::<Digest>().ok();
        for expected in [pinned, header.and_then(|h| h.parse().ok())]
            .into_iter()
            .flatten()
        {
            if expected != digest {
                return Err(RegistryError::ManifestDigest {
                    registry: self.registry.clone(),
                    reference,
                    expected,
                    actual: digest,
                });
            }
        }
        Ok(FetchedManifest {
            bytes,
            digest,
            content_type: content_type.map(|c| media_type_of(&c)),
        })
    }

    /// Downloads blob `digest` of `size` bytes into `content` (which verifies it), calling
    /// `on_bytes` with the number of new bytes as they arrive; stops when `cancel` is set.
    pub fn fetch_blob(
        &self,
        content: &ContentStore,
        digest: &Digest,
        size: u64,
        on_bytes: &dyn Fn(u64),
        cancel: &AtomicBool,
    ) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let mut reported = 0;
        self.fetch(&url, None, Target::Blob(digest), |resp| {
            let mut reader = Tracked {
                inner: resp.into_body().into_reader(),
                count: 0,
                reported: &mut reported,
                on_bytes,
                cancel,
                config: &self.config,
                failure: None,
            };
            let result = content.ingest(digest, Some(size), &mut reader);
            match (result, reader.failure.take()) {
                (Ok(()), _) => Ok(()),
                (Err(_), Some(ReadFailure::Cancelled)) => {
                    Err(Failure::Fatal(RegistryError::Cancelled {
                        registry: self.registry.clone(),
                    }))
                }
                (Err(_), Some(ReadFailure::Network(t))) => {
                    Err(self.transport_failure(t, Target::Blob(digest)))
                }
                (Err(source), None) => Err(Failure::Fatal(RegistryError::Blob {
                    registry: self.registry.clone(),
                    repository: self.repository.clone(),
                    digest: digest.clone(),
                    source,
                })),
            }
        })
    }

    /// Sends GET `url` and hands a 2xx answer to `consume`, with redirects, authentication and
    /// retries (see the module documentation).
    fn fetch<T>(
        &self,
        url: &str,
        accept: Option<&str>,
        target: Target<'_>,
        mut consume: impl FnMut(Response<Body>) -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = match self.send(url, accept, target) {
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(reason)) => Last::Connection(reason),
                Ok(resp) => match resp.status().as_u16() {
                    200..=299 => match consume(resp) {
                        Ok(v) => return Ok(v),
                        Err(Failure::Fatal(e)) => return Err(e),
                        Err(Failure::Retry(reason)) => Last::Body(reason),
                    },
                    401 if !authenticated && !matches!(target, Target::Token) => {
                        self.authenticate(&resp)?;
                        authenticated = true;
                        attempt -= 1;
                        continue;
                    }
                    status @ (429 | 500..=599) => Last::Status(status),
                    status => return Err(self.status_error(status, target)),
                },
            };
            if attempt >= self.config.attempts.max(1) {
                return Err(self.retries_exhausted(last, attempt, target));
            }
            std::thread::sleep(backoff(self.config.backoff, attempt));
        }
    }

    /// Sends one GET, following redirects.
    fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        target: Target<'_>,
    ) -> Result<Response<Body>, Failure> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&current);
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            if let Some(auth) = self.authorization_for(&current, target) {
                request = request.header("Authorization", auth.expose());
            }
            let resp = match request.call() {
                Ok(resp) => resp,
                Err(e) => {
                    return Err(self.transport_failure(http::classify(&e, &self.config), target))
                }
            };
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let next = header_value(&resp, "location")
                .and_then(|l| http::resolve_location(&current, &l))
                .ok_or_else(|| self.redirect_error("a redirect without a usable Location"))?;
            if current.starts_with("https://") && next.starts_with("http://") {
                return Err(self.redirect_error("a redirect from HTTPS to plain HTTP was refused"));
            }
            current = next;
        }
        Err(self.redirect_error(&format!("more than {MAX_REDIRECTS} redirects")))
    }
}

/// The wait after try `attempt` (1-based): `base`, doubled for each further try, at most 30 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << (attempt - 1).min(16))
        .min(Duration::from_secs(30))
}

fn header_value(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    header_value(resp, name).map(|v| v.trim().to_string())
}

/// A `Content-Type` without parameters (`; charset=…`).
fn media_type_of(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type is one of the manifest kinds [`MANIFEST_ACCEPT`] lists.
pub fn is_manifest_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        media::OCI_MANIFEST | media::OCI_INDEX | media::DOCKER_MANIFEST | media::DOCKER_LIST
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let b = Duration::from_millis(100);
        assert_eq!(backoff(b, 1), b);
        assert_eq!(backoff(b, 3), Duration::from_millis(400));
        assert_eq!(backoff(b, 40), Duration::from_secs(30));
    }

    #[test]
    fn scheme_follows_the_insecure_list() {
        let r: Reference = "127.0.0.1:5000/app".parse().unwrap();
        let mut config = RegistryConfig::default();
        let c = RegistryClient::with_credentials(&config, &r, None);
        assert_eq!(c.base, "https://127.0.0.1:5000");
        config.insecure.push("127.0.0.1:5000".into());
        let c =
            RegistryClient::with_credentials(&config, &r, Some(Credentials::new("u", "secret")));
        assert_eq!(c.base, "http://127.0.0.1:5000");
        assert!(!format!("{c:?}").contains("secret"));
        let hub: Reference = "busybox".parse().unwrap();
        let c = RegistryClient::with_credentials(&RegistryConfig::default(), &hub, None);
        assert_eq!(c.base, "https://registry-1.docker.io");
    }
}
