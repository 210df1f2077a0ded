//! The engine under constraints, through the CLI: the drop folder, size limits, a full disk.

mod support;

use std::fs;
use std::path::PathBuf;

use skiff_testkit::image::{layered_busybox, ImageBuilder};
use support::TestEngine;

#[test]
fn archives_dropped_into_the_images_folder_are_loaded_once_by_the_next_command() {
    let e = TestEngine::empty();
    let drop = e.data().join("images");
    fs::create_dir_all(&drop).unwrap();
    layered_busybox().write_oci_archive(&drop.join("app.tar"), "dropped:v1");
    fs::write(drop.join("broken.tar"), b"not an archive").unwrap();
    let out = e.run(&["container", "run", "--rm", "dropped:v1", "echo", "ok"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("loaded dropped:v1"), "{stderr}");
    assert!(
        stderr.contains("broken.tar"),
        "a bad archive is reported: {stderr}"
    );
    let again = e.run(&["image", "ls"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !stderr.contains("loaded") && !stderr.contains("broken"),
        "once only: {stderr}"
    );
}

#[test]
fn a_layer_over_the_configured_size_is_refused_and_nothing_is_kept() {
    let e = TestEngine::empty();
    let layout = e.dir.path().join("layout");
    layered_busybox().write_oci_layout(&layout, "big:v1");
    let err = e.fails(&[
        "image",
        "--max-layer-size",
        "1m",
        "load",
        "-i",
        layout.to_str().unwrap(),
    ]);
    assert!(err.contains("1048576"), "the limit is named: {err}");
    assert!(
        layer_dirs(&e).is_empty(),
        "no layer kept: {:?}",
        layer_dirs(&e)
    );
    assert!(e.ok(&["image", "ls", "-q"]).is_empty());
    // Within the default limits the same image loads.
    e.ok(&["image", "load", "-i", layout.to_str().unwrap()]);
}

#[test]
fn a_full_disk_fails_cleanly_and_the_store_stays_usable() {
    let e = TestEngine::empty();
    // The data directory on a 1 MiB tmpfs: the busybox layer (about 2 MB) cannot fit.
    let data = e.data();
    fs::create_dir_all(&data).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &data,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    let _unmount = Unmount(data.clone());
    let layout = e.dir.path().join("layout");
    layered_busybox().write_oci_layout(&layout, "big:v1");
    let err = e.fails(&["image", "load", "-i", layout.to_str().unwrap()]);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        layer_dirs(&e).is_empty(),
        "no half layer: {:?}",
        layer_dirs(&e)
    );
    assert!(e.ok(&["image", "ls", "-q"]).is_empty(), "no image recorded");
    // A small image still loads and runs from the same store afterwards (prune first frees
    // the leftovers).
    e.ok(&["image", "prune", "-a"]);
    let small = e.dir.path().join("small");
    ImageBuilder::new()
        .layer(
            skiff_testkit::image::LayerBuilder::new(skiff_testkit::image::Compression::Gzip)
                .dir("bin", 0o755)
                .file("bin/hello", "hi\n", 0o644),
        )
        .write_oci_layout(&small, "small:v1");
    e.ok(&["image", "load", "-i", small.to_str().unwrap()]);
    assert_eq!(e.ok(&["image", "ls", "-q"]).lines().count(), 1);
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Unpacked layers in the store.
fn layer_dirs(e: &TestEngine) -> Vec<String> {
    fs::read_dir(e.data().join("layers"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|d| d.file_name().into_string().ok())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default()
}
