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
    assert!(
        dependencies("skiff-server").is_some(),
        "skiff-server is missing"
    );
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
fn the_protocol_crate_is_only_protocols() {
    assert!(
        dependencies("skiff-proto").is_some(),
        "skiff-proto is missing"
    );
    assert_none_of(
        "skiff-proto",
        &[
            "openraft",
            "sled",
            "skiff-core",
            "skiff-store",
            "skiff-server",
            "skiff-agent",
            "skiff-engine",
            "skiff-runtime",
        ],
        "the agent uses skiff-proto and must not pull in the control plane or the engine with it",
    );
}

#[test]
fn the_store_knows_no_network() {
    assert!(
        dependencies("skiff-store").is_some(),
        "skiff-store is missing"
    );
    assert_none_of(
        "skiff-store",
        &["tonic", "skiff-proto", "skiff-server", "axum", "hyper"],
        "Raft traffic between servers belongs to skiff-server's raft_network",
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

#[test]
fn the_client_speaks_only_the_api() {
    assert!(
        dependencies("skiff-client").is_some(),
        "skiff-client is missing"
    );
    assert_none_of(
        "skiff-client",
        &[
            "skiff-server",
            "skiff-store",
            "skiff-proto",
            "skiff-engine",
            "openraft",
            "sled",
            "tonic",
        ],
        "the client reaches the control plane over HTTP and shares only its wire types \
         (skiff-api, skiff-core)",
    );
}
