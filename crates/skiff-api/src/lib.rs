//! Skiff's cluster objects and API types.
//!
//! This crate is pure data: no I/O, no async runtime, no kernel. The manifest parser produces an
//! [`AppSpec`]; the control plane stores it; the agents turn its services into containers.
#![warn(missing_docs)]

pub mod app;
pub mod units;
pub mod v1;

pub use app::*;
pub use units::{ByteSize, Cpus, Duration, UnitError};
