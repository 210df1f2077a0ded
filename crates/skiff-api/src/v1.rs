//! The wire types of Skiff's HTTP API (`/v1`) that carry no stored object: error bodies,
//! requests, and the answers about the cluster itself. Stored objects travel as `skiff-core`'s
//! records (`{key, object, create_revision, mod_revision}`). docs/api.md is the reference.

use serde::{Deserialize, Serialize};

/// Every error the API answers: a stable machine-readable `code`, a `message` that says what
/// to fix, and `details` whose shape depends on the code (docs/api.md lists them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable code, e.g. `invalid_manifest`, `revision_conflict`, `no_leader`.
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// Structured detail: the list of problems of a manifest, the revisions of a conflict, the
    /// retry hint of a 503, … (`null` when there is nothing more to say).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// `POST /v1/envs`: create an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// Its name (a DNS label).
    pub name: String,
    /// Limits on what its tasks may reserve.
    #[serde(default)]
    pub quota: Quota,
    /// Labels a node must carry for the environment's tasks.
    #[serde(default)]
    pub node_selector: std::collections::BTreeMap<String, String>,
}

/// An environment's quota as the API takes it (units as in manifests: `1.5`, `512M`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// CPUs all tasks together may reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "1.5"))]
    pub max_cpus: Option<crate::Cpus>,
    /// Memory all tasks together may reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>, example = 536870912))]
    pub max_memory: Option<crate::ByteSize>,
    /// How many live tasks the environment may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks: Option<u32>,
}

/// `POST /v1/tokens`: create a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `admin`, `deploy` or `read`.
    pub role: String,
    /// The environments it reaches; empty or absent for every environment (admins only).
    #[serde(default)]
    pub envs: Vec<String>,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

/// The answer to [`CreateToken`]: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatedToken {
    /// The token's id (the public half).
    pub id: String,
    /// The whole token, to pass as `Authorization: Bearer …` or `SKIFF_TOKEN`.
    pub token: String,
    /// The revision that stored it.
    pub revision: u64,
}

/// `PUT /v1/envs/{env}/configs/{name}` (and secrets): a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutPayload {
    /// The bytes, base64 (standard alphabet, padded).
    pub data: String,
    /// Free-form labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What the API tells about a stored secret: never its payload nor its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretInfo {
    /// Its environment.
    pub env: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The payload's length in bytes.
    pub size: u64,
    /// The id of the key that sealed it (`cluster-v1`).
    pub key_id: String,
    /// The revision that created it.
    pub create_revision: u64,
    /// The revision of its last change (what `If-Match` compares against).
    pub mod_revision: u64,
}

/// `GET /v1/envs/{env}/secrets`: the secrets of an environment and the revision they were read
/// at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretList {
    /// The state's revision when read.
    pub revision: u64,
    /// The secrets, by name.
    pub items: Vec<SecretInfo>,
}

/// What a write answers: the revision it was applied at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WriteResult {
    /// The Raft log index of the write: the object's new `mod_revision`.
    pub revision: u64,
}

/// `POST /v1/envs/{env}/apps/{app}/services/{svc}/scale`: set a replicated service's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    /// How many tasks the service should run.
    pub replicas: u32,
}

/// `POST /v1/envs/{env}/apps/{app}/rollback`: roll the app, or one service, back to an
/// earlier spec kept in its history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Only this service, to its newest earlier spec that runs differently (at its current
    /// replica count); without, the whole app to its previous revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// `POST /v1/cluster/members`: add a server (as a learner, then a voter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The new server's Raft id (unique in the cluster, not 0).
    pub id: u64,
    /// Where it listens (`host:port`), for Raft and the API.
    pub addr: String,
}

/// `GET /v1/cluster`: the members and who leads, as the answering server sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterStatus {
    /// The id of the server that answered.
    pub answered_by: u64,
    /// The current leader's id, if one is known.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// The last log index committed (as far as the answering server knows).
    pub committed: Option<u64>,
    /// The last log index the answering server applied.
    pub applied: Option<u64>,
    /// Every member: voters and learners.
    pub members: Vec<Member>,
}

/// One server of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Its Raft id.
    pub id: u64,
    /// Its address.
    pub addr: String,
    /// Whether it votes (a learner only receives the log).
    pub voter: bool,
    /// Whether it leads.
    pub leader: bool,
    /// The last log index it has (known on the leader only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<u64>,
}

/// Which output of a process a piece of text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of `GET /v1/tasks/{id}/logs` (newline-delimited JSON): a record the task's
/// container wrote. A stream that ends on an error has a last line `{"error": ErrorBody}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// Where it was written.
    pub stream: OutputStream,
    /// The text, with its newline if it had one (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
}

/// `POST /v1/tasks/{id}/exec`: run a command in a task's container, non-interactively.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// The program and its arguments (at most 256, 64 KiB in all).
    pub command: Vec<String>,
    /// Its standard input (closed after it); none: an empty input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

/// What `POST /v1/tasks/{id}/exec` answers once the command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecResponse {
    /// Its exit code (128 + the signal when a signal ended it; 126/127 when it could not run).
    pub exit_code: i32,
    /// What it wrote on standard output (invalid UTF-8 replaced by U+FFFD).
    pub stdout: String,
    /// What it wrote on standard error.
    pub stderr: String,
    /// Whether output was cut at the server's limit (8 MiB per stream).
    #[serde(default)]
    pub truncated: bool,
}
