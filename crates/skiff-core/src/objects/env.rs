//! Environments: dev, qa, prod, … — a namespace for apps with its own quota and node selector.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skiff_api::{ByteSize, Cpus};

use super::Name;

/// An environment. Its creation revision is the record's `create_revision`
/// ([`crate::Record`]), not a field, so that the two cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Its name, as in `/envs/{name}`.
    pub name: Name,
    /// Limits on what the environment's tasks may reserve.
    #[serde(default)]
    pub quota: Quota,
    /// Labels a node must carry for this environment's tasks to be placed on it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
}

/// Upper bounds on an environment's reservations; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// CPUs reserved by all tasks together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpus: Option<Cpus>,
    /// Memory reserved by all tasks together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<ByteSize>,
    /// Number of tasks that are not in a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks: Option<u32>,
}
