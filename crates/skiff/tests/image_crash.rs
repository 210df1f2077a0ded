//! `skiff image pull` and `skiff image load` SIGKILLed half-way, and two pulls of one image at
//! once: the store stays consistent (every blob under the digest it hashes to, every layer
//! directory with its link and short name, a valid image index) and a retry succeeds.
//! Talks only to a fake registry on 127.0.0.1.

#[path = "../../skiff-engine/tests/support/fake_registry.rs"]
#[allow(dead_code)]
mod fake_registry;
mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_registry::{Content, FakeRegistry, Reply};
use skiff_testkit::image::{busybox_layer, digest, Compression, ImageBuilder, LayerBuilder};
use support::TestEngine;

/// An image whose top layer is `size` bytes of incompressible data, served by a fake.
fn image_with_big_layer(size: usize) -> ImageBuilder {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    ImageBuilder::new()
        .layer(busybox_layer(Compression::Gzip))
        .layer(LayerBuilder::new(Compression::None).file("big.bin", data, 0o644))
}

fn serve(image: &ImageBuilder, dir: &Path, tag: &str) -> Content {
    let built = image.write_oci_layout(dir, tag);
    let mut content = Content::from_layout(dir);
    let manifest = content.blobs[&built.manifest_digest].clone();
    content.add_manifest(
        Some(tag),
        "application/vnd.oci.image.manifest.v1+json",
        manifest,
    );
    content
}

/// Checks what a crash must never leave: a blob under a name it does not hash to, a layer
/// directory without its link file (or a short name leading nowhere), an unreadable index.
fn assert_consistent(data: &Path) {
    let blobs = data.join("content/blobs/sha256");
    for entry in fs::read_dir(&blobs).into_iter().flatten().flatten() {
        let name = entry.file_name().into_string().unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        assert_eq!(digest(&bytes), format!("sha256:{name}"), "blob {name}");
    }
    let layers = data.join("layers");
    for entry in fs::read_dir(&layers).into_iter().flatten().flatten() {
        let name = entry.file_name().into_string().unwrap();
        if name.len() != 64 {
            continue;
        }
        let link = fs::read_to_string(entry.path().join("link"))
            .unwrap_or_else(|e| panic!("layer {name} has no link file: {e}"));
        assert!(
            entry.path().join("diff").is_dir(),
            "layer {name} has no diff"
        );
        let short = layers.join("l").join(link.trim());
        assert_eq!(
            fs::canonicalize(&short).unwrap(),
            fs::canonicalize(entry.path().join("diff")).unwrap()
        );
    }
    let index = data.join("images.json");
    if index.exists() {
        let _: serde_json::Value =
            serde_json::from_slice(&fs::read(&index).unwrap()).expect("images.json is valid JSON");
    }
}

fn spawn(engine: &TestEngine, args: &[&str]) -> Child {
    engine
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until `cond` holds (or panics after 20 s).
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn nonempty(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_some())
}

#[test]
fn pull_killed_mid_blob_then_retried() {
    let engine = TestEngine::empty();
    let image = image_with_big_layer(4 << 20);
    let content = serve(&image, &engine.dir.path().join("layout"), "v1");
    let stall = Arc::new(AtomicBool::new(true));
    let fake = {
        let (content, stall) = (content.clone(), stall.clone());
        FakeRegistry::start(move |req| match content.serve(req) {
            Reply::Full { body, .. } if stall.load(Ordering::SeqCst) && body.len() > 1 << 20 => {
                Reply::Stall {
                    send: body.len() / 2,
                    body,
                }
            }
            other => other,
        })
    };
    let addr = fake.addr().to_string();
    let reference = format!("{addr}/test/big:v1");
    let pull = [
        "image",
        "--insecure-registry",
        &addr,
        "pull",
        "-q",
        &reference,
    ];

    let mut child = spawn(&engine, &pull);
    let ingest = engine.data().join("content/ingest");
    until("the big blob to be half-way", || {
        fs::read_dir(&ingest)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.metadata()
                    .is_ok_and(|m| m.len() >= (2 << 20) - (64 << 10))
            })
    });
    // The small base layer may be done meanwhile; either way nothing is named wrongly.
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_consistent(&engine.data());
    assert!(engine
        .fails(&["image", "inspect", &reference])
        .contains("no"));

    stall.store(false, Ordering::SeqCst);
    engine.ok(&pull);
    assert_consistent(&engine.data());
    let out = engine.ok(&[
        "container",
        "run",
        "--rm",
        &reference,
        "sh",
        "-c",
        "wc -c < /big.bin",
    ]);
    assert_eq!(out.trim(), (4 << 20).to_string());
    // Garbage collection removes the leftovers of the killed pull.
    engine.ok(&["image", "prune"]);
    assert!(!nonempty(&ingest), "ingest leftovers kept");
    assert!(!nonempty(&engine.data().join("layers/tmp")));
}

#[test]
fn load_killed_at_several_points_then_retried() {
    let engine = TestEngine::empty();
    let archive = engine.dir.path().join("big.tar");
    image_with_big_layer(32 << 20).write_oci_archive(&archive, "big:v1");
    let load = ["image", "load", "-i", archive.to_str().unwrap()];
    let data = engine.data();
    type Reached<'a> = Box<dyn Fn() -> bool + 'a>;
    let points: [(&str, Reached); 3] = [
        (
            "an ingest",
            Box::new(|| nonempty(&data.join("content/ingest"))),
        ),
        ("an unpack", Box::new(|| nonempty(&data.join("layers/tmp")))),
        ("a moment", Box::new(|| true)),
    ];
    for (what, reached) in points {
        let mut child = spawn(&engine, &load);
        until(what, || reached() || child.try_wait().unwrap().is_some());
        let _ = child.kill();
        let status = child.wait().unwrap();
        eprintln!("load stopped at {what}: {status}");
        assert_consistent(&data);
    }
    engine.ok(&load);
    assert_consistent(&data);
    let out = engine.ok(&[
        "container",
        "run",
        "--rm",
        "big:v1",
        "sh",
        "-c",
        "wc -c < /big.bin",
    ]);
    assert_eq!(out.trim(), (32 << 20).to_string());
}

#[test]
fn two_pulls_of_one_image_at_once() {
    let engine = TestEngine::empty();
    let image = image_with_big_layer(2 << 20);
    let content = serve(&image, &engine.dir.path().join("layout"), "v1");
    let fake = FakeRegistry::start(move |req| {
        // Slow enough that the two pulls overlap.
        std::thread::sleep(Duration::from_millis(100));
        content.serve(req)
    });
    let addr = fake.addr().to_string();
    let reference = format!("{addr}/test/big:v1");
    let pull = [
        "image",
        "--insecure-registry",
        &addr,
        "pull",
        "-q",
        &reference,
    ];
    let children: Vec<Child> = (0..2)
        .map(|_| {
            engine
                .command(&pull)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_consistent(&engine.data());
    let ls = engine.ok(&["image", "ls", "-q"]);
    assert_eq!(ls.lines().count(), 1, "{ls}");
    engine.ok(&["container", "run", "--rm", &reference, "true"]);
}
