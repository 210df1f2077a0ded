//! `skiff container` commands that race each other on one container, as root on the real
//! kernel: two starts at once, a removal while the shim is still starting the container.
//! Whatever the order, one shim owns a container at a time and nothing is left behind.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::{id_of, TestEngine};

/// A runc that takes its time to create a container, so that a test can act while a shim is
/// starting one.
fn slow_runc(dir: &Path) -> String {
    let path = dir.join("slow-runc");
    let runc = skiff_testkit::image::which("runc").expect("runc is installed");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = create ] && sleep 1; done\nexec {} \"$@\"\n",
            runc.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn two_starts_at_once_run_the_container_once() {
    let e = TestEngine::with_image();
    let id = id_of(&e.ok(&["container", "create", "test", "sleep", "300"]));
    let starts: Vec<_> = (0..2)
        .map(|_| {
            e.command(&["container", "start", &id])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = starts
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "exactly one start wins: {outs:?}");
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains("already being started") || err.contains("already running"),
        "{err}"
    );
    // The winner's container was not disturbed by the loser's clean-up.
    assert_eq!(
        e.ok(&["container", "exec", &id, "echo", "alive"]),
        "alive\n"
    );
    let ls = e.ok(&["container", "ls"]);
    assert!(ls.contains("Up "), "{ls}");
    e.ok(&["container", "rm", "-f", &id]);
    e.assert_clean(&id);
}

#[test]
fn rm_force_while_the_shim_is_starting_leaves_nothing() {
    let e = TestEngine::with_image();
    let runc = slow_runc(e.dir.path());
    let id = id_of(&e.ok(&[
        "container",
        "create",
        "--runtime",
        &runc,
        "test",
        "sleep",
        "301",
    ]));
    let start = e
        .command(&["container", "start", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The shim is now inside `runc create`.
    std::thread::sleep(Duration::from_millis(300));
    let err = e.fails(&["container", "rm", &id]);
    assert!(err.contains("starting"), "{err}");
    e.ok(&["container", "rm", "-f", &id]);
    let _ = start.wait_with_output().unwrap();
    e.assert_clean(&id);
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout)
            .lines()
            .any(|l| l == "sleep 301"),
        "the container's process outlived rm -f"
    );
}
