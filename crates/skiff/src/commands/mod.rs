//! One module per subcommand, each thin over a library.

pub mod engine_args;
pub mod human;
pub mod image;
pub mod validate;
