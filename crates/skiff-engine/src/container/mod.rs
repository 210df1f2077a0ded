//! Containers: their config, OCI bundle, shim, logs and lifecycle.

mod attached;
pub mod bundle;
mod cleanup;
pub mod config;
mod error;
pub mod exec;
pub mod files;
pub mod lifecycle;
pub mod logs;
pub mod record;
pub mod shim;
pub mod spec;
pub mod user;

pub use attached::Attached;
pub use config::{
    ContainerConfig, LogConfig, MountConfig, NetworkMode, PortMapping, Protocol, Resources,
};
pub use error::{ContainerError, StartFailure};
pub use files::{ContainerFile, FilesError};
pub use lifecycle::ContainerInfo;
pub use record::{ExitState, Status};
