//! Seccomp for containers: compiles the spec's `linux.seccomp` section into a filter that the
//! container process loads just before execve, and provides Docker's default profile.
//!
//! The filter is compiled with libseccomp in the runtime and kept as a finished BPF program
//! ([`Filter`]); the container process loads it with one seccomp(2) call, so nothing that
//! allocates or takes locks runs between fork and exec.
//!
//! - `compile.rs`: OCI section → libseccomp rules → BPF, with errors naming the spec field.
//! - `filter.rs`: the compiled program and its loading.
//! - `default_profile.rs`: Skiff's default profile, with the policy of Docker's default, for a
//!   capability set.

mod cache;
mod compile;
mod default_profile;
mod error;
mod filter;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod tests;

pub use cache::compile_cached;
pub use compile::compile;
pub use default_profile::docker_default;
pub use error::SeccompError;
pub use filter::Filter;
