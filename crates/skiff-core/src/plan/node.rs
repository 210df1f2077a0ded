//! Changing a node as an operator does: its availability (`skiff node drain|pause|activate`)
//! and its labels (`skiff node label`). The agent owns the rest of the node's fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PlanError;
use crate::objects::{Availability, Key, Name, Object};
use crate::state::{Command, Expect, State};

/// The longest label key and value.
pub const MAX_LABEL_KEY: usize = 253;
/// The longest label value.
pub const MAX_LABEL_VALUE: usize = 1024;
/// The most labels a node may carry.
pub const MAX_LABELS: usize = 128;

/// What to change on a node; what is left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeUpdate {
    /// The new availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
    /// Labels to set (a value) or remove (null).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
}

/// Plans `update` of node `id`: one put expecting the revision read, or nothing when the node
/// already is as asked.
pub fn update_node(
    state: &State,
    id: &Name,
    update: &NodeUpdate,
) -> Result<Option<Command>, PlanError> {
    let key = Key::Node { id: id.clone() };
    let Some(record) = state.get(&key) else {
        return Err(PlanError::NoSuchNode { id: id.clone() });
    };
    let Object::Node(stored) = &record.object else {
        return Err(PlanError::NoSuchNode { id: id.clone() });
    };
    let mut node = stored.clone();
    if let Some(availability) = update.availability {
        node.availability = availability;
    }
    for (k, v) in &update.labels {
        check_label(k, v.as_deref())?;
        match v {
            Some(v) => node.labels.insert(k.clone(), v.clone()),
            None => node.labels.remove(k),
        };
    }
    if node.labels.len() > MAX_LABELS {
        return Err(PlanError::InvalidLabel {
            key: String::new(),
            reason: format!(
                "a node carries at most {MAX_LABELS} labels; this would give it {}",
                node.labels.len()
            ),
        });
    }
    if node == *stored {
        return Ok(None);
    }
    Ok(Some(Command::put(
        Object::Node(node),
        Expect::Revision(record.mod_revision),
    )))
}

fn check_label(key: &str, value: Option<&str>) -> Result<(), PlanError> {
    let bad = |reason: &str| {
        Err(PlanError::InvalidLabel {
            key: key.chars().take(64).collect(),
            reason: reason.to_owned(),
        })
    };
    if key.is_empty() {
        return bad("a label key may not be empty");
    }
    if key.len() > MAX_LABEL_KEY {
        return bad("a label key is at most 253 bytes");
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '=')
    {
        return bad("a label key may not hold '=', spaces or control characters");
    }
    if let Some(v) = value {
        if v.len() > MAX_LABEL_VALUE {
            return bad("a label value is at most 1024 bytes");
        }
        if v.chars().any(char::is_control) {
            return bad("a label value may not hold control characters");
        }
    }
    Ok(())
}
