//! One module per subcommand, each thin over a library.

pub mod container;
pub mod engine_args;
pub mod human;
pub mod image;
pub mod manifest;
pub mod server;
pub mod shim;
pub mod validate;
