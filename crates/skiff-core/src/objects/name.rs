//! Names and ids: DNS labels (RFC 1123), the only strings allowed inside a key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest name: a DNS label's limit, so names can appear in `svc.app.env` DNS names.
pub const MAX_NAME_LEN: usize = 63;

/// A validated name or id: 1–63 characters of `a-z`, `0-9` and `-`, starting and ending with a
/// letter or digit. Environments, apps, services, secrets, configs, nodes and tasks are all named
/// this way, so every key is a plain path with no escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The string is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The string is longer than a DNS label.
    #[error("a name is at most {MAX_NAME_LEN} characters long, this one has {len}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The string holds a character other than `a-z`, `0-9` and `-`.
    #[error(
        "{found:?} at position {position} is not allowed: use lowercase letters, digits and '-'"
    )]
    BadChar {
        /// The character.
        found: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// The string starts or ends with `-`.
    #[error("a name must start and end with a letter or a digit")]
    EdgeHyphen,
}

impl Name {
    /// Validates `text` as a name.
    pub fn new(text: impl Into<String>) -> Result<Self, NameError> {
        let text = text.into();
        validate(&text)?;
        Ok(Self(text))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((position, found)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(NameError::BadChar { found, position });
    }
    if text.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: text.len() });
    }
    if text.starts_with('-') || text.ends_with('-') {
        return Err(NameError::EdgeHyphen);
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::new(text)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        let long = "a".repeat(64);
        let cases: &[(&str, Result<(), NameError>)] = &[
            ("web", Ok(())),
            ("a", Ok(())),
            ("0", Ok(())),
            ("web-1", Ok(())),
            (&long[..63], Ok(())),
            ("", Err(NameError::Empty)),
            (&long, Err(NameError::TooLong { len: 64 })),
            (
                "Web",
                Err(NameError::BadChar {
                    found: 'W',
                    position: 0,
                }),
            ),
            (
                "..",
                Err(NameError::BadChar {
                    found: '.',
                    position: 0,
                }),
            ),
            (
                "a/b",
                Err(NameError::BadChar {
                    found: '/',
                    position: 1,
                }),
            ),
            (
                "a_b",
                Err(NameError::BadChar {
                    found: '_',
                    position: 1,
                }),
            ),
            (
                "café",
                Err(NameError::BadChar {
                    found: 'é',
                    position: 3,
                }),
            ),
            (
                "a b",
                Err(NameError::BadChar {
                    found: ' ',
                    position: 1,
                }),
            ),
            (
                "a\0",
                Err(NameError::BadChar {
                    found: '\0',
                    position: 1,
                }),
            ),
            ("-web", Err(NameError::EdgeHyphen)),
            ("web-", Err(NameError::EdgeHyphen)),
        ];
        for (text, want) in cases {
            assert_eq!(Name::new(*text).map(|_| ()), *want, "{text:?}");
        }
    }

    #[test]
    fn serde_validates() {
        let name: Name = serde_json::from_str("\"db\"").unwrap();
        assert_eq!(name.as_str(), "db");
        assert!(serde_json::from_str::<Name>("\"DB\"").is_err());
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"db\"");
    }
}
