//! Helpers the unit tests of several modules share.

use skiff_api::AppSpec;
use skiff_manifest::{load, MemoryLoader, Options};

use crate::objects::Name;

/// A name the test knows is valid.
pub(crate) fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

/// The normalized spec of a compose file (project `shop`, environment `dev`).
pub(crate) fn app_spec(yaml: &str) -> AppSpec {
    let loader = MemoryLoader::new().with("/app/compose.yaml", yaml);
    let mut options = Options::new(["/app/compose.yaml"]);
    options.project_name = Some("shop".to_owned());
    load(&options, &loader)
        .unwrap_or_else(|d| panic!("{d}"))
        .spec
}
