//! Loading images from OCI layouts, OCI archives and `docker save` archives built by the test
//! kit, and refusing every kind of broken or hostile input with the store left consistent.
//!
//! The tests that load an image successfully need the layer unpacker (commit unpacks every
//! layer); the refusals happen before unpacking.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::{json, Value};
use skiff_engine::image::Image;
use skiff_engine::Digest;
use skiff_testkit::image::{
    busybox_layer, layered_busybox, tar_dir, BuiltImage, Compression, ImageBuilder, LayerBuilder,
};

fn digest(text: &str) -> Digest {
    text.parse().unwrap()
}

fn names(image: &Image) -> Vec<String> {
    image.names.iter().map(|n| n.to_string()).collect()
}

/// The image is the test kit's, fully recorded and unpacked.
fn assert_is_built(setup: &Setup, image: &Image, built: &BuiltImage) {
    assert_eq!(image.id, digest(&built.config_digest));
    let diff_ids: Vec<Digest> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
    let expected: Vec<Digest> = built.diff_ids.iter().map(|d| digest(d)).collect();
    assert_eq!(diff_ids, expected);
    assert_eq!(image.layers.len(), 3);
    for layer in &image.layers {
        assert!(setup.engine.content().contains(&layer.blob));
        assert!(
            setup.engine.layer_store().contains(&layer.diff_id),
            "layer {} not unpacked",
            layer.diff_id
        );
    }
    assert!(setup.engine.content().contains(&image.manifest));
    assert!(setup.engine.content().contains(&image.id));
    let stored = setup.engine.image(&image.id.to_string()).unwrap();
    assert_eq!(stored.layers, image.layers);
    assert_eq!(stored.manifest, image.manifest);
    setup.assert_store_consistent();
}

#[test]
fn loads_an_oci_layout_with_its_full_name() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "example.com/tools/busybox:v1");
    let images = setup.engine.load(&layout).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(names(&images[0]), ["example.com/tools/busybox:v1"]);
    assert_eq!(images[0].manifest, digest(&built.manifest_digest));
    assert_is_built(&setup, &images[0], &built);
    assert_eq!(setup.engine.images().unwrap().len(), 1);
}

#[test]
fn a_bare_tag_names_no_repository() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "v1");
    let images = setup.engine.load(&layout).unwrap();
    assert!(images[0].names.is_empty(), "{:?}", images[0].names);
    assert_is_built(&setup, &images[0], &built);
}

#[test]
fn loads_oci_archives_plain_and_gzipped() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    let built = layered_busybox().write_oci_archive(&tar, "busybox:1.36");
    let images = setup.engine.load(&tar).unwrap();
    assert_eq!(names(&images[0]), ["docker.io/library/busybox:1.36"]);
    assert_eq!(images[0].manifest, digest(&built.manifest_digest));
    assert_is_built(&setup, &images[0], &built);

    let other = Setup::new();
    let gz = other.path("busybox.tar.gz");
    gzip(&tar, &gz);
    let images = other.engine.load(&gz).unwrap();
    assert_eq!(images[0].manifest, digest(&built.manifest_digest));
    assert_is_built(&other, &images[0], &built);

    let third = Setup::new();
    let zst = third.path("busybox.tar.zst");
    fs::write(
        &zst,
        zstd::encode_all(&fs::read(&tar).unwrap()[..], 3).unwrap(),
    )
    .unwrap();
    let images = third.engine.load(&zst).unwrap();
    assert_is_built(&third, &images[0], &built);
}

#[test]
fn loads_a_docker_save_archive_with_a_made_manifest() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    let built = layered_busybox().write_docker_archive(&tar, "busybox:1.36");
    let images = setup.engine.load(&tar).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(names(&images[0]), ["docker.io/library/busybox:1.36"]);
    assert_is_built(&setup, &images[0], &built);
    // docker save layers are plain tars: their blobs are their diff ids.
    for layer in &images[0].layers {
        assert_eq!(layer.blob, layer.diff_id);
        assert_eq!(
            layer.media_type,
            "application/vnd.docker.image.rootfs.diff.tar"
        );
    }
    let manifest = setup
        .engine
        .content()
        .read(&images[0].manifest, 1 << 20)
        .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], built.config_digest.as_str());
}

#[test]
fn manifest_json_may_come_first_or_last() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    let built = layered_busybox().write_docker_archive(&tar, "busybox:1.36");
    let entries = read_tar(&tar);
    let (meta, rest): (Vec<TarEntry>, Vec<TarEntry>) = entries
        .into_iter()
        .partition(|e| e.name() == "manifest.json");
    let last = setup.path("last.tar");
    write_tar(&last, &[rest.clone(), meta.clone()].concat());
    let first = setup.path("first.tar");
    write_tar(&first, &[meta, rest].concat());
    for path in [last, first] {
        let images = setup.engine.load(&path).unwrap();
        assert_is_built(&setup, &images[0], &built);
    }
    assert_eq!(setup.engine.images().unwrap().len(), 1);
}

#[test]
fn loading_twice_records_one_image() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    layered_busybox().write_docker_archive(&tar, "busybox:1.36");
    let first = setup.engine.load(&tar).unwrap();
    let index = setup.index_bytes();
    let second = setup.engine.load(&tar).unwrap();
    assert_eq!(
        first, second,
        "the same image, first stored at the same time"
    );
    assert_eq!(setup.index_bytes(), index, "a second load changes nothing");
    let all = setup.engine.images().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(names(&all[0]), ["docker.io/library/busybox:1.36"]);
}

#[test]
fn the_same_image_from_two_formats_gains_both_names() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    layered_busybox().write_oci_layout(&layout, "example.com/busybox:oci");
    let tar = setup.path("docker.tar");
    layered_busybox().write_docker_archive(&tar, "busybox:docker");
    setup.engine.load(&layout).unwrap();
    setup.engine.load(&tar).unwrap();
    let all = setup.engine.images().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        names(&all[0]),
        [
            "example.com/busybox:oci",
            "docker.io/library/busybox:docker"
        ]
    );
}

#[test]
fn newer_docker_archives_are_read_as_oci_layouts_with_repo_tags() {
    // Docker 25 and later: an OCI layout plus a manifest.json pointing into blobs/.
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "latest");
    let mut index = read_json(&layout.join("index.json"));
    index["manifests"][0]["annotations"]["io.containerd.image.name"] =
        json!("docker.io/library/busybox:latest");
    write_json(&layout.join("index.json"), &index);
    let manifest = read_json(&blob_path(&layout, &built.manifest_digest));
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("blobs/sha256/{}", &l["digest"].as_str().unwrap()[7..]))
        .collect();
    write_json(
        &layout.join("manifest.json"),
        &json!([{
            "Config": format!("blobs/sha256/{}", &built.config_digest[7..]),
            "RepoTags": ["busybox:latest", "busybox:extra"],
            "Layers": layers,
        }]),
    );
    let tar = setup.path("docker25.tar");
    tar_dir(&layout, &tar);
    let images = setup.engine.load(&tar).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].manifest, digest(&built.manifest_digest));
    assert_eq!(
        names(&images[0]),
        [
            "docker.io/library/busybox:latest",
            "docker.io/library/busybox:extra"
        ]
    );
    assert_is_built(&setup, &images[0], &built);
}

#[test]
fn the_amd64_image_of_an_index_is_chosen() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "example.com/multi:1");
    let mut index = read_json(&layout.join("index.json"));
    let mut amd64 = index["manifests"][0].clone();
    amd64.as_object_mut().unwrap().remove("annotations");
    amd64["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let arm64 = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        // Not in the layout: other platforms' blobs are not needed.
        "digest": Digest::of(b"arm64 manifest").to_string(),
        "size": 14,
        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
    });
    let nested = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [arm64, amd64]});
    let bytes = serde_json::to_vec(&nested).unwrap();
    let nested_digest = put_blob(&layout, &bytes);
    index["manifests"][0]["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
    index["manifests"][0]["digest"] = json!(nested_digest);
    index["manifests"][0]["size"] = json!(bytes.len());
    write_json(&layout.join("index.json"), &index);
    let images = setup.engine.load(&layout).unwrap();
    assert_eq!(names(&images[0]), ["example.com/multi:1"]);
    assert_eq!(images[0].manifest, digest(&built.manifest_digest));
    assert_is_built(&setup, &images[0], &built);
}

#[test]
fn skopeo_archives_load() {
    let Some(skopeo) = skiff_testkit::image::skopeo() else {
        eprintln!("skipped: skopeo is not installed");
        return;
    };
    let setup = Setup::new();
    let layout = setup.path("layout");
    // Docker archives cannot hold zstd layers.
    let image = ImageBuilder::new()
        .layer(busybox_layer(Compression::Gzip))
        .layer(LayerBuilder::new(Compression::None).file("etc/motd", "hi\n", 0o644));
    let built = image.write_oci_layout(&layout, "v1");
    for (transport, name) in [
        ("docker-archive", "skopeo-docker.tar"),
        ("oci-archive", "skopeo-oci.tar"),
    ] {
        let out = setup.path(name);
        let status = Command::new(&skopeo)
            .arg("copy")
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!(
                "{transport}:{}:example.com/skopeo:1",
                out.display()
            ))
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy to {transport}");
        let images = setup.engine.load(&out).unwrap();
        assert_eq!(names(&images[0]), ["example.com/skopeo:1"], "{transport}");
        assert_eq!(images[0].id, digest(&built.config_digest), "{transport}");
        assert_eq!(images[0].layers.len(), 2);
        assert!(setup
            .engine
            .layer_store()
            .contains(&digest(&built.diff_ids[1])));
    }
}

// ---- refusals -------------------------------------------------------------------------

#[test]
fn a_truncated_archive_is_refused() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    layered_busybox().write_oci_archive(&tar, "busybox:1");
    let bytes = fs::read(&tar).unwrap();
    let cut = setup.path("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2 + 700]).unwrap();
    setup.assert_refused(&cut, &["cut.tar", "truncated"]);

    let gz = setup.path("busybox.tar.gz");
    gzip(&tar, &gz);
    let bytes = fs::read(&gz).unwrap();
    let cut = setup.path("cut.tar.gz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    setup.assert_refused(&cut, &["cut.tar.gz", "truncated"]);
}

#[test]
fn a_missing_blob_is_refused() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "busybox:1");
    let manifest = read_json(&blob_path(&layout, &built.manifest_digest));
    let top = manifest["layers"][2]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    fs::remove_file(blob_path(&layout, &top)).unwrap();
    let tar = setup.path("missing.tar");
    tar_dir(&layout, &tar);
    let hex = &top[7..];
    let want = format!("layers[2] refers to blobs/sha256/{hex}, which is not in the archive");
    setup.assert_refused(&tar, &["missing.tar", &want]);
    setup.assert_refused(&layout, &["layout", &want]);
}

#[test]
fn a_tampered_blob_is_refused() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "busybox:1");
    let manifest = read_json(&blob_path(&layout, &built.manifest_digest));
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = blob_path(&layout, &layer);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let tar = setup.path("tampered.tar");
    tar_dir(&layout, &tar);
    let entry = format!("entry blobs/sha256/{}", &layer[7..]);
    setup.assert_refused(&tar, &["tampered.tar", &entry, "tampered"]);
    setup.assert_refused(&layout, &[&entry, "tampered"]);
    assert!(!setup.engine.content().contains(&digest(&layer)));
}

#[test]
fn a_wrong_size_in_a_descriptor_is_refused() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    layered_busybox().write_oci_layout(&layout, "busybox:1");
    let mut index = read_json(&layout.join("index.json"));
    let size = index["manifests"][0]["size"].as_u64().unwrap();
    index["manifests"][0]["size"] = json!(size + 1);
    write_json(&layout.join("index.json"), &index);
    let tar = setup.path("size.tar");
    tar_dir(&layout, &tar);
    let want = format!("is {} bytes, but it is {size}", size + 1);
    setup.assert_refused(&tar, &["size.tar", "index.json manifests[0] says", &want]);
}

#[test]
fn unknown_media_types_are_refused() {
    let setup = Setup::new();
    let layout = setup.path("layer");
    layered_busybox().write_oci_layout(&layout, "busybox:1");
    edit_manifest(&layout, |m| {
        m["layers"][0]["mediaType"] = json!("application/x-rar");
    });
    setup.assert_refused(&layout, &["layers[0]", "\"application/x-rar\""]);

    let layout = setup.path("manifest");
    layered_busybox().write_oci_layout(&layout, "busybox:1");
    let mut index = read_json(&layout.join("index.json"));
    index["manifests"][0]["mediaType"] = json!("application/vnd.example.thing+json");
    write_json(&layout.join("index.json"), &index);
    let tar = setup.path("manifest.tar");
    tar_dir(&layout, &tar);
    setup.assert_refused(
        &tar,
        &[
            "manifest.tar",
            "index.json manifests[0]",
            "application/vnd.example.thing+json",
        ],
    );
}

#[test]
fn an_index_without_amd64_is_refused() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    layered_busybox().write_oci_layout(&layout, "busybox:1");
    let mut index = read_json(&layout.join("index.json"));
    let mut arm64 = index["manifests"][0].clone();
    arm64["platform"] = json!({"os": "linux", "architecture": "arm64"});
    let nested = json!({"schemaVersion": 2, "manifests": [arm64]});
    let bytes = serde_json::to_vec(&nested).unwrap();
    let nested_digest = put_blob(&layout, &bytes);
    index["manifests"][0]["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
    index["manifests"][0]["digest"] = json!(nested_digest);
    index["manifests"][0]["size"] = json!(bytes.len());
    write_json(&layout.join("index.json"), &index);
    let tar = setup.path("arm.tar");
    tar_dir(&layout, &tar);
    setup.assert_refused(
        &tar,
        &["arm.tar", "has no linux/amd64 image (it has: linux/arm64)"],
    );
}

#[test]
fn a_malformed_manifest_json_is_refused() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    layered_busybox().write_docker_archive(&tar, "busybox:1");
    let mut entries = read_tar(&tar);
    for e in &mut entries {
        if e.name() == "manifest.json" {
            e.data = br#"{"Config": 1}"#.to_vec();
        }
    }
    let bad = setup.path("bad.tar");
    write_tar(&bad, &entries);
    setup.assert_refused(&bad, &["bad.tar", "manifest.json is malformed"]);
}

#[test]
fn docker_configs_and_layers_must_match_their_names() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    let built = layered_busybox().write_docker_archive(&tar, "busybox:1");
    let config_name = format!("{}.json", &built.config_digest[7..]);
    let mut entries = read_tar(&tar);
    for e in &mut entries {
        if e.name() == config_name {
            e.data = String::from_utf8(e.data.clone())
                .unwrap()
                .replace("\"sh\"", "\"ls\"")
                .into_bytes();
        }
    }
    let bad = setup.path("config.tar");
    write_tar(&bad, &entries);
    let want = format!(
        "{config_name} is not {} as manifest.json[0] Config says",
        built.config_digest
    );
    setup.assert_refused(&bad, &["config.tar", &want]);

    let top = format!("{}/layer.tar", &built.diff_ids[2][7..]);
    let mut entries = read_tar(&tar);
    for e in &mut entries {
        if e.name() == top {
            let last = e.data.len() - 1100;
            e.data[last] ^= 1;
        }
    }
    let bad = setup.path("layer.tar");
    write_tar(&bad, &entries);
    let want = format!(
        "{top} is not {} as {config_name} rootfs.diff_ids[2] says",
        built.diff_ids[2]
    );
    setup.assert_refused(&bad, &["layer.tar", &want]);

    let entries: Vec<TarEntry> = read_tar(&tar)
        .into_iter()
        .filter(|e| e.name() != top)
        .collect();
    let bad = setup.path("nolayer.tar");
    write_tar(&bad, &entries);
    setup.assert_refused(
        &bad,
        &[
            "nolayer.tar",
            &format!("manifest.json[0] Layers[2] refers to {top}"),
        ],
    );
}

#[test]
fn path_traversal_and_absolute_names_are_refused() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    layered_busybox().write_oci_archive(&tar, "busybox:1");
    for (evil, file) in [
        ("../evil", "dotdot.tar"),
        ("blobs/../../evil", "inner.tar"),
        ("/tmp/evil", "abs.tar"),
    ] {
        let mut entries = vec![TarEntry::file(evil, "x")];
        entries.extend(read_tar(&tar));
        let bad = setup.path(file);
        write_tar(&bad, &entries);
        let want = format!("entry {evil:?} refused");
        setup.assert_refused(&bad, &[file, &want]);
    }
    assert!(!setup.dir.path().join("evil").exists());
    assert!(!std::path::Path::new("/tmp/evil").exists());
}

#[test]
fn symlinks_out_of_the_archive_are_refused() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    let built = layered_busybox().write_docker_archive(&tar, "busybox:1");
    let top = format!("{}/layer.tar", &built.diff_ids[2][7..]);
    for (target, file) in [
        ("/etc/passwd", "abs.tar"),
        ("../../../etc/passwd", "rel.tar"),
    ] {
        let mut entries: Vec<TarEntry> = read_tar(&tar)
            .into_iter()
            .filter(|e| e.name() != top)
            .collect();
        entries.push(TarEntry::symlink(&top, target));
        let bad = setup.path(file);
        write_tar(&bad, &entries);
        setup.assert_refused(&bad, &[file, &format!("entry {top:?} refused")]);
    }
}

#[test]
fn links_inside_the_archive_name_other_entries() {
    // Older `docker save` links a layer shared by two images to its first copy.
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    let built = layered_busybox().write_docker_archive(&tar, "busybox:1");
    let top = format!("{}/layer.tar", &built.diff_ids[2][7..]);
    let mut entries: Vec<TarEntry> = read_tar(&tar);
    for e in &mut entries {
        if e.name() == top {
            e.name = b"shared/layer.tar".to_vec();
        }
    }
    entries.push(TarEntry::symlink(&top, "../shared/layer.tar"));
    let linked = setup.path("linked.tar");
    write_tar(&linked, &entries);
    let images = setup.engine.load(&linked).unwrap();
    assert_is_built(&setup, &images[0], &built);
}

#[test]
fn oversized_metadata_is_refused() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    layered_busybox().write_oci_layout(&layout, "busybox:1");
    let mut index = fs::read(layout.join("index.json")).unwrap();
    index.extend(std::iter::repeat_n(b' ', 5 << 20));
    fs::write(layout.join("index.json"), index).unwrap();
    let tar = setup.path("big.tar");
    tar_dir(&layout, &tar);
    setup.assert_refused(
        &tar,
        &[
            "big.tar",
            "index.json is larger than the limit of 4194304 bytes",
        ],
    );
    setup.assert_refused(&layout, &["index.json is larger than the limit"]);
}

#[test]
fn odd_entries_and_non_images_are_refused() {
    let setup = Setup::new();
    let bad_name = setup.path("badname.tar");
    write_tar(
        &bad_name,
        &[TarEntry::file("blobs/sha256/not-a-digest", "x")],
    );
    setup.assert_refused(
        &bad_name,
        &["entry blobs/sha256/not-a-digest is not named by a sha256 digest"],
    );

    let fifo = setup.path("fifo.tar");
    let mut entry = TarEntry::file("index.json", "");
    entry.kind = tar::EntryType::Fifo;
    write_tar(&fifo, &[entry]);
    setup.assert_refused(&fifo, &["only files, directories and links"]);

    let plain = setup.path("plain.tar");
    write_tar(&plain, &[TarEntry::file("hello.txt", "hi")]);
    setup.assert_refused(&plain, &["plain.tar: not an image archive"]);

    let junk = setup.path("junk.bin");
    fs::write(&junk, vec![7u8; 4096]).unwrap();
    setup.assert_refused(&junk, &["junk.bin"]);

    let empty_dir = setup.path("empty");
    fs::create_dir(&empty_dir).unwrap();
    setup.assert_refused(&empty_dir, &["not an image archive"]);

    let none = setup.path("absent.tar");
    setup.assert_refused(&none, &["absent.tar"]);
}

#[test]
fn a_failed_import_leaves_only_garbage_that_gc_removes() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    let built = layered_busybox().write_oci_layout(&layout, "busybox:1");
    let manifest = read_json(&blob_path(&layout, &built.manifest_digest));
    let top = manifest["layers"][2]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    fs::remove_file(blob_path(&layout, &top)).unwrap();
    let tar = setup.path("missing.tar");
    tar_dir(&layout, &tar);
    setup.assert_refused(&tar, &["not in the archive"]);
    assert!(!setup.engine.content().list().unwrap().is_empty());
    let report = setup.engine.gc().unwrap();
    assert!(report.bytes_freed > 0);
    assert!(setup.engine.content().list().unwrap().is_empty());
}

// ---- the drop folder ----------------------------------------------------------------------

#[test]
fn the_drop_folder_imports_each_archive_once() {
    let setup = Setup::new();
    let folder = setup.engine.drop_folder();
    fs::create_dir_all(&folder).unwrap();
    let built = layered_busybox().write_docker_archive(&folder.join("busybox.tar"), "busybox:1");
    let report = setup.engine.import_drop_folder().unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.imported.len(), 1);
    assert_eq!(
        report.imported[0].images[0].id,
        digest(&built.config_digest)
    );
    let index = setup.index_bytes();

    let again = setup.engine.import_drop_folder().unwrap();
    assert!(again.imported.is_empty() && again.failed.is_empty());
    assert_eq!(again.unchanged, [folder.join("busybox.tar")]);
    assert_eq!(setup.index_bytes(), index);
    let record = read_json(&folder.join(".imported.json"));
    assert_eq!(
        record["files"]["busybox.tar"]["imported"],
        json!([built.config_digest])
    );
}

#[test]
fn the_drop_folder_reports_a_failure_once_until_the_file_changes() {
    let setup = Setup::new();
    let folder = setup.engine.drop_folder();
    fs::create_dir_all(&folder).unwrap();
    let broken = folder.join("broken.tar");
    write_tar(&broken, &[TarEntry::file("hello.txt", "hi")]);
    fs::write(folder.join(".hidden.tar"), "ignored").unwrap();
    fs::create_dir(folder.join("a-directory")).unwrap();

    let report = setup.engine.import_drop_folder().unwrap();
    assert!(report.imported.is_empty());
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].file, broken);
    assert!(report.failed[0]
        .error
        .to_string()
        .contains("not an image archive"));
    let record = read_json(&folder.join(".imported.json"));
    assert!(record["files"]["broken.tar"]["failed"]
        .as_str()
        .unwrap()
        .contains("not an image archive"));

    let again = setup.engine.import_drop_folder().unwrap();
    assert!(again.failed.is_empty(), "not retried while unchanged");
    assert_eq!(again.unchanged, std::slice::from_ref(&broken));

    write_tar(
        &broken,
        &[TarEntry::file("other.txt", "a different broken file")],
    );
    let changed = setup.engine.import_drop_folder().unwrap();
    assert_eq!(changed.failed.len(), 1, "retried once changed");

    fs::remove_file(&broken).unwrap();
    setup.engine.import_drop_folder().unwrap();
    let record = read_json(&folder.join(".imported.json"));
    assert_eq!(record["files"], json!({}), "gone files leave the record");
}
