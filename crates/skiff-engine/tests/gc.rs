//! Removing and pruning images and collecting garbage remove exactly what nothing refers to:
//! two images share a base layer, a container uses one of them.
//!
//! Every test but the last two loads images, so needs the layer unpacker.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::*;
use serde_json::json;
use skiff_engine::image::Image;
use skiff_engine::Digest;
use skiff_testkit::image::{busybox_layer, BuiltImage, Compression, ImageBuilder, LayerBuilder};

fn image_with(file: &str) -> ImageBuilder {
    ImageBuilder::new()
        .layer(busybox_layer(Compression::Gzip))
        .layer(LayerBuilder::new(Compression::Zstd).file(file, file, 0o644))
}

/// Loads two images sharing the busybox base: `a:1` and `b:1`.
fn two_images(setup: &Setup) -> (Image, Image) {
    let load = |name: &str, file: &str| -> (Image, BuiltImage) {
        let layout = setup.path(file);
        let built = image_with(file).write_oci_layout(&layout, name);
        let image = setup.engine.load(&layout).unwrap().remove(0);
        (image, built)
    };
    let (a, _) = load("example.com/a:1", "a.txt");
    let (b, _) = load("example.com/b:1", "b.txt");
    assert_eq!(
        a.layers[0].diff_id, b.layers[0].diff_id,
        "the base is shared"
    );
    (a, b)
}

fn blobs_of(images: &[&Image]) -> BTreeSet<Digest> {
    images
        .iter()
        .flat_map(|i| {
            [i.id.clone(), i.manifest.clone()]
                .into_iter()
                .chain(i.layers.iter().map(|l| l.blob.clone()))
        })
        .collect()
}

fn layers_of(images: &[&Image]) -> BTreeSet<Digest> {
    images
        .iter()
        .flat_map(|i| i.layers.iter().map(|l| l.diff_id.clone()))
        .collect()
}

fn assert_store_holds(setup: &Setup, images: &[&Image]) {
    let blobs: BTreeSet<Digest> = setup.engine.content().list().unwrap().into_iter().collect();
    assert_eq!(blobs, blobs_of(images));
    let layers: BTreeSet<Digest> = setup
        .engine
        .layer_store()
        .list()
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(layers, layers_of(images));
}

fn add_container(setup: &Setup, id: &str, image: &Image) {
    let dir = setup.data().join("containers").join(id);
    fs::create_dir_all(&dir).unwrap();
    let record = json!({"id": id, "image_id": image.id.to_string(), "state": "running"});
    write_json(&dir.join("container.json"), &record);
}

#[test]
fn removing_one_image_keeps_the_shared_layer() {
    let setup = Setup::new();
    let (a, b) = two_images(&setup);
    let report = setup.engine.remove_image("example.com/a:1", false).unwrap();
    assert_eq!(report.untagged, std::slice::from_ref(&a.names[0]));
    assert_eq!(report.deleted, std::slice::from_ref(&a.id));
    assert_eq!(
        report.gc.layers_removed,
        std::slice::from_ref(&a.layers[1].diff_id)
    );
    let mut removed: Vec<Digest> = report.gc.blobs_removed.clone();
    removed.sort();
    let mut expected = vec![a.id.clone(), a.manifest.clone(), a.layers[1].blob.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(report.gc.bytes_freed > 0);
    assert_store_holds(&setup, &[&b]);
    assert!(setup.engine.image("example.com/a:1").is_err());
    assert_eq!(setup.engine.image("example.com/b:1").unwrap().id, b.id);
}

#[test]
fn removing_a_name_keeps_an_image_that_has_another() {
    let setup = Setup::new();
    let (a, _) = two_images(&setup);
    let layout = setup.path("again");
    image_with("a.txt").write_oci_layout(&layout, "example.com/a:2");
    setup.engine.load(&layout).unwrap();
    let err = setup
        .engine
        .remove_image(&a.id.to_string(), false)
        .unwrap_err();
    assert!(err.to_string().contains("several names"), "{err}");
    let report = setup.engine.remove_image("example.com/a:1", false).unwrap();
    assert!(report.deleted.is_empty());
    assert!(report.gc.layers_removed.is_empty());
    let report = setup.engine.remove_image(a.id.short(), true).unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&a.id));
}

#[test]
fn an_image_a_container_uses_stays_until_the_container_goes() {
    let setup = Setup::new();
    let (a, b) = two_images(&setup);
    add_container(&setup, "web-1", &b);
    let err = setup
        .engine
        .remove_image("example.com/b:1", false)
        .unwrap_err();
    assert!(
        err.to_string().contains("used by container(s) web-1"),
        "{err}"
    );

    let report = setup.engine.remove_image("example.com/b:1", true).unwrap();
    assert_eq!(report.untagged, std::slice::from_ref(&b.names[0]));
    assert!(report.deleted.is_empty(), "kept, dangling");
    assert!(setup
        .engine
        .image(&b.id.to_string())
        .unwrap()
        .names
        .is_empty());

    let pruned = setup.engine.prune_images(true).unwrap();
    assert_eq!(
        pruned.deleted,
        std::slice::from_ref(&a.id),
        "only the unused image"
    );
    let kept = setup.engine.image(&b.id.to_string()).unwrap();
    assert_store_holds(&setup, &[&kept]);

    fs::remove_dir_all(setup.data().join("containers/web-1")).unwrap();
    let pruned = setup.engine.prune_images(false).unwrap();
    assert_eq!(pruned.deleted, std::slice::from_ref(&b.id));
    assert_store_holds(&setup, &[]);
    assert!(setup.engine.images().unwrap().is_empty());
}

#[test]
fn prune_without_all_takes_only_dangling_images() {
    let setup = Setup::new();
    let (a, b) = two_images(&setup);
    // b:1 moves to a's image: b's image is left without a name.
    let layout = setup.path("retag");
    image_with("a.txt").write_oci_layout(&layout, "example.com/b:1");
    setup.engine.load(&layout).unwrap();
    let report = setup.engine.prune_images(false).unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&b.id));
    let a = setup.engine.image(&a.id.to_string()).unwrap();
    assert_eq!(a.names.len(), 2);
    assert_store_holds(&setup, &[&a]);
}

#[test]
fn gc_removes_unreferenced_blobs_and_leftovers() {
    let setup = Setup::new();
    let stray = setup
        .engine
        .content()
        .write_bytes(b"nobody refers to me")
        .unwrap();
    let ingest = setup.data().join("content/ingest/abandoned");
    fs::write(&ingest, vec![0u8; 1000]).unwrap();
    let tmp = setup.data().join("layers/tmp/half-unpacked/diff");
    fs::create_dir_all(&tmp).unwrap();
    fs::write(tmp.join("file"), vec![0u8; 500]).unwrap();
    let report = setup.engine.gc().unwrap();
    assert_eq!(report.blobs_removed, [stray]);
    assert_eq!(report.bytes_freed, 19 + 1000 + 500);
    assert!(!ingest.exists());
    assert_eq!(
        fs::read_dir(setup.data().join("layers/tmp"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(setup.engine.gc().unwrap().bytes_freed, 0);
}

#[test]
fn a_corrupt_container_record_stops_removals() {
    let setup = Setup::new();
    let dir = setup.data().join("containers/broken");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("container.json"), b"{not json").unwrap();
    let err = setup.engine.prune_images(true).unwrap_err();
    assert!(err.to_string().contains("container record"), "{err}");
    let err = setup.engine.remove_image("busybox", false).unwrap_err();
    assert!(err.to_string().contains("is corrupt"), "{err}");
    // A record without an image, or with unknown fields, is fine.
    fs::write(
        dir.join("container.json"),
        br#"{"id": "broken", "more": [1, 2]}"#,
    )
    .unwrap();
    assert!(setup.engine.images_in_use().unwrap().is_empty());
}
