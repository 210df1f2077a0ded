//! Test support for Skiff's tests (not shipped): image building, a local registry, and a
//! linearizability checker.
//!
//! * [`image`] builds multi-layer OCI images (plain, gzip and zstd layers, whiteouts, opaque
//!   directories) from busybox-static and writes them as OCI layouts, OCI archives or
//!   `docker save` archives;
//! * [`registry`] starts Debian's `docker-registry` on 127.0.0.1 and pushes images to it with
//!   `skopeo`;
//! * [`linearizability`] checks histories of concurrent clients' operations against the
//!   key-value API (the cluster fault tests record them).
#![warn(missing_docs)]

pub mod image;
pub mod linearizability;
pub mod registry;
