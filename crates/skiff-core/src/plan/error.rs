//! Why a request cannot be planned.

use skiff_api::{ByteSize, Cpus};

use crate::objects::{Name, NameError};

/// Why a plan cannot be made. Each is the caller's to fix; the API maps them to 400 (invalid
/// names, a spec for another environment), 404 (no such environment or app) and 409 (quota).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The environment does not exist.
    #[error("environment {env} does not exist; create it first (skiff env create {env})")]
    NoSuchEnvironment {
        /// Its name.
        env: Name,
    },
    /// The app does not exist in the environment.
    #[error("app {app} does not exist in environment {env}")]
    NoSuchApp {
        /// The environment.
        env: Name,
        /// The app.
        app: Name,
    },
    /// The app has no such service.
    #[error("app {app} in environment {env} has no service {service}")]
    NoSuchService {
        /// The environment.
        env: Name,
        /// The app.
        app: Name,
        /// The service asked for.
        service: Name,
    },
    /// A global service runs one task per eligible node; it has no count to scale.
    #[error("service {service} is global (one task per eligible node): it cannot be scaled; change its placement or the nodes' labels instead")]
    ScaleGlobal {
        /// The service.
        service: Name,
    },
    /// More replicas than a service may have.
    #[error("service {service}: {replicas} replicas is more than the limit of {limit}")]
    TooManyReplicas {
        /// The service.
        service: Name,
        /// Asked for.
        replicas: u32,
        /// The limit.
        limit: u32,
    },
    /// The node does not exist.
    #[error("node {id} does not exist (skiff node ls lists the nodes)")]
    NoSuchNode {
        /// Its id.
        id: Name,
    },
    /// A label is not acceptable.
    #[error("label {key:?}: {reason}")]
    InvalidLabel {
        /// The key (cut to 64 characters).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The spec is for another environment than the one it is applied to.
    #[error("the spec is for environment {spec_env:?}, not {env}; load it for {env}")]
    EnvironmentMismatch {
        /// The environment applied to.
        env: Name,
        /// The spec's environment.
        spec_env: String,
    },
    /// The app's name cannot be a key segment.
    #[error("app name {name:?} is not valid: {source}")]
    InvalidAppName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        source: NameError,
    },
    /// A service's name cannot be a key segment.
    #[error("service name {name:?} is not valid: {source}")]
    InvalidServiceName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        source: NameError,
    },
    /// There is no earlier spec to roll back to.
    #[error(
        "app {app} in environment {env}: {what}; `skiff rollout history` lists the revisions kept"
    )]
    NothingToRollBack {
        /// The environment.
        env: Name,
        /// The app.
        app: Name,
        /// What is missing (`no earlier revision is kept`, `service web ran the same
        /// containers in every revision kept`).
        what: String,
    },
    /// The environment's apps would reserve more than its quota allows.
    #[error(
        "environment {env}: {excess}; lower the app's replicas or reservations, or raise the quota"
    )]
    QuotaExceeded {
        /// The environment.
        env: Name,
        /// Which limit, and by how much.
        excess: QuotaExcess,
    },
}

/// A quota limit that an apply would exceed: what the environment's services would reserve
/// together after the apply, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExcess {
    /// CPU reservations.
    #[error("its services would reserve {requested} CPUs, the quota allows {limit}")]
    Cpus {
        /// Reserved after the apply.
        requested: Cpus,
        /// The quota.
        limit: Cpus,
    },
    /// Memory reservations.
    #[error("its services would reserve {requested} of memory, the quota allows {limit}")]
    Memory {
        /// Reserved after the apply.
        requested: ByteSize,
        /// The quota.
        limit: ByteSize,
    },
    /// Tasks.
    #[error("its services would run {requested} tasks, the quota allows {limit}")]
    Tasks {
        /// Tasks after the apply.
        requested: u64,
        /// The quota.
        limit: u32,
    },
}
