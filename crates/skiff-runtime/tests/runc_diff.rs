//! Differential tests: the same bundle run by skiff-runtime and by runc (Debian's package)
//! gives the same exit code, state fields and visible isolation.

mod common;

use common::*;
use serde_json::{json, Value};

/// What a process can see of its isolation, one fact per line.
const PROBE: &str = "echo pid=$$; hostname; id; \
    grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; ulimit -n; \
    echo /proc/[0-9]*; ls -1 /dev | sort | tr '\\n' ' '; echo; \
    awk '{print $5}' /proc/self/mountinfo | sort | tr '\\n' ' '; echo; \
    touch /rootfs-write 2>/dev/null; echo write=$?; wc -c < /proc/timer_list; exit 42";

fn both(edit: impl Fn(&mut Value)) -> [(i32, String, String); 2] {
    [Runtime::skiff(), Runtime::runc()].map(|rt| {
        let mut bundle = Bundle::busybox(&["sh", "-c", PROBE]);
        bundle.edit(&edit);
        rt.run(&bundle, &unique_id("diff"))
    })
}

#[test]
fn same_bundle_same_exit_code_and_isolation() {
    let [skiff, runc] = both(|_| {});
    assert_eq!(skiff.0, 42, "skiff: {}", skiff.2);
    assert_eq!(runc.0, 42, "runc: {}", runc.2);
    assert_eq!(
        skiff.1, runc.1,
        "skiff and runc differ\nskiff stderr: {}\nrunc stderr: {}",
        skiff.2, runc.2
    );
}

#[test]
fn same_isolation_with_a_user_and_limits() {
    let [skiff, runc] = both(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}]);
        c["process"]["noNewPrivileges"] = json!(false);
        c["hostname"] = json!("differential");
    });
    assert_eq!(skiff.0, runc.0);
    assert_eq!(
        skiff.1, runc.1,
        "skiff and runc differ\nskiff stderr: {}\nrunc stderr: {}",
        skiff.2, runc.2
    );
}

#[test]
fn same_state_fields_after_create() {
    let states = [Runtime::skiff(), Runtime::runc()].map(|rt| {
        let id = "diff-state";
        let bundle = Bundle::busybox(&["sleep", "30"]);
        let _guard = rt.guard(id);
        let out = rt.create(&bundle, id);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let created = rt.state(id);
        rt.ok(&["start", id]);
        let running = rt.state(id);
        rt.ok(&["kill", id, "KILL"]);
        assert!(wait_until(3000, || rt.state(id)["status"] == "stopped"));
        let stopped = rt.state(id);
        rt.ok(&["delete", id]);
        (
            created,
            running,
            stopped,
            bundle.path().to_str().unwrap().to_string(),
        )
    });
    for (created, running, stopped, bundle) in &states {
        assert_eq!(created["status"], "created");
        assert_eq!(running["status"], "running");
        assert_eq!(stopped["status"], "stopped");
        assert_eq!(created["id"], "diff-state");
        assert_eq!(&created["bundle"], bundle.as_str());
        assert!(created["pid"].as_i64().unwrap() > 0);
        assert_eq!(created["pid"], running["pid"]);
        assert!(created["ociVersion"].as_str().unwrap().starts_with("1."));
    }
}

#[test]
fn same_errors_for_unknown_ids_and_missing_programs() {
    for rt in [Runtime::skiff(), Runtime::runc()] {
        let out = rt.exec(&["state", "nope"]);
        assert!(!out.status.success(), "{}", rt.binary.display());
        let mut bundle = Bundle::busybox(&["no-such-program"]);
        bundle.edit(|_| {});
        let id = unique_id("missing");
        let _guard = rt.guard(&id);
        let out = rt.create(&bundle, &id);
        assert!(!out.status.success(), "{}", rt.binary.display());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("executable file not found"),
            "{}",
            rt.binary.display()
        );
    }
}
