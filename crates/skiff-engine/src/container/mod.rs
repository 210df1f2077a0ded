//! Containers: their config, OCI bundle, shim, logs and lifecycle.

pub mod config;
pub mod spec;
pub mod user;

pub use config::{ContainerConfig, LogConfig, MountConfig, NetworkMode, Resources};
