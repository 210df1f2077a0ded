//! Root tests of what a process sees inside the container: its pid namespace, hostname, mount
//! table, capabilities, seccomp, no_new_privs, user namespace, read-only root, masked paths.

mod common;

use common::*;
use serde_json::json;

fn run_sh(edit: impl FnOnce(&mut serde_json::Value), script: &str) -> (i32, String, String) {
    let rt = Runtime::skiff();
    let mut bundle = Bundle::busybox(&["sh", "-c", script]);
    bundle.edit(edit);
    rt.run(&bundle, &unique_id("iso"))
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{name} missing in {status}"))
}

#[test]
fn process_is_pid_1_with_its_own_hostname_and_proc() {
    let (code, out, err) = run_sh(
        |c| c["hostname"] = json!("box1"),
        "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "box1");
    // Only the shell and ls (and grep) exist in the container's pid namespace.
    let count: usize = lines[2].parse().unwrap();
    assert!(
        count <= 4,
        "the container sees {count} processes: /proc is not its own"
    );
}

#[test]
fn mount_table_is_isolated() {
    let (code, out, err) = run_sh(|_| {}, "cat /proc/self/mountinfo");
    assert_eq!(code, 0, "{err}");
    let host_cwd = std::env::current_dir().unwrap();
    assert!(
        !out.contains(host_cwd.to_str().unwrap()),
        "host paths visible:\n{out}"
    );
    let targets: Vec<&str> = out.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    assert_eq!(targets[0], "/", "{out}");
    for expected in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ] {
        assert!(
            targets.contains(&expected),
            "{expected} not mounted:\n{out}"
        );
    }
    // And no mount of the container shows on the host.
    let bundle_mounts = host_mounts_with("skiff-bundle-");
    assert!(bundle_mounts.is_empty(), "{bundle_mounts:?}");
}

#[test]
fn capabilities_no_new_privs_and_rlimits_are_applied() {
    let (code, out, err) = run_sh(|_| {}, "cat /proc/self/status; ulimit -n");
    assert_eq!(code, 0, "{err}");
    // runc's default set: CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let expected = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    assert_eq!(field(&out, "CapEff"), expected);
    assert_eq!(field(&out, "CapPrm"), expected);
    assert_eq!(field(&out, "CapBnd"), expected);
    // runc's default spec lists ambient capabilities but no inheritable ones, so the kernel
    // refuses them; runc then runs without, and so do we.
    assert_eq!(field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(field(&out, "NoNewPrivs"), "1");
    assert_eq!(out.lines().last().unwrap(), "1024");
}

#[test]
fn dropped_capabilities_are_enforced() {
    // Without CAP_CHOWN even root cannot chown; with it, it can.
    let (code, _, err) = run_sh(
        |c| c["root"]["readonly"] = json!(false),
        "touch /tmp/f && chown 1 /tmp/f",
    );
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    let (code, _, err) = run_sh(
        |c| {
            c["root"]["readonly"] = json!(false);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_CHOWN"));
            }
        },
        "touch /tmp/f && chown 1 /tmp/f",
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn no_new_privs_off_is_visible() {
    let (code, out, err) = run_sh(
        |c| c["process"]["noNewPrivileges"] = json!(false),
        "cat /proc/self/status",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "NoNewPrivs"), "0");
}

#[test]
fn seccomp_denies_with_eperm() {
    let (code, out, err) = run_sh(
        |c| {
            c["root"]["readonly"] = json!(false);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            });
        },
        "echo before; mkdir /tmp/x; echo rc=$?; cat /proc/self/status | grep Seccomp:",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("before"));
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

#[test]
fn docker_default_seccomp_profile_blocks_unshare() {
    let caps: Vec<oci_spec::runtime::Capability> = serde_json::from_value(json!([
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_AUDIT_WRITE"
    ]))
    .unwrap();
    let profile = skiff_runtime::seccomp::docker_default(&caps);
    let (code, out, err) = run_sh(
        |c| c["linux"]["seccomp"] = serde_json::to_value(&profile).unwrap(),
        "echo ok; unshare -U true; echo rc=$?",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok"), "{out}");
    assert!(out.contains("rc=1"), "unshare was allowed: {out} {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

#[test]
fn read_only_root_and_masked_paths() {
    let (code, out, err) = run_sh(
        |_| {},
        "touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-writable; \
         wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/panic_on_oops; echo sys=$?",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1"));
    assert!(out.contains("shm-writable"));
    assert!(
        out.lines().any(|l| l.trim() == "0"),
        "/proc/timer_list is not masked: {out}"
    );
    assert!(
        out.contains("sys=1") || err.contains("Read-only"),
        "{out} {err}"
    );
}

#[test]
fn user_namespace_maps_root() {
    let (code, out, err) = run_sh(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            // The cgroup bind mounts are not owned by the mapped root; skip them.
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["type"] != "cgroup");
        },
        "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map; ls -ln /bin/busybox",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // Host root is not mapped: the busybox binary (owned by host root) shows the overflow id.
    assert!(lines[3].contains("65534"), "{out}");
}

#[test]
fn user_env_cwd_and_sysctl() {
    let (code, out, err) = run_sh(
        |c| {
            c["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [10]});
            c["process"]["cwd"] = json!("/tmp/work");
            c["process"]["env"].as_array_mut().unwrap().push(json!("GREETING=hi there"));
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            c["root"]["readonly"] = json!(false);
        },
        "id -u; id -g; id -G; pwd; echo $GREETING; cat /proc/sys/net/ipv4/ip_forward; cat /proc/net/dev | grep -c :",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..5],
        ["65534", "65534", "65534 10", "/tmp/work", "hi there"]
    );
    assert_eq!(lines[5], "1", "sysctl not set in the container's netns");
    assert_eq!(
        lines[6], "1",
        "the container's network namespace has more than lo"
    );
}
