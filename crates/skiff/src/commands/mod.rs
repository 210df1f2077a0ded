//! One module per subcommand, each thin over a library.

pub mod agent;
pub mod apply;
pub mod cluster;
pub mod container;
pub mod dev;
pub mod engine_args;
pub mod env;
pub mod exec;
pub mod get;
pub mod human;
pub mod image;
pub mod listing;
pub mod logs;
pub mod manifest;
pub mod network;
pub mod node;
pub mod ps;
pub mod publish;
pub mod remote;
pub mod rm;
pub mod scale;
pub mod server;
pub mod shim;
pub mod task_target;
pub mod token;
pub mod validate;
