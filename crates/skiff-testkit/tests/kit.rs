//! The test kit itself works: a built image is a valid OCI layout that skopeo can copy into a
//! real docker-registry, and the registry serves it back.

use std::process::Command;

use skiff_testkit::image::{layered_busybox, scratch};
use skiff_testkit::registry::Registry;

#[test]
fn built_image_round_trips_through_docker_registry() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    let built = layered_busybox().write_oci_layout(&layout, "v1");
    assert_eq!(built.diff_ids.len(), 3);
    let registry = Registry::start();
    registry.push_layout(&layout, "v1", "test/busybox", None);
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/test/busybox:v1", registry.addr()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = served["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(
        served["config"]["digest"].as_str().unwrap(),
        built.config_digest
    );
    assert_eq!(
        layers[1]["mediaType"].as_str().unwrap(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}
