//! `skiff image` run as a process over a scratch data directory: load, ls, inspect, rm and
//! prune print what Docker users expect and exit 0, and failures exit 1 with
//! `skiff: error: …`.
//!
//! The tests that load an image need the engine's layer unpacker; the failure tests do not.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use skiff_testkit::image::{layered_busybox, scratch};

fn skiff(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("image")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("SKIFF_DATA_DIR")
        .output()
        .expect("run skiff")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "skiff failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.starts_with("skiff: error: "), "{stderr}");
    stderr
}

#[test]
fn load_list_inspect_remove() {
    let dir = scratch();
    let data = dir.path().join("data");
    let archive = dir.path().join("busybox.tar");
    let built = layered_busybox().write_docker_archive(&archive, "busybox:1.36");

    let out = ok(&skiff(&data, &["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(out, "Loaded image: busybox:1.36\n");

    let short = &built.config_digest[7..19];
    let out = ok(&skiff(&data, &["ls"]));
    eprintln!("DEMO\n{out}");
    eprintln!("DEMO\n{}", ok(&skiff(&data, &["inspect", "busybox:1.36"])));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..3], ["busybox", "1.36", short], "{out}");
    assert!(lines[1].contains(" ago"), "{out}");

    assert_eq!(ok(&skiff(&data, &["ls", "-q"])), format!("{short}\n"));
    let listed: Value = serde_json::from_str(&ok(&skiff(&data, &["ls", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["id"], built.config_digest.as_str());
    assert_eq!(listed[0]["names"][0], "docker.io/library/busybox:1.36");

    let out = ok(&skiff(&data, &["inspect", "busybox:1.36"]));
    let inspected: Value = serde_json::from_str(&out).unwrap();
    let image = &inspected[0];
    assert_eq!(image["id"], built.config_digest.as_str());
    assert_eq!(image["os"], "linux");
    assert_eq!(image["architecture"], "amd64");
    assert_eq!(image["config"]["Cmd"][0], "sh");
    assert!(image["config"]["Env"][0]
        .as_str()
        .unwrap()
        .starts_with("PATH="));
    assert_eq!(image["layers"].as_array().unwrap().len(), 3);
    assert_eq!(image["layers"][0]["diff_id"], built.diff_ids[0].as_str());
    assert!(image["manifest"].as_str().unwrap().starts_with("sha256:"));

    let out = ok(&skiff(&data, &["rm", "busybox:1.36"]));
    assert_eq!(
        out,
        format!("Untagged: busybox:1.36\nDeleted: {}\n", built.config_digest)
    );
    assert_eq!(ok(&skiff(&data, &["ls", "-q"])), "");
}

#[test]
fn unnamed_images_show_their_id_and_are_pruned() {
    let dir = scratch();
    let data = dir.path().join("data");
    let layout = dir.path().join("layout");
    let built = layered_busybox().write_oci_layout(&layout, "latest");

    let out = ok(&skiff(
        &data,
        &["load", "--input", layout.to_str().unwrap()],
    ));
    assert_eq!(out, format!("Loaded image ID: {}\n", built.config_digest));
    let out = ok(&skiff(&data, &["ls"]));
    assert!(out.lines().nth(1).unwrap().starts_with("<none>"), "{out}");

    let out = ok(&skiff(&data, &["prune"]));
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\ndeleted: {}\n",
            built.config_digest
        )),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
}

#[test]
fn prune_all_removes_named_images() {
    let dir = scratch();
    let data = dir.path().join("data");
    let archive = dir.path().join("busybox.tar");
    layered_busybox().write_oci_archive(&archive, "example.com/busybox:1");
    ok(&skiff(&data, &["load", "-i", archive.to_str().unwrap()]));
    let out = ok(&skiff(&data, &["prune"]));
    assert_eq!(out, "Total reclaimed space: 0B\n", "named images stay");
    let out = ok(&skiff(&data, &["prune", "-a"]));
    assert!(out.contains("untagged: example.com/busybox:1\n"), "{out}");
    assert_eq!(ok(&skiff(&data, &["ls", "-o", "json"])), "[]\n");
}

#[test]
fn failures_exit_1_with_a_message() {
    let dir = scratch();
    let data = dir.path().join("data");
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"").unwrap();
    let err = failed(&skiff(&data, &["load", "-i", junk.to_str().unwrap()]));
    assert!(err.contains("junk.tar: not an image archive"), "{err}");

    let err = failed(&skiff(&data, &["rm", "nothing:1", "other:2"]));
    assert_eq!(err.lines().count(), 2, "one line per image: {err}");
    assert!(err.contains("no image \"nothing:1\""), "{err}");

    let out = skiff(&data, &["inspect", "nothing"]);
    let err = failed(&out);
    assert!(err.contains("no image \"nothing\""), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n");

    let out = ok(&skiff(&data, &["ls"]));
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    assert_eq!(ok(&skiff(&data, &["ls", "-o", "json"])), "[]\n");
}
