//! `skiff container` end to end, as root on the real kernel: the test image (busybox-static in
//! three layers: gzip, zstd with a whiteout target, plain with a whiteout and an opaque
//! directory) is loaded into a fresh data directory per test and run through the shim with
//! skiff-runtime (and runc), with overlayfs, cgroups and namespaces.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use skiff_testkit::image::layered_busybox;
use skiff_testkit::registry::Registry;
use support::{cgroup_dirs, id_of, TestEngine};

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_passes_output_and_exit_code_through_and_rm_leaves_nothing() {
    let e = TestEngine::with_image();
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "--name",
        "once",
        "test",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "out\n");
    assert!(stderr_of(&out).contains("err\n"));
    assert!(e.container_dirs().is_empty(), "--rm removes the container");
    assert!(support::mounts_under(&e.data()).is_empty());
}

#[test]
fn layers_whiteouts_and_opaque_directories_show_through_overlayfs() {
    let e = TestEngine::with_image();
    let out = e.ok(&[
        "container", "run", "--rm", "test", "sh", "-c",
        "ls /data/old; test -e /etc/motd && echo motd-present; stat -c '%u:%g %a' /data/owned.txt /data/secret.txt; readlink /data/link",
    ]);
    assert_eq!(out, "new.txt\n1000:1000 640\n0:0 600\nowned.txt\n");
}

#[test]
fn detached_container_lives_on_logs_exec_stop_and_rm() {
    let e = TestEngine::with_image();
    let id = id_of(&e.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "web",
        "test",
        "sh",
        "-c",
        "echo started; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done",
    ]));
    // The command that started it is gone: every later command is a new engine that finds
    // the container through its files and its shim (re-adoption).
    let ls = e.ok(&["container", "ls"]);
    assert!(ls.contains("web") && ls.contains("Up "), "{ls}");
    wait_for(|| e.ok(&["container", "logs", "web"]).contains("tick 3"));
    let logs = e.ok(&["container", "logs", "--tail", "1", "web"]);
    assert!(logs.starts_with("tick "), "{logs}");
    assert_eq!(
        e.ok(&["container", "exec", "web", "cat", "/etc/hostname"]),
        format!("{}\n", &id[..12])
    );
    assert_eq!(
        e.ok(&[
            "container",
            "exec",
            "-u",
            "app",
            "web",
            "sh",
            "-c",
            "echo $(id -u):$(id -g)"
        ]),
        "1000:1000\n"
    );
    assert_eq!(
        e.ok(&["container", "exec", "-u", "1000", "web", "id", "-g"]),
        "1000\n"
    );
    let exec = e.run(&["container", "exec", "web", "sh", "-c", "exit 7"]);
    assert_eq!(exec.status.code(), Some(7));
    let pid1 = e.ok(&["container", "exec", "web", "cat", "/proc/1/cmdline"]);
    assert!(
        pid1.starts_with("sh"),
        "the container has its own pid namespace: {pid1:?}"
    );
    // sh as pid 1 ignores SIGTERM: stop must fall back to SIGKILL after the timeout.
    let started = Instant::now();
    e.ok(&["container", "stop", "-t", "1", "web"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["container", "inspect", "web"])).unwrap();
    assert_eq!(inspect[0]["status"], "exited");
    assert_eq!(inspect[0]["exit"]["exit_code"], 137);
    assert!(cgroup_dirs(&id).is_empty(), "the shim removed the cgroup");
    let logs_after = e.ok(&["container", "logs", "web"]);
    assert!(
        logs_after.starts_with("started\ntick 1\n"),
        "logs survive the end"
    );
    e.ok(&["container", "rm", "web"]);
    e.assert_clean(&id);
}

#[test]
fn a_container_keeps_running_and_logging_across_engine_processes() {
    let e = TestEngine::with_image();
    let id = id_of(&e.ok(&[
        "container",
        "run",
        "-d",
        "test",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done",
    ]));
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["container", "inspect", &id])).unwrap();
    let shim_pid = inspect[0]["shim"]["shim_pid"].as_i64().unwrap();
    let ppid = fs::read_to_string(format!("/proc/{shim_pid}/stat")).unwrap();
    let ppid: i64 = ppid
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(
        ppid,
        std::process::id() as i64,
        "the shim is nobody's child but init's"
    );
    let count = |e: &TestEngine| e.ok(&["container", "logs", &id]).lines().count();
    let before = count(&e);
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        count(&e) > before,
        "the shim keeps writing logs with no engine process around"
    );
    // Following the logs sees new lines and ends when the container does.
    let follow = e
        .command(&["container", "logs", "-f", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    e.ok(&["container", "kill", &id]);
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success());
    let followed = stdout_of(&out);
    assert!(followed.lines().count() >= before, "{followed}");
    e.ok(&["container", "rm", &id]);
    e.assert_clean(&id);
}

#[test]
fn limits_are_enforced() {
    let e = TestEngine::with_image();
    // Memory: a process that grows past the limit is OOM-killed, and inspect says so.
    let out = e.run(&[
        "container",
        "run",
        "--name",
        "hog",
        "--memory",
        "24m",
        "test",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr_of(&out));
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["container", "inspect", "hog"])).unwrap();
    assert_eq!(inspect[0]["exit"]["oom_killed"], true);
    // Pids: the 6th process cannot be forked.
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "test",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait",
    ]);
    assert!(
        stderr_of(&out).contains("fork") || stdout_of(&out).contains("fork"),
        "{}",
        stderr_of(&out)
    );
    // CPU: the quota is written into the container's cgroup.
    let id = id_of(&e.ok(&[
        "container",
        "run",
        "-d",
        "--cpus",
        "0.5",
        "test",
        "sleep",
        "30",
    ]));
    let quota = cgroup_dirs(&id)
        .into_iter()
        .map(|d| d.join("cpu.cfs_quota_us"))
        .find(|p| p.exists())
        .map(|p| fs::read_to_string(p).unwrap());
    let max = cgroup_dirs(&id)
        .into_iter()
        .map(|d| d.join("cpu.max"))
        .find(|p| p.exists())
        .map(|p| fs::read_to_string(p).unwrap());
    assert!(
        quota.as_deref().map(str::trim) == Some("50000")
            || max.as_deref().is_some_and(|m| m.starts_with("50000 ")),
        "quota {quota:?} max {max:?}"
    );
    e.ok(&["container", "rm", "-f", &id]);
    e.assert_clean(&id);
}

#[test]
fn volumes_outlive_containers_and_mount_options_hold() {
    let e = TestEngine::with_image();
    e.ok(&[
        "container",
        "run",
        "--rm",
        "-v",
        "store:/store",
        "test",
        "sh",
        "-c",
        "echo kept > /store/f",
    ]);
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "-v",
            "store:/store:ro",
            "test",
            "cat",
            "/store/f"
        ]),
        "kept\n"
    );
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "-v",
        "store:/store:ro",
        "test",
        "touch",
        "/store/g",
    ]);
    assert!(!out.status.success(), "a read-only volume refuses writes");
    // Read-only root with a writable tmpfs.
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "--read-only",
        "test",
        "touch",
        "/x",
    ]);
    assert!(!out.status.success());
    e.ok(&[
        "container",
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "test",
        "sh",
        "-c",
        "echo hi > /scratch/f && cat /scratch/f",
    ]);
    // A bind mount of a host directory.
    let host = e.dir.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("in"), "from host\n").unwrap();
    let bind = format!("{}:/host", host.display());
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "-v",
            &bind,
            "test",
            "cat",
            "/host/in"
        ]),
        "from host\n"
    );
}

#[test]
fn user_workdir_env_and_entrypoint_follow_docker() {
    let e = TestEngine::with_image();
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "--user",
            "app",
            "test",
            "id",
            "-u"
        ]),
        "1000\n"
    );
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "--user",
            "1000:2000",
            "test",
            "id",
            "-g"
        ]),
        "2000\n"
    );
    assert_eq!(
        e.ok(&["container", "run", "--rm", "-w", "/data", "test", "pwd"]),
        "/data\n"
    );
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "-e",
            "GREETING=hi",
            "test",
            "sh",
            "-c",
            "echo $GREETING"
        ]),
        "hi\n"
    );
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "test",
            "a",
            "b"
        ]),
        "a b\n"
    );
    assert_eq!(
        e.ok(&[
            "container",
            "run",
            "--rm",
            "--hostname",
            "box1",
            "test",
            "hostname"
        ]),
        "box1\n"
    );
    // Capabilities: CAP_CHOWN (bit 0) is in Docker's default set; dropped, chown fails.
    let caps = |extra: &[&str]| {
        let mut args = vec!["container", "run", "--rm"];
        args.extend_from_slice(extra);
        args.extend(["test", "sh", "-c", "grep CapEff /proc/self/status"]);
        let out = e.ok(&args);
        u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(caps(&[]) & 1, 1);
    assert_eq!(caps(&["--cap-drop", "CHOWN"]) & 1, 0);
    assert_eq!(caps(&["--cap-add", "NET_ADMIN"]) & (1 << 12), 1 << 12);
    assert_eq!(caps(&["--cap-drop", "ALL"]), 0);
    let err = e.fails(&[
        "container",
        "run",
        "--rm",
        "--cap-add",
        "FLY",
        "test",
        "true",
    ]);
    assert!(err.contains("FLY"), "{err}");
    let err = e.fails(&["container", "run", "--rm", "--user", "bob", "test", "true"]);
    assert!(err.contains("bob"), "{err}");
}

#[test]
fn external_runtime_runc_runs_the_same_bundle() {
    let e = TestEngine::with_image();
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "--runtime",
        "runc",
        "test",
        "sh",
        "-c",
        "echo via runc; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "via runc\n");
    let id = id_of(&e.ok(&[
        "container",
        "run",
        "-d",
        "--runtime",
        "runc",
        "test",
        "sleep",
        "30",
    ]));
    assert_eq!(e.ok(&["container", "exec", &id, "echo", "in"]), "in\n");
    e.ok(&["container", "stop", "-t", "1", &id]);
    e.ok(&["container", "rm", &id]);
    e.assert_clean(&id);
}

#[test]
fn bad_requests_get_clear_errors_and_leave_nothing() {
    let e = TestEngine::with_image();
    let err = e.fails(&["container", "run", "--rm", "nosuchimage", "true"]);
    assert!(err.contains("no image"), "{err}");
    let err = e.fails(&[
        "container",
        "run",
        "--rm",
        "-v",
        "/does/not/exist:/x",
        "test",
        "true",
    ]);
    assert!(err.contains("/does/not/exist"), "{err}");
    let err = e.fails(&["container", "run", "--rm", "test", "/no/such/program"]);
    assert!(err.contains("/no/such/program"), "{err}");
    let err = e.fails(&["container", "create", "--name", "bad/name", "test"]);
    assert!(err.contains("invalid container name"), "{err}");
    e.ok(&["container", "create", "--name", "taken", "test"]);
    let err = e.fails(&["container", "create", "--name", "taken", "test"]);
    assert!(err.contains("already used"), "{err}");
    let err = e.fails(&["container", "exec", "taken", "true"]);
    assert!(err.contains("created"), "{err}");
    e.ok(&["container", "rm", "taken"]);
    assert!(e.container_dirs().is_empty(), "{:?}", e.container_dirs());
    assert!(support::mounts_under(&e.data()).is_empty());
}

#[test]
fn a_config_that_cannot_start_is_refused_at_create_and_leaves_nothing() {
    let e = TestEngine::with_image();
    let table: &[(&[&str], &str)] = &[
        (
            &["--memory", "1"],
            "resources.memory: 1 is below the minimum",
        ),
        (
            &["--cpus", "0.001"],
            "resources.millicpus: 1 is below the minimum",
        ),
        (
            &["-w", "relative"],
            "workdir: \"relative\" must be an absolute path",
        ),
        (
            &["-u", "1:2:3"],
            "expected uid, name, uid:gid or name:group",
        ),
        (&["-u", "99999999999"], "out of range"),
        (
            &["--stop-signal", "NOPE"],
            "stop_signal: \"NOPE\" is not a signal",
        ),
        (&["-v", "/tmp:/proc"], "/proc is inside /proc"),
        (&["--tmpfs", "/proc/sys"], "/proc/sys is inside /proc"),
    ];
    for (flags, want) in table {
        let mut args = vec!["container", "run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["test", "true"]);
        let err = e.fails(&args);
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(e.container_dirs().is_empty(), "{flags:?} left a container");
    }
    assert!(support::mounts_under(&e.data()).is_empty());
}

#[test]
fn a_program_that_cannot_run_exits_127_or_126_as_with_docker() {
    let e = TestEngine::with_image();
    for runtime in ["skiff", "runc"] {
        for (program, code) in [
            ("/no/such/program", 127),
            ("nosuchcmd", 127),
            ("/etc/passwd", 126),
        ] {
            let out = e.run(&[
                "container",
                "run",
                "--rm",
                "--runtime",
                runtime,
                "test",
                program,
            ]);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{runtime} {program}: {}",
                stderr_of(&out)
            );
            assert!(stderr_of(&out).contains(program), "{}", stderr_of(&out));
        }
    }
    assert!(e.container_dirs().is_empty());
}

#[test]
fn pull_run_logs_exec_stop_rm_with_a_real_registry() {
    let e = TestEngine::empty();
    let layout = e.dir.path().join("layout");
    layered_busybox().write_oci_layout(&layout, "v1");
    let registry = Registry::start();
    registry.push_layout(&layout, "v1", "team/app", None);
    let reference = format!("{}/team/app:v1", registry.addr());
    let err = e.fails(&["image", "pull", &reference]);
    assert!(
        err.contains(registry.addr()),
        "plain HTTP only when allowed: {err}"
    );
    e.ok(&[
        "image",
        "pull",
        "--insecure-registry",
        registry.addr(),
        &reference,
    ]);
    let id = id_of(&e.ok(&[
        "container", "run", "-d", "--name", "app", &reference, "sh", "-c",
        "trap 'echo bye; exit 0' TERM; echo hello from the registry; while true; do sleep 0.1; done",
    ]));
    wait_for(|| e.ok(&["container", "logs", "app"]) == "hello from the registry\n");
    assert_eq!(
        e.ok(&["container", "exec", "app", "cat", "/data/old/new.txt"]),
        "fresh\n"
    );
    e.ok(&["container", "stop", "-t", "2", "app"]);
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["container", "inspect", "app"])).unwrap();
    assert_eq!(
        inspect[0]["exit"]["exit_code"], 0,
        "the trap ran on SIGTERM"
    );
    assert!(e.ok(&["container", "logs", "app"]).ends_with("bye\n"));
    e.ok(&["container", "rm", "app"]);
    e.assert_clean(&id);
}

#[test]
fn a_container_whose_shim_was_killed_is_dead_and_rm_cleans_it_up() {
    let e = TestEngine::with_image();
    let id = id_of(&e.ok(&["container", "run", "-d", "test", "sleep", "300"]));
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["container", "inspect", &id])).unwrap();
    let shim = inspect[0]["shim"]["shim_pid"].as_i64().unwrap() as i32;
    let pid = inspect[0]["shim"]["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim), nix::sys::signal::SIGKILL).unwrap();
    wait_for(|| e.ok(&["container", "ls", "-a"]).contains("dead"));
    let err = e.fails(&["container", "start", &id]);
    assert!(err.contains("dead"), "{err}");
    e.ok(&["container", "rm", "-f", &id]);
    wait_for(|| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    });
    e.assert_clean(&id);
}

#[test]
fn a_foreground_run_passes_signals_to_the_container() {
    use std::io::{BufRead, BufReader};
    let e = TestEngine::with_image();
    let mut child = e
        .command(&[
            "container",
            "run",
            "--rm",
            "test",
            "sh",
            "-c",
            "trap 'echo got INT; exit 5' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got INT\n");
    assert_eq!(child.wait().unwrap().code(), Some(5));
    assert!(e.container_dirs().is_empty());
}

#[test]
fn a_foreground_run_streams_output_byte_for_byte_however_much_there_is() {
    let e = TestEngine::with_image();
    // Binary data, exactly.
    let host = e.dir.path().join("blob");
    let blob: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&host, &blob).unwrap();
    let bind = format!("{}:/blob:ro", host.display());
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "-v",
        &bind,
        "test",
        "cat",
        "/blob",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        out.stdout == blob,
        "binary output differs ({} bytes of {})",
        out.stdout.len(),
        blob.len()
    );
    // More than the logs keep (3 files of 10 MiB): the attached stream still has all of it.
    let out = e.run(&[
        "container",
        "run",
        "--rm",
        "test",
        "sh",
        "-c",
        "head -c 40000000 /dev/zero | tr '\\0' a | fold -w 999",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        out.stdout.len(),
        40_000_000 + 40_000_000 / 999,
        "every byte and newline"
    );
}

#[test]
fn a_container_whose_record_was_lost_is_removed_by_its_id() {
    let e = TestEngine::with_image();
    let id = id_of(&e.ok(&["container", "create", "test", "true"]));
    let record = e.data().join("containers").join(&id).join("container.json");
    fs::write(&record, b"").unwrap();
    assert!(
        !e.ok(&["container", "ls", "-a"]).contains(&id[..12]),
        "not listed"
    );
    e.ok(&["container", "rm", &id]);
    e.assert_clean(&id);
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
