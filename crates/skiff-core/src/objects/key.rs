//! Typed keys: `/envs/{env}`, `/apps/{env}/{app}`, `/services/{env}/{app}/{svc}`, `/tasks/{id}`,
//! `/nodes/{id}`, `/secrets/{env}/{name}`, `/configs/{env}/{name}`, `/tokens/{id}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::name::{Name, NameError};

/// The longest key text that is parsed at all; longer input is refused before it is looked at.
/// (Seven segments of 63 characters fit with room to spare.)
pub const MAX_KEY_LEN: usize = 256;

/// How much of a rejected key an error message repeats.
const ECHO_LEN: usize = 64;

/// The kind of object a key names, which is also the key's first segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `/envs/{env}`
    Environment,
    /// `/apps/{env}/{app}`
    App,
    /// `/services/{env}/{app}/{svc}`
    Service,
    /// `/tasks/{id}`
    Task,
    /// `/nodes/{id}`
    Node,
    /// `/secrets/{env}/{name}`
    Secret,
    /// `/configs/{env}/{name}`
    Config,
    /// `/tokens/{id}`
    Token,
}

impl Kind {
    /// Every kind, in key order of their prefixes.
    pub const ALL: [Kind; 8] = [
        Kind::App,
        Kind::Config,
        Kind::Environment,
        Kind::Node,
        Kind::Secret,
        Kind::Service,
        Kind::Task,
        Kind::Token,
    ];

    /// The key's first segment (`envs`, `apps`, …).
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Environment => "envs",
            Kind::App => "apps",
            Kind::Service => "services",
            Kind::Task => "tasks",
            Kind::Node => "nodes",
            Kind::Secret => "secrets",
            Kind::Config => "configs",
            Kind::Token => "tokens",
        }
    }

    /// The prefix every key of this kind starts with (`/envs/`), for [`crate::State::list`].
    pub fn prefix(self) -> String {
        format!("/{}/", self.segment())
    }

    /// How many names follow the kind in a key.
    pub fn arity(self) -> usize {
        match self {
            Kind::Environment | Kind::Task | Kind::Node | Kind::Token => 1,
            Kind::App | Kind::Secret | Kind::Config => 2,
            Kind::Service => 3,
        }
    }

    fn from_segment(segment: &str) -> Option<Self> {
        Kind::ALL.into_iter().find(|k| k.segment() == segment)
    }
}

/// The address of one object in the state.
///
/// Keys display as paths and parse back from them; every name in a key is a valid [`Name`], so
/// a key cannot contain `..`, `/` inside a name, uppercase letters or anything outside ASCII.
///
/// Keys have no `Ord`: the state orders them by their text, which is what [`crate::State::list`]
/// returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Key {
    /// An environment.
    Environment {
        /// Its name.
        env: Name,
    },
    /// An app in an environment.
    App {
        /// Its environment.
        env: Name,
        /// Its name.
        app: Name,
    },
    /// A service of an app.
    Service {
        /// Its environment.
        env: Name,
        /// Its app.
        app: Name,
        /// Its name.
        service: Name,
    },
    /// A task, by id.
    Task {
        /// Its id.
        id: Name,
    },
    /// A node, by id.
    Node {
        /// Its id.
        id: Name,
    },
    /// A secret in an environment.
    Secret {
        /// Its environment.
        env: Name,
        /// Its name.
        name: Name,
    },
    /// A config in an environment.
    Config {
        /// Its environment.
        env: Name,
        /// Its name.
        name: Name,
    },
    /// An API token, by id.
    Token {
        /// Its id.
        id: Name,
    },
}

/// Why a string is not a valid [`Key`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The string is empty.
    #[error("a key cannot be empty")]
    Empty,
    /// The string is longer than any valid key.
    #[error("a key is at most {MAX_KEY_LEN} bytes long, this one has {len}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The string does not start with `/`.
    #[error("key {key:?} must start with '/'")]
    NotAbsolute {
        /// The key (shortened).
        key: String,
    },
    /// The first segment names no kind of object.
    #[error(
        "key {key:?}: unknown kind {segment:?}; \
         expected envs, apps, services, tasks, nodes, secrets, configs or tokens"
    )]
    UnknownKind {
        /// The key (shortened).
        key: String,
        /// The first segment (shortened).
        segment: String,
    },
    /// The key has too few or too many names for its kind.
    #[error("key {key:?}: a {kind:?} key has {expected} name(s) after /{}/, found {found}", kind.segment())]
    WrongLength {
        /// The key (shortened).
        key: String,
        /// The kind the first segment names.
        kind: Kind,
        /// How many names that kind takes.
        expected: usize,
        /// How many there were.
        found: usize,
    },
    /// One of the names is not valid.
    #[error("key {key:?}: segment {position} is not a valid name: {source}")]
    BadName {
        /// The key (shortened).
        key: String,
        /// The segment's position after the kind, from 0.
        position: usize,
        /// What is wrong with it.
        source: NameError,
    },
}

fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_LEN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

impl Key {
    /// Parses and validates a key.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if text.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong { len: text.len() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(KeyError::NotAbsolute { key: echo(text) });
        };
        let mut segments = rest.split('/');
        let first = segments.next().unwrap_or_default();
        let kind = Kind::from_segment(first).ok_or_else(|| KeyError::UnknownKind {
            key: echo(text),
            segment: echo(first),
        })?;
        let raw: Vec<&str> = segments.collect();
        if raw.len() != kind.arity() {
            return Err(KeyError::WrongLength {
                key: echo(text),
                kind,
                expected: kind.arity(),
                found: raw.len(),
            });
        }
        let mut names = Vec::with_capacity(raw.len());
        for (position, segment) in raw.into_iter().enumerate() {
            let name = Name::new(segment).map_err(|source| KeyError::BadName {
                key: echo(text),
                position,
                source,
            })?;
            names.push(name);
        }
        Ok(Self::from_names(kind, names))
    }

    /// Builds the key from a kind and exactly [`Kind::arity`] names.
    fn from_names(kind: Kind, names: Vec<Name>) -> Self {
        let mut names = names.into_iter();
        let mut next = || names.next().expect("arity checked by the caller");
        match kind {
            Kind::Environment => Key::Environment { env: next() },
            Kind::App => Key::App {
                env: next(),
                app: next(),
            },
            Kind::Service => Key::Service {
                env: next(),
                app: next(),
                service: next(),
            },
            Kind::Task => Key::Task { id: next() },
            Kind::Node => Key::Node { id: next() },
            Kind::Secret => Key::Secret {
                env: next(),
                name: next(),
            },
            Kind::Config => Key::Config {
                env: next(),
                name: next(),
            },
            Kind::Token => Key::Token { id: next() },
        }
    }

    /// The kind of object this key names.
    pub fn kind(&self) -> Kind {
        match self {
            Key::Environment { .. } => Kind::Environment,
            Key::App { .. } => Kind::App,
            Key::Service { .. } => Kind::Service,
            Key::Task { .. } => Kind::Task,
            Key::Node { .. } => Kind::Node,
            Key::Secret { .. } => Kind::Secret,
            Key::Config { .. } => Kind::Config,
            Key::Token { .. } => Kind::Token,
        }
    }

    /// The names after the kind, in key order.
    pub fn names(&self) -> Vec<&Name> {
        match self {
            Key::Environment { env } => vec![env],
            Key::App { env, app } => vec![env, app],
            Key::Service { env, app, service } => vec![env, app, service],
            Key::Task { id } | Key::Node { id } | Key::Token { id } => vec![id],
            Key::Secret { env, name } | Key::Config { env, name } => vec![env, name],
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.kind().segment())?;
        for name in self.names() {
            write!(f, "/{name}")?;
        }
        Ok(())
    }
}

impl FromStr for Key {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Key {
    type Error = KeyError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Key> for String {
    fn from(key: Key) -> Self {
        key.to_string()
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
