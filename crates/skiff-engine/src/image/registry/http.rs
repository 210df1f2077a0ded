//! HTTP helpers of the registry client: the ureq agent's settings, redirect targets, which
//! transport errors are worth another try, and a body reader that remembers why it failed.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::RegistryConfig;

/// Redirects followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The agent all requests of one client go through: statuses and redirects are handled by the
/// client (so that `Authorization` only goes to the registry itself), bodies are not
/// decompressed (blob digests are over the bytes as stored).
pub(crate) fn agent(config: &RegistryConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_resolve(Some(config.connect_timeout))
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.read_timeout))
        .timeout_per_write(Some(config.read_timeout))
        .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
        .accept_encoding("")
        .build()
        .into()
}

/// `scheme://authority` of a URL.
pub(crate) fn origin(url: &str) -> &str {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &url[..scheme.len() + 3 + end]
}

/// Where a `Location` header sends a request for `current`, as an absolute URL; `None` when
/// it is not an http(s) location.
pub(crate) fn resolve_location(current: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    if location.is_empty() || location.contains("://") {
        return None;
    }
    let origin = origin(current);
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = origin.split_once("://")?.0;
        return Some(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path = current[origin.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Some(format!("{origin}{dir}{location}"))
}

/// How a transport error should be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A timeout expired: not retried (a hanging registry would only hang again).
    Timeout(Duration),
    /// A connection-level failure worth another try.
    Retry(String),
    /// Anything else (TLS, a malformed answer, a bad URL): not retried.
    Fatal(String),
}

/// Classifies an error from sending a request.
pub(crate) fn classify(e: &ureq::Error, config: &RegistryConfig) -> Transport {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            Transport::Timeout(config.connect_timeout)
        }
        ureq::Error::Timeout(_) => Transport::Timeout(config.read_timeout),
        ureq::Error::Io(io) => classify_io(io, config),
        ureq::Error::ConnectionFailed => Transport::Retry("connection failed".into()),
        ureq::Error::HostNotFound => Transport::Fatal("host not found".into()),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => Transport::Fatal(format!(
            "TLS failed ({e}); if the registry speaks plain HTTP, list it as insecure in the registry configuration"
        )),
        other => Transport::Fatal(other.to_string()),
    }
}

/// Classifies an error from reading a body.
pub(crate) fn classify_io(e: &io::Error, config: &RegistryConfig) -> Transport {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return classify(inner, config);
    }
    use io::ErrorKind::*;
    match e.kind() {
        TimedOut | WouldBlock => Transport::Timeout(config.read_timeout),
        ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        | UnexpectedEof => Transport::Retry(e.to_string()),
        _ => Transport::Fatal(e.to_string()),
    }
}

/// A body reader that counts bytes for a progress callback (across tries, counting each byte
/// once), stops when `cancel` is set, and remembers why it failed, so that the caller can tell
/// a network error from a verification error of the content store.
pub(crate) struct Tracked<'a, R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
    pub(crate) reported: &'a mut u64,
    pub(crate) on_bytes: &'a dyn Fn(u64),
    pub(crate) cancel: &'a AtomicBool,
    pub(crate) config: &'a RegistryConfig,
    pub(crate) failure: Option<ReadFailure>,
}

/// Why a [`Tracked`] reader failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The pull was cancelled.
    Cancelled,
    /// The network failed.
    Network(Transport),
}

impl<R: Read> Read for Tracked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            self.failure = Some(ReadFailure::Cancelled);
            return Err(io::Error::other(
                "cancelled: another part of the pull failed",
            ));
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.count += n as u64;
                if self.count > *self.reported {
                    (self.on_bytes)(self.count - *self.reported);
                    *self.reported = self.count;
                }
                Ok(n)
            }
            Err(e) => {
                self.failure = Some(ReadFailure::Network(classify_io(&e, self.config)));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations() {
        let cur = "https://reg.example:5000/v2/app/blobs/sha256:ab?x=1";
        assert_eq!(origin(cur), "https://reg.example:5000");
        assert_eq!(
            resolve_location(cur, "https://s3.example/b?sig=1").unwrap(),
            "https://s3.example/b?sig=1"
        );
        assert_eq!(
            resolve_location(cur, "/store/ab").unwrap(),
            "https://reg.example:5000/store/ab"
        );
        assert_eq!(
            resolve_location(cur, "//cdn.example/ab").unwrap(),
            "https://cdn.example/ab"
        );
        assert_eq!(
            resolve_location(cur, "other").unwrap(),
            "https://reg.example:5000/v2/app/blobs/other"
        );
        assert_eq!(resolve_location(cur, "ftp://x/y"), None);
    }

    #[test]
    fn io_errors_are_classified() {
        let c = RegistryConfig::default();
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "Peer disconnected");
        assert!(matches!(classify_io(&eof, &c), Transport::Retry(_)));
        let t = io::Error::other(ureq::Error::Timeout(ureq::Timeout::PerRead));
        assert_eq!(classify_io(&t, &c), Transport::Timeout(c.read_timeout));
        let refused = ureq::Error::Io(io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(classify(&refused, &c), Transport::Retry(_)));
    }
}
