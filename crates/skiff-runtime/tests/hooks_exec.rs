//! Root tests of hooks, exec into a running container, and the console socket.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use common::*;
use serde_json::json;

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    // Both paths: `run` (no exec fifo) and `create` + `start`.
    for split in [false, true] {
        let rt = Runtime::skiff();
        let id = unique_id("hooks");
        let _guard = rt.guard(&id);
        let mut bundle = Bundle::busybox(&["true"]);
        let log = bundle.path().join("log");
        std::fs::create_dir(&log).unwrap();
        let hook = |name: &str, file: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} $(cat) >> {file}")]}]);
        let host_file = log.join("hooks.log").display().to_string();
        bundle.edit(|c| {
            c["hooks"] = json!({
                "createRuntime": hook("createRuntime", &host_file),
                "createContainer": hook("createContainer", &host_file),
                // Runs inside the container: write through a bind mount of the log directory.
                "startContainer": hook("startContainer", "/log/hooks.log"),
                "poststart": hook("poststart", &host_file),
                "poststop": hook("poststop", &host_file),
            });
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/log", "type": "bind", "source": log, "options": ["rbind", "rw"]
            }));
        });
        if split {
            assert!(rt.create(&bundle, &id).status.success());
            rt.ok(&["start", &id]);
            assert!(wait_until(3000, || rt.state(&id)["status"] == "stopped"));
            rt.ok(&["delete", &id]);
        } else {
            let (code, _, err) = rt.run(&bundle, &id);
            assert_eq!(code, 0, "{err}");
        }
        let text = std::fs::read_to_string(log.join("hooks.log")).unwrap();
        let phases: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            phases,
            [
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop"
            ],
            "split={split}"
        );
        for line in text.lines() {
            let state: serde_json::Value =
                serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
            assert_eq!(state["id"], id.as_str());
            assert_eq!(state["bundle"], bundle.path().to_str().unwrap());
        }
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().unwrap().split_once(' ').unwrap().1).unwrap();
        assert_eq!(first["status"], "creating");
        assert!(first["pid"].as_i64().unwrap() > 0);
    }
}

#[test]
fn a_failing_start_container_hook_fails_run() {
    let rt = Runtime::skiff();
    let id = unique_id("badhook");
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]}));
    let (code, _, err) = rt.run(&bundle, &id);
    assert_ne!(code, 0);
    assert!(
        err.contains("startContainer hook /bin/false failed"),
        "{err}"
    );
    assert!(!rt.root.path().join(&id).exists(), "state left behind");
}

#[test]
fn exec_joins_the_running_container() {
    let rt = Runtime::skiff();
    let id = unique_id("exec");
    let _guard = rt.guard(&id);
    let mut bundle = Bundle::busybox(&["sleep", "30"]);
    bundle.edit(|c| c["hostname"] = json!("exec-box"));
    assert!(rt.create(&bundle, &id).status.success());
    rt.ok(&["start", &id]);
    let out = rt.exec(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$; exit 7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "exec-box");
    assert_eq!(lines[1].trim(), "sleep 30");
    assert_ne!(lines[2], "1", "the exec'd process must not be pid 1");
    let pid: i64 = lines[2].parse().unwrap();
    assert!(
        pid < 100,
        "exec'd process is not in the container's pid namespace: {pid}"
    );

    // --process FILE, with a uid.
    let process = bundle.path().join("process.json");
    std::fs::write(&process, json!({"user": {"uid": 65534, "gid": 65534}, "args": ["id", "-u"], "cwd": "/", "env": ["PATH=/bin"]}).to_string()).unwrap();
    let out = rt.ok(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert_eq!(out.trim(), "65534");

    let missing = rt.exec(&["exec", &id, "no-such-program"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("executable file not found"));
    rt.ok(&["delete", "--force", &id]);
    let stopped = rt.exec(&["exec", &id, "true"]);
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("does not exist"));
}

#[test]
fn terminal_master_is_sent_to_the_console_socket() {
    let rt = Runtime::skiff();
    let id = unique_id("tty");
    let _guard = rt.guard(&id);
    let mut bundle = Bundle::busybox(&["sh", "-c", "tty; echo hello-tty"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let socket = bundle.path().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        receive_fd(&stream)
    });
    let out = rt
        .command()
        .args([
            "create",
            "--bundle",
            bundle.path().to_str().unwrap(),
            "--console-socket",
            socket.to_str().unwrap(),
            &id,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let master = receiver.join().unwrap();
    rt.ok(&["start", &id]);
    let mut file = std::fs::File::from(master);
    let mut text = Vec::new();
    // Reading the master ends with EIO once the container closes the slave.
    let mut buf = [0u8; 256];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("hello-tty"), "{text}");

    let without = Bundle::busybox(&["true"]);
    let mut without = without;
    without.edit(|c| c["process"]["terminal"] = json!(true));
    let out = rt.create(&without, &unique_id("notty"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--console-socket"));
}

fn receive_fd(stream: &std::os::unix::net::UnixStream) -> OwnedFd {
    use std::os::fd::AsRawFd;
    let mut name = [0u8; 128];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for cmsg in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just gave us this descriptor.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received");
}
