//! The HTTP API's answers that carry stored objects (the others are in `skiff_api::v1`):
//! shared by the server that sends them and the client that reads them. docs/api.md is the
//! reference.

use serde::{Deserialize, Serialize};

use crate::objects::AppRevision;
use crate::plan::AppDiff;
use crate::state::Record;

/// A listing: the records, and the revision the state was at, to watch from
/// (`GET /v1/events?from=<revision>` misses nothing that happened after the list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct List {
    /// The state's revision when listed.
    pub revision: u64,
    /// The records, in key order.
    pub items: Vec<Record>,
}

/// What `POST /v1/envs/{env}/apps` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyResult {
    /// The revision the apply was written at; `None` for a dry run or when nothing changed.
    pub revision: Option<u64>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// What the apply changes (or would change), object by object.
    pub diff: AppDiff,
}

/// What `GET /v1/envs/{env}/apps/{app}/history` answers: the current spec first, then the
/// earlier ones kept, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppHistory {
    /// The app's record revision (what a compare-and-swap on the app names).
    pub mod_revision: u64,
    /// The specs, newest first.
    pub revisions: Vec<AppRevision>,
}
