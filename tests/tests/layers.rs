//! The layer rules of docs/architecture.md, checked by reading the crates' Cargo.toml files
//! (as firecracker's verify_dependencies does).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates")
}

/// The names of a crate's normal and build dependencies (dev-dependencies are free).
fn dependencies(krate: &str) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml")).ok()?;
    let manifest: toml::Table = text.parse().expect("Cargo.toml parses");
    let mut names = BTreeSet::new();
    for section in ["dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) {
            names.extend(deps.keys().cloned());
        }
    }
    Some(names)
}

fn assert_none_of(krate: &str, forbidden: &[&str], why: &str) {
    let Some(deps) = dependencies(krate) else {
        return;
    };
    let bad: Vec<_> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
    assert!(bad.is_empty(), "{krate} depends on {bad:?}: {why}");
}

#[test]
fn pure_crates_stay_pure() {
    for krate in ["skiff-api", "skiff-manifest", "skiff-core"] {
        assert!(dependencies(krate).is_some(), "{krate} is missing");
    }
    for krate in ["skiff-api", "skiff-manifest", "skiff-core"] {
        assert_none_of(
            krate,
            &[
                "tokio",
                "openraft",
                "sled",
                "tonic",
                "nix",
                "libc",
                "reqwest",
                "hyper",
                "axum",
                "skiff-runtime",
                "skiff-engine",
            ],
            "pure crates must not touch the network, the disk or the kernel",
        );
    }
}

#[test]
fn the_runtime_is_synchronous_and_knows_no_cluster() {
    for krate in ["skiff-runtime", "skiff-cgroups"] {
        assert!(dependencies(krate).is_some(), "{krate} is missing");
        assert_none_of(
            krate,
            &["tokio", "async-std", "openraft", "sled", "tonic", "skiff-api", "skiff-core", "skiff-manifest", "skiff-proto"],
            "the runtime forks containers from a single-threaded process and takes only OCI bundles",
        );
    }
}

#[test]
fn server_and_agent_share_only_proto_and_api() {
    assert_none_of(
        "skiff-server",
        &["skiff-agent", "skiff-engine"],
        "the server talks to agents over gRPC only",
    );
    assert_none_of(
        "skiff-agent",
        &["skiff-server", "skiff-store"],
        "the agent talks to the server over gRPC only",
    );
}

#[test]
fn every_crate_uses_the_workspace_lints() {
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        let path = entry.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest: toml::Table = text.parse().unwrap();
        let uses = manifest
            .get("lints")
            .and_then(|l| l.get("workspace"))
            .and_then(|w| w.as_bool());
        assert_eq!(
            uses,
            Some(true),
            "{} lacks `[lints] workspace = true`",
            path.display()
        );
    }
}
