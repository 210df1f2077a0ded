//! Compose-style YAML to a validated, normalized [`skiff_api::AppSpec`].
//!
//! The pipeline, one module a step:
//!
//! 1. [`yaml`] reads each file into a tree of nodes that remember their file, line and column,
//!    with hostile documents (alias bombs, deep nesting, huge values) refused on the way;
//! 2. `interpolate` expands `${VAR}` and friends in values, from the process environment and
//!    `.env` files (`dotenv`);
//! 3. `merge` folds the files together in order with Compose's merge rules, then the selected
//!    environment's `x-skiff.environments.<env>` overrides on top;
//! 4. `compose` and its submodules decode the merged tree into an `AppSpec`, checking every key
//!    and value against the schema, and `validate` checks what spans services (references,
//!    cycles, published-port clashes).
//!
//! The crate does no I/O: files are read through the [`Loader`] the caller passes in, so that the
//! CLI reads the disk and tests read strings. Every problem is collected, located and returned at
//! once as [`Diagnostics`].
#![warn(missing_docs)]

mod compose;
mod decode;
mod deploy;
pub mod diag;
mod dotenv;
mod interpolate;
mod load;
mod merge;
mod mounts;
mod names;
mod ports;
mod service;
mod unsupported;
mod validate;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use load::load;
pub use ports::{parse_short_port, MAX_PORTS_PER_ENTRY};
use skiff_api::AppSpec;

/// The environment an app goes to when none is named.
pub const DEFAULT_ENVIRONMENT: &str = "dev";

/// Reads the files a manifest refers to: the compose files, `include`d files, `.env` and
/// `env_file` files. The CLI reads the disk; tests serve strings.
pub trait Loader {
    /// The contents of `path` (as UTF-8 text).
    fn read(&self, path: &Path) -> Result<String, LoadError>;
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// There is no such file.
    #[error("no such file")]
    NotFound,
    /// Any other reason, as the operating system said it.
    #[error("{0}")]
    Io(String),
}

/// What to load and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The compose files, merged in this order (`-f a.yaml -f b.yaml`).
    pub files: Vec<PathBuf>,
    /// The environment to apply to (`--env`); its `x-skiff.environments.<env>` overrides apply.
    pub environment: String,
    /// `--env-file` files; when empty, `.env` in the project directory is read if it exists.
    pub env_files: Vec<PathBuf>,
    /// The process environment, which wins over env files for interpolation.
    pub process_env: BTreeMap<String, String>,
    /// Overrides the project name (otherwise `name:` or the project directory's name).
    pub project_name: Option<String>,
    /// The directory relative paths are resolved against (otherwise the first file's).
    pub project_dir: Option<PathBuf>,
    /// Compose profiles to enable; services with `profiles:` run only when one is enabled.
    pub profiles: Vec<String>,
    /// Bounds on each document.
    pub limits: yaml::Limits,
    /// Files under this directory are named relative to it in diagnostics (the CLI passes the
    /// current directory and absolute files, so that every file has one identity and messages
    /// still read `compose.yaml:3:5`).
    pub display_dir: Option<PathBuf>,
}

impl Options {
    /// Options for `files` in the default environment, with an empty process environment.
    pub fn new(files: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        Self {
            files: files.into_iter().map(Into::into).collect(),
            environment: DEFAULT_ENVIRONMENT.to_owned(),
            env_files: Vec::new(),
            process_env: BTreeMap::new(),
            project_name: None,
            project_dir: None,
            profiles: Vec::new(),
            limits: yaml::Limits::default(),
            display_dir: None,
        }
    }
}

/// A successful load: the app and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The normalized app.
    pub spec: AppSpec,
    /// Problems that did not stop the load (obsolete `version:`, unset variables, …).
    pub warnings: Vec<Diagnostic>,
}

/// A [`Loader`] over in-memory files, for tests and for manifests posted over the API.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryLoader {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }
}

impl Loader for MemoryLoader {
    fn read(&self, path: &Path) -> Result<String, LoadError> {
        self.files.get(path).cloned().ok_or(LoadError::NotFound)
    }
}
