//! Credentials and authentication challenges: reading a Docker-compatible auth file, parsing
//! `WWW-Authenticate`, building `Authorization` values. Secrets never reach a `Debug` or an
//! error message: [`Credentials`] and [`Secret`] print as `<redacted>`, and parse errors of the
//! auth file carry only a line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;

use super::RegistryError;
use crate::fsutil::read_limited;
use crate::image::reference::DEFAULT_REGISTRY;

/// Largest auth file read.
const MAX_AUTH_FILE: u64 = 4 << 20;

/// A string that must not be shown: a password, a token, an `Authorization` value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: Secret,
    password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: Secret::new(username),
            password: Secret::new(password),
        }
    }

    /// The `Authorization` value for HTTP basic authentication.
    pub fn basic_header(&self) -> Secret {
        let pair = format!("{}:{}", self.username.expose(), self.password.expose());
        Secret(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The credentials for `registry` (`host:port` as in references) in the auth file at `path`;
/// `None` when the file does not exist or has no entry for it.
pub fn credentials_for(path: &Path, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let bad = |reason: String| RegistryError::AuthFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = match read_limited(path, MAX_AUTH_FILE) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    // serde_json's messages can quote the offending value, which may be a secret: keep only
    // where the problem is.
    let file: AuthFile = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "not a valid auth file (line {}, column {}); expected {{\"auths\": {{\"host:port\": {{\"auth\": \"…\"}}}}}}",
            e.line(),
            e.column()
        ))
    })?;
    let wanted = normalise_key(registry);
    let Some((key, entry)) = file
        .auths
        .iter()
        .find(|(key, _)| normalise_key(key) == wanted)
    else {
        return Ok(None);
    };
    let broken = |what: &str| bad(format!("the entry for {key:?} {what}"));
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| broken("has an \"auth\" value that is not base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| broken("has an \"auth\" value that is not UTF-8"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| broken("has an \"auth\" value that is not base64 of user:password"))?;
        return Ok(Some(Credentials::new(user, password)));
    }
    match (&entry.username, &entry.password) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(user, password))),
        _ => Err(broken(
            "has neither \"auth\" nor both \"username\" and \"password\"",
        )),
    }
}

/// An auth file key as a registry name: no scheme, no path, Docker Hub's aliases folded.
fn normalise_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DEFAULT_REGISTRY.to_string()
        }
        other => other.to_string(),
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic authentication.
    Basic,
    /// A bearer token from `realm` (the OCI distribution token flow).
    Bearer {
        /// Where to get the token.
        realm: String,
        /// The `service` parameter, passed on to the realm.
        service: Option<String>,
        /// The `scope` parameter, passed on to the realm.
        scope: Option<String>,
    },
}

/// Parses the challenges of the `WWW-Authenticate` headers, preferring bearer over basic;
/// `None` when there is no challenge Skiff can answer.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut basic = false;
    for header in headers {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let params = parse_params(params);
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if let Some(realm) = get("realm") {
                return Some(Challenge::Bearer {
                    realm,
                    service: get("service"),
                    scope: get("scope"),
                });
            }
        }
    }
    basic.then_some(Challenge::Basic)
}

/// `key=value, key="quoted, \"value\""` → pairs (keys lowercased).
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_string();
        }
        out.push((key, value));
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token in a token endpoint's answer (`token`, or OAuth's `access_token`).
pub fn token_from_json(bytes: &[u8]) -> Option<Secret> {
    #[derive(Deserialize)]
    struct TokenAnswer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: TokenAnswer = serde_json::from_slice(bytes).ok()?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .map(Secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_challenges() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        ]);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenges([r#"Basic realm="x""#]),
            Some(Challenge::Basic)
        );
        let c = parse_challenges([
            r#"Basic realm="x""#,
            r#"bearer Realm=http://t/x, scope="a,b""#,
        ]);
        assert!(
            matches!(c, Some(Challenge::Bearer { ref realm, ref scope, .. })
            if realm == "http://t/x" && scope.as_deref() == Some("a,b"))
        );
        assert_eq!(parse_challenges(["Negotiate"]), None);
        assert_eq!(parse_challenges(["Bearer service=x"]), None);
    }

    #[test]
    fn auth_file_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                   "127.0.0.1:5000":{{"username":"bob","password":"hunter2"}}}}}}"#
            ),
        )
        .unwrap();
        assert_eq!(
            credentials_for(&path, "docker.io").unwrap(),
            Some(Credentials::new("alice", "pa:ss"))
        );
        let bob = credentials_for(&path, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(bob, Credentials::new("bob", "hunter2"));
        assert!(!format!("{bob:?}").contains("hunter2"));
        assert!(!format!("{:?}", bob.basic_header()).contains("Basic"));
        assert_eq!(credentials_for(&path, "127.0.0.1:5001").unwrap(), None);
        assert_eq!(
            credentials_for(&dir.path().join("none.json"), "docker.io").unwrap(),
            None
        );
    }

    #[test]
    fn auth_file_errors_do_not_quote_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"h:1":{"auth":["topsecret"]}}}"#).unwrap();
        let err = credentials_for(&path, "h:1").unwrap_err().to_string();
        assert!(
            !err.contains("topsecret") && err.contains("line 1"),
            "{err}"
        );
        std::fs::write(&path, r#"{"auths":{"h:1":{"auth":"dG9wc2VjcmV0"}}}"#).unwrap();
        let err = credentials_for(&path, "h:1").unwrap_err().to_string();
        assert!(!err.contains("topsecret") && !err.contains("dG9w"), "{err}");
    }

    #[test]
    fn tokens_and_escaping() {
        assert_eq!(
            token_from_json(br#"{"token":"abc"}"#),
            Some(Secret::new("abc"))
        );
        assert_eq!(
            token_from_json(br#"{"access_token":"xyz","expires_in":300}"#),
            Some(Secret::new("xyz"))
        );
        assert_eq!(token_from_json(br#"{"token":""}"#), None);
        assert_eq!(
            query_escape("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
