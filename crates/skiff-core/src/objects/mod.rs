//! The cluster's objects, their names and keys.

mod app;
mod bytes;
mod env;
mod key;
mod name;
mod node;
mod payload;
mod rollout;
mod task;
mod token;

use serde::{Deserialize, Serialize};

pub use app::{App, AppRevision, Service, APP_HISTORY_LIMIT};
pub use env::{Environment, Quota};
pub use key::{Key, KeyError, Kind, MAX_KEY_LEN};
pub use name::{Name, NameError, MAX_NAME_LEN};
pub use node::{Availability, Node, NodeResources, NodeStatus};
pub use payload::{Config, Secret};
pub use rollout::{Rollout, RolloutState, Watched};
pub use task::{DesiredState, Health, Slot, Task, TaskState, Timestamp};
pub use token::{Role, Token, TokenScope};

/// Any object the state holds, tagged by kind (`{"task": {…}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Object {
    /// An environment.
    Environment(Environment),
    /// An app.
    App(App),
    /// A service (boxed: a service spec is large).
    Service(Box<Service>),
    /// A task.
    Task(Task),
    /// A node.
    Node(Node),
    /// A secret.
    Secret(Secret),
    /// A config.
    Config(Config),
    /// An API token (its secret's hash, never the secret).
    Token(Token),
}

impl Object {
    /// The key this object lives under, derived from its identity fields.
    pub fn key(&self) -> Key {
        match self {
            Object::Environment(e) => Key::Environment {
                env: e.name.clone(),
            },
            Object::App(a) => Key::App {
                env: a.env.clone(),
                app: a.name.clone(),
            },
            Object::Service(s) => Key::Service {
                env: s.env.clone(),
                app: s.app.clone(),
                service: s.name.clone(),
            },
            Object::Task(t) => Key::Task { id: t.id.clone() },
            Object::Node(n) => Key::Node { id: n.id.clone() },
            Object::Secret(s) => Key::Secret {
                env: s.env.clone(),
                name: s.name.clone(),
            },
            Object::Config(c) => Key::Config {
                env: c.env.clone(),
                name: c.name.clone(),
            },
            Object::Token(t) => Key::Token { id: t.id.clone() },
        }
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Environment(_) => Kind::Environment,
            Object::App(_) => Kind::App,
            Object::Service(_) => Kind::Service,
            Object::Task(_) => Kind::Task,
            Object::Node(_) => Kind::Node,
            Object::Secret(_) => Kind::Secret,
            Object::Config(_) => Kind::Config,
            Object::Token(_) => Kind::Token,
        }
    }
}
