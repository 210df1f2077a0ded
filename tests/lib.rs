//! Workspace-wide checks and end-to-end tests of Skiff. The tests live in `tests/`; this
//! library holds what they share, such as the [`linearizability`] checker for histories of
//! client operations against a cluster.
#![warn(missing_docs)]

pub mod linearizability;
