//! skiff-engine: what a node runs containers with — Docker's or containerd's job, built on
//! `skiff-runtime`.
//!
//! * [`image`]: content store by digest, imports (OCI layouts and archives, `docker save`
//!   archives), registry pulls, layer unpacking (a security boundary), the image index, GC;
//! * [`storage`]: overlayfs snapshots over the unpacked layers, volumes, bind mounts, tmpfs;
//! * [`container`]: containers from an image and a [`container::ContainerConfig`], run by a
//!   per-container shim process, with logs, stop/kill, exec and removal.
//!
//! It knows nothing of clusters, tasks or YAML: the agent translates tasks into its own
//! container config. All state is on disk under the data directory (see `docs/engine.md`).
#![warn(missing_docs)]

pub mod container;
pub mod content;
pub mod digest;
mod engine;
mod error;
pub mod fsutil;
pub mod image;
pub mod network;
pub mod storage;

pub use digest::Digest;
pub use engine::{parse_runtime, Engine, EngineOptions, RuntimeChoice, DEFAULT_DATA_DIR};
pub use error::{Error, Result};
/// A signal, as [`Engine::kill_container`] takes it.
pub use nix::sys::signal::Signal;
/// Parses a signal name (`TERM`, `SIGTERM`) or number, as `kill` and `stop` take them.
pub use skiff_runtime::parse_signal;
