//! The load pipeline: files → trees → interpolation → merge → environment overrides → AppSpec.

use crate::diag::Diagnostics;
use crate::{Loaded, Loader, Options};

/// Loads, merges, validates and normalizes the app described by `options.files`.
///
/// Every problem found is returned at once; warnings come back with a successful load.
pub fn load(options: &Options, loader: &dyn Loader) -> Result<Loaded, Diagnostics> {
    let _ = (options, loader);
    Err(Diagnostics::default())
}
