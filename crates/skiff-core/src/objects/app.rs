//! Apps (one applied compose project) and their services.

use serde::{Deserialize, Serialize};
use skiff_api::{AppSpec, ServiceMode, ServiceSpec};

use super::Name;

/// How many earlier specs an app keeps for rollback.
pub const APP_HISTORY_LIMIT: usize = 10;

/// One applied compose project inside an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Its environment, as in `/apps/{env}/{name}`.
    pub env: Name,
    /// Its name.
    pub name: Name,
    /// The normalized spec currently applied.
    pub spec: AppSpec,
    /// The generation of `spec`: 1 for the first apply, one more for each apply that changes
    /// the spec (a counter, like Kubernetes' `generation`, so that the command that writes a spec
    /// can name it). Services and tasks record the spec revision they were made from.
    pub spec_revision: u64,
    /// Earlier specs, oldest first, at most [`APP_HISTORY_LIMIT`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AppRevision>,
}

/// An earlier spec of an app, kept for rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRevision {
    /// Its spec revision (generation).
    pub spec_revision: u64,
    /// The spec.
    pub spec: AppSpec,
}

impl App {
    /// A new app at `spec_revision`, with no history.
    pub fn new(env: Name, name: Name, spec: AppSpec, spec_revision: u64) -> Self {
        Self {
            env,
            name,
            spec,
            spec_revision,
            history: Vec::new(),
        }
    }

    /// Moves the current spec into the history (dropping the oldest beyond
    /// [`APP_HISTORY_LIMIT`]) and makes `spec` current at `spec_revision`.
    pub fn push_spec(&mut self, spec: AppSpec, spec_revision: u64) {
        let old = std::mem::replace(&mut self.spec, spec);
        let old_revision = std::mem::replace(&mut self.spec_revision, spec_revision);
        self.history.push(AppRevision {
            spec_revision: old_revision,
            spec: old,
        });
        let excess = self.history.len().saturating_sub(APP_HISTORY_LIMIT);
        self.history.drain(..excess);
    }
}

/// The desired state of one service of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Its environment, as in `/services/{env}/{app}/{name}`.
    pub env: Name,
    /// Its app.
    pub app: Name,
    /// Its name.
    pub name: Name,
    /// The app's spec revision this service's spec comes from.
    pub spec_revision: u64,
    /// The service's part of the app spec.
    pub spec: ServiceSpec,
    /// Its virtual IP, from the cluster's service range: the orchestrator gives one to each
    /// service whose `endpoint_mode` is `vip` (none with `dnsrr`) and an apply keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<std::net::Ipv4Addr>,
    /// How the latest change of its spec is rolling out; written by the orchestrator (and by
    /// a rollback the operator asks for), kept by applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::Rollout>,
}

impl Service {
    /// Replicated with a count, or global; kept in the spec so that the two cannot disagree.
    pub fn mode(&self) -> ServiceMode {
        self.spec.deploy.mode
    }
}
