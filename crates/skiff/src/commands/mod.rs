//! One module per subcommand, each thin over a library.

pub mod validate;
