//! Test support for Skiff's engine tests (not shipped): image building and a local registry.
//!
//! * [`image`] builds multi-layer OCI images (plain, gzip and zstd layers, whiteouts, opaque
//!   directories) from busybox-static and writes them as OCI layouts, OCI archives or
//!   `docker save` archives;
//! * [`registry`] starts Debian's `docker-registry` on 127.0.0.1 and pushes images to it with
//!   `skopeo`.
#![warn(missing_docs)]

pub mod image;
pub mod registry;
