//! Root tests of the OCI lifecycle: create, start, state, kill, delete, run — and that failures
//! are clear and leave nothing behind.

mod common;

use common::*;
use serde_json::json;

/// A change to a config.json under test.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn run_passes_the_exit_code_through() {
    let rt = Runtime::skiff();
    let bundle = Bundle::busybox(&["sh", "-c", "echo hello; exit 3"]);
    let (code, out, err) = rt.run(&bundle, &unique_id("exit"));
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "hello\n");
}

#[test]
fn lifecycle_states_follow_the_spec() {
    let rt = Runtime::skiff();
    let id = unique_id("life");
    let _guard = rt.guard(&id);
    let mut bundle = Bundle::busybox(&["sleep", "30"]);
    bundle.edit(|c| c["annotations"] = json!({"org.example/key": "value"}));
    let out = rt.create(&bundle, &id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    assert!(state["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(state["bundle"], bundle.path().to_str().unwrap());
    assert_eq!(state["annotations"]["org.example/key"], "value");
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 0);
    // Created: the process exists but has not exec'd the program yet.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("sleep"));

    let again = rt.exec(&["start", &id]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(wait_until(2000, || String::from_utf8_lossy(
        &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
    )
    .contains("sleep")));
    let twice = rt.exec(&["start", &id]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("is running"));

    let busy = rt.exec(&["delete", &id]);
    assert!(
        !busy.status.success(),
        "delete of a running container must fail"
    );
    assert!(String::from_utf8_lossy(&busy.stderr).contains("--force"));

    rt.ok(&["kill", &id, "KILL"]);
    assert!(wait_until(2000, || rt.state(&id)["status"] == "stopped"));
    let stopped = rt.exec(&["kill", &id, "TERM"]);
    assert!(
        !stopped.status.success(),
        "signalling a stopped container must fail"
    );
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("stopped"));

    rt.ok(&["delete", &id]);
    let gone = rt.exec(&["state", &id]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));
    assert!(!rt.root.path().join(&id).exists());
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists(), "{} leaked", dir.display());
    }
}

#[test]
fn delete_force_kills_a_running_container() {
    let rt = Runtime::skiff();
    let id = unique_id("force");
    let _guard = rt.guard(&id);
    let bundle = Bundle::busybox(&["sleep", "30"]);
    assert!(rt.create(&bundle, &id).status.success());
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert!(wait_until(2000, || !std::path::Path::new(&format!(
        "/proc/{pid}"
    ))
    .exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")));
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists(), "{} leaked", dir.display());
    }
}

#[test]
fn unknown_and_duplicate_ids_are_clear_errors() {
    let rt = Runtime::skiff();
    for cmd in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope"],
        &["delete", "nope"],
    ] {
        let out = rt.exec(cmd);
        assert!(!out.status.success(), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("container nope does not exist"),
            "{cmd:?}"
        );
    }
    let bad = rt.exec(&["state", "../etc"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid container id"));

    let id = unique_id("dup");
    let _guard = rt.guard(&id);
    let bundle = Bundle::busybox(&["sleep", "30"]);
    assert!(rt.create(&bundle, &id).status.success());
    let dup = rt.create(&bundle, &id);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    // The first container is untouched by the failed duplicate.
    assert_eq!(rt.state(&id)["status"], "created");
    let unknown_signal = rt.exec(&["kill", &id, "SIGNOPE"]);
    assert!(String::from_utf8_lossy(&unknown_signal.stderr).contains("unknown signal"));
}

/// Asserts that a failed create left no state, cgroup, mount or process behind.
fn assert_nothing_left(rt: &Runtime, bundle: &Bundle, id: &str) {
    assert!(
        !rt.root.path().join(id).exists(),
        "state directory left behind"
    );
    for dir in cgroup_dirs(id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    let mounts = host_mounts_with(bundle.path().to_str().unwrap());
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "grep -l {} /proc/[0-9]*/environ 2>/dev/null || true",
            id
        ))
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "processes left behind");
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    let rt = Runtime::skiff();
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "nosuchfs",
            Box::new(|c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}))
            }),
        ),
        (
            "executable file not found",
            Box::new(|c| c["process"]["args"] = json!(["no-such-program"])),
        ),
        (
            "/nonexistent/src",
            Box::new(|c| {
                c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": "/nonexistent/src", "options": ["rbind"]}))
            }),
        ),
        (
            "rlimit",
            Box::new(|c| {
                c["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 30000, "hard": 30000000}])
            }),
        ),
        (
            "hook",
            Box::new(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]})),
        ),
    ];
    for (expected, mutate) in cases {
        let id = unique_id("fail");
        let _guard = rt.guard(&id);
        let mut bundle = Bundle::busybox(&["sh", "-c", "env SKIFF_TEST_ID=x true"]);
        bundle.edit(|c| {
            mutate(c);
            c["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!(format!("SKIFF_TEST_MARK={id}")));
        });
        let out = rt.create(&bundle, &id);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}: create succeeded");
        assert!(
            stderr.to_lowercase().contains(&expected.to_lowercase()),
            "{expected}: {stderr}"
        );
        assert_nothing_left(&rt, &bundle, &id);
    }
}

#[test]
fn bad_bundles_are_refused_with_the_field_named() {
    let rt = Runtime::skiff();
    let id = unique_id("bad");
    let mut bundle = Bundle::busybox(&["true"]);
    std::fs::remove_dir_all(bundle.rootfs()).unwrap();
    let out = rt.create(&bundle, &id);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("root.path"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!rt.root.path().join(&id).exists());
    make_rootfs(&bundle.rootfs());
    bundle.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": "lots"}}));
    let out = rt.create(&bundle, &id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("linux.resources.memory.limit"), "{stderr}");
    std::fs::write(bundle.path().join("config.json"), "{\"ociVersion\": ").unwrap();
    let out = rt.create(&bundle, &id);
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json"));
    assert!(!rt.root.path().join(&id).exists());
}

#[test]
fn json_log_format_is_written_for_errors() {
    let rt = Runtime::skiff();
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = rt
        .command()
        .args([
            "--log",
            log.path().to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "missing",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(log.path()).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn namespaces_given_by_path_are_joined() {
    let rt = Runtime::skiff();
    let first = unique_id("ns-a");
    let second = unique_id("ns-b");
    let _guards = (rt.guard(&first), rt.guard(&second));
    let mut a = Bundle::busybox(&["sleep", "30"]);
    a.edit(|c| c["hostname"] = json!("shared-uts"));
    assert!(rt.create(&a, &first).status.success());
    rt.ok(&["start", &first]);
    let pid = rt.state(&first)["pid"].as_i64().unwrap();

    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline; echo; cat /proc/net/dev | grep -c :",
    ]);
    b.edit(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            let kind = ns["type"].as_str().unwrap().to_string();
            let file = match kind.as_str() {
                "network" => "net",
                "uts" => "uts",
                "ipc" => "ipc",
                "pid" => "pid",
                _ => continue,
            };
            ns["path"] = json!(format!("/proc/{pid}/ns/{file}"));
        }
        c.as_object_mut().unwrap().remove("hostname");
    });
    let (code, out, err) = rt.run(&b, &second);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "shared-uts", "uts namespace not joined");
    assert!(
        lines[1].starts_with("sleep"),
        "pid namespace not joined: pid 1 is {:?}",
        lines[1]
    );
    assert_eq!(lines[2], "1", "network namespace not joined");
}

#[test]
fn no_pivot_uses_chroot_and_still_isolates() {
    let rt = Runtime::skiff();
    let id = unique_id("nopivot");
    let _guard = rt.guard(&id);
    let bundle = Bundle::busybox(&["sh", "-c", "ls /; cat /proc/self/mountinfo | head -1"]);
    let out = rt.exec(&[
        "run",
        "--no-pivot",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bin"), "{text}");
    assert!(!text.contains("work"), "host root visible: {text}");
}
