//! Archives that are well-formed tar but mean something odd: a metadata file twice, indexes
//! nested without end. Each is refused with a message that says so, the store left
//! consistent.

mod common;

use common::*;
use serde_json::json;
use skiff_testkit::image::{layered_busybox, tar_dir};

#[test]
fn an_archive_with_two_index_files_is_refused() {
    let setup = Setup::new();
    let tar = setup.path("busybox.tar");
    layered_busybox().write_oci_archive(&tar, "busybox:1");
    let mut entries = read_tar(&tar);
    // tar keeps the last entry of a name: this one would hide the image behind an empty index.
    entries.push(TarEntry::file("./index.json", r#"{"manifests":[]}"#));
    let twice = setup.path("twice.tar");
    write_tar(&twice, &entries);
    setup.assert_refused(&twice, &["twice.tar", "index.json appears more than once"]);
}

#[test]
fn indexes_nested_too_deep_are_refused_as_such() {
    let setup = Setup::new();
    let layout = setup.path("layout");
    layered_busybox().write_oci_layout(&layout, "busybox:1");
    let index_path = layout.join("index.json");
    let mut top = read_json(&index_path)["manifests"][0].clone();
    for _ in 0..5 {
        let nested = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [top],
        });
        let bytes = serde_json::to_vec(&nested).unwrap();
        top = json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": put_blob(&layout, &bytes),
            "size": bytes.len(),
        });
    }
    write_json(
        &index_path,
        &json!({"schemaVersion": 2, "manifests": [top]}),
    );
    let tar = setup.path("deep.tar");
    tar_dir(&layout, &tar);
    setup.assert_refused(&tar, &["deep.tar", "is an index nested more than 2 deep"]);
    setup.assert_refused(&layout, &["is an index nested more than 2 deep"]);
}

#[test]
fn bytes_of_a_broken_header_are_escaped_in_the_message() {
    let setup = Setup::new();
    let mut header = [0u8; 512];
    header[..5].copy_from_slice(b"hello");
    // The checksum field, which the parser quotes when it is not a number.
    header[148..156].copy_from_slice(b"\x1b[31mAB\0");
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    let tar = setup.path("escape.tar");
    std::fs::write(&tar, bytes).unwrap();
    let err = setup.assert_refused(&tar, &["escape.tar", "\\u{1b}[31mAB"]);
    assert!(!err.contains('\x1b'), "{err:?}");
}
