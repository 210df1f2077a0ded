//! Image references, normalised as Docker does: `busybox` is
//! `docker.io/library/busybox:latest`, `localhost:5000/app` is `localhost:5000/app:latest`, and a
//! digest pins the content (`name@sha256:…`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The registry that names without a domain refer to.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed, normalised image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path (`library/busybox`).
    pub repository: String,
    /// Tag; `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    /// Pinned content digest.
    pub digest: Option<Digest>,
}

/// Why a reference is not valid; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {text:?}: {reason}")]
pub struct InvalidReference {
    /// The text given (cut to 300 characters).
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Reference {
    /// The repository name with its registry (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The short form Docker shows (`busybox:latest` for `docker.io/library/busybox:latest`).
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let Some(rest) = full.strip_prefix("docker.io/") else {
            return full;
        };
        rest.strip_prefix("library/")
            .filter(|r| !r.contains('/'))
            .unwrap_or(rest)
            .to_string()
    }

    /// The host to contact for this registry (`docker.io` is served by `registry-1.docker.io`).
    pub fn registry_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }
}

impl FromStr for Reference {
    type Err = InvalidReference;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| InvalidReference {
            text: text.chars().take(300).collect(),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(fail("it is empty"));
        }
        if text.len() > NAME_MAX + TAG_MAX + 80 {
            return Err(fail("it is too long"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(d.parse::<Digest>().map_err(|e| fail(&e.to_string()))?),
            ),
            None => (text, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| fail(&r))?;
        }
        let (registry, path) = split_registry(name);
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry.to_string()
        };
        check_registry(&registry).map_err(|r| fail(&r))?;
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        check_path(&repository).map_err(|r| fail(&r))?;
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(fail(&format!(
                "the repository name is longer than {NAME_MAX} characters"
            )));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Splits `host[:port]/path` from `path`: the first component is a registry when it has a dot
/// or a port, or is `localhost` (Docker's rule).
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    }
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= TAG_MAX
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1-{TAG_MAX} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!(
            "registry {registry:?} is not a host name with an optional :port"
        ))
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the repository name is empty".into());
    }
    for component in path.split('/') {
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("repository name {path:?} must be lowercase"));
        }
        if !component_ok(component.as_bytes()) {
            return Err(format!(
                "repository component {component:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn component_ok(c: &[u8]) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if c.is_empty() || !alnum(c[0]) || !alnum(c[c.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < c.len() {
        if alnum(c[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < c.len() && !alnum(c[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl TryFrom<String> for Reference {
    type Error = InvalidReference;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        s.parse::<Reference>().unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(
            norm("127.0.0.1:5000/team/app:v2"),
            "127.0.0.1:5000/team/app:v2"
        );
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        let pinned =
            "busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            norm(pinned),
            "docker.io/library/busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let both =
            "busybox:1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(norm(both).starts_with("docker.io/library/busybox:1@sha256:"));
    }

    #[test]
    fn familiar_form() {
        let r: Reference = "busybox".parse().unwrap();
        assert_eq!(r.familiar(), "busybox:latest");
        let r: Reference = "user/app:1".parse().unwrap();
        assert_eq!(r.familiar(), "user/app:1");
        let r: Reference = "127.0.0.1:5000/app".parse().unwrap();
        assert_eq!(r.familiar(), "127.0.0.1:5000/app:latest");
    }

    #[test]
    fn refuses_malformed_references() {
        for (bad, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busybox:", "tag"),
            ("busybox:-x", "tag"),
            ("busy//box", "component"),
            ("busybox@sha256:abc", "digest"),
            ("a..b", "component"),
            ("host:port/app", "registry"),
            ("app:tag/extra:2", "registry"),
        ] {
            let err = bad.parse::<Reference>().unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
        let long = format!("{}:1", "a".repeat(300));
        assert!(long.parse::<Reference>().is_err());
    }
}
