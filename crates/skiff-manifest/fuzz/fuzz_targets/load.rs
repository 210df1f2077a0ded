//! Feeds arbitrary bytes to `skiff_manifest::load` as a compose file: it must return, with a
//! spec or with diagnostics, and never panic, overflow the stack or run away with memory.
//!
//! The input is read as lossy UTF-8 (the CLI refuses non-UTF-8 files before `load` sees them).
//! When it contains the line `---8<---`, what follows is a second file merged over the first,
//! so the merge is fuzzed too. A fixed `.env` gives `${VAR}` interpolation something to find.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_manifest::{load, MemoryLoader, Options};

const SPLIT: &str = "\n---8<---\n";
const BASE: &str = "/srv/shop/compose.yaml";
const OVERRIDE: &str = "/srv/shop/compose.override.yaml";
const DOT_ENV: &str = "TAG=1.4.2\nPORT=8080\nEMPTY=\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut loader = MemoryLoader::new().with("/srv/shop/.env", DOT_ENV);
    let mut files = vec![BASE];
    match text.split_once(SPLIT) {
        Some((base, over)) => {
            loader = loader.with(BASE, base).with(OVERRIDE, over);
            files.push(OVERRIDE);
        }
        None => loader = loader.with(BASE, text.as_ref()),
    }
    let mut options = Options::new(files);
    options
        .process_env
        .insert("USER".to_owned(), "fuzz".to_owned());
    let _ = load(&options, &loader);
});
