//! Secrets and configs: payloads delivered to containers as files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Name;

/// A secret. The state machine stores the payload as given: the server encrypts it before it
/// proposes the write, so the log, the snapshots and the watch history hold only ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Its environment, as in `/secrets/{env}/{name}`.
    pub env: Name,
    /// Its name.
    pub name: Name,
    /// The encrypted payload (base64 in JSON).
    #[serde(with = "super::bytes")]
    pub ciphertext: Vec<u8>,
    /// Which key encrypted it, so that keys can be rotated.
    pub key_id: String,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A config: a plain payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Its environment, as in `/configs/{env}/{name}`.
    pub env: Name,
    /// Its name.
    pub name: Name,
    /// The payload (base64 in JSON).
    #[serde(with = "super::bytes")]
    pub data: Vec<u8>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}
