//! skiff-runtime: an OCI runtime as a library and as a runc-compatible binary.
//!
//! Input is an OCI bundle (`config.json` and a root filesystem). [`Runtime`] carries out the
//! lifecycle of the runtime spec — [`create`](Runtime::create), [`start`](Runtime::start),
//! [`state`](Runtime::state), [`kill`](Runtime::kill), [`delete`](Runtime::delete), plus
//! [`run`](Runtime::run) and [`exec`](Runtime::exec) — with namespaces, cgroups (through
//! `skiff-cgroups`), pivot_root, capabilities and seccomp.
//!
//! The library must be called from a single-threaded process (the `skiff-runtime` binary, or
//! the engine's per-container shim): containers are cloned straight from the caller. It keeps
//! no state in memory between calls; everything lives under the state root.
#![warn(missing_docs)]

pub mod cgroup;
pub mod console;
mod container;
mod error;
mod exec;
pub mod hooks;
mod init;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
mod sync;

pub use container::{parse_signal, CreateOptions, Runtime};
pub use error::{Error, Result};
pub use exec::ExecOptions;
pub use state::{State, Status};
