//! A shim SIGKILLed at any point of starting a container (its process may then be left
//! before its exec, holding the report pipe and the container's lock), and `wait` on a
//! detached `--rm` container. Nothing hangs, a later start and `rm -f` work, nothing is left.

mod support;

use std::fs;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{id_of, TestEngine};

/// The forked shim of container `id` (not the first process, which `start` reaps).
fn find_shim(engine: &TestEngine, id: &str, starter: u32) -> Option<i32> {
    let needle = format!("shim\0--data-dir\0{}\0--id\0{id}", engine.data().display());
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !cmdline
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            continue;
        }
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid.is_some_and(|p| p != starter) {
            return Some(pid);
        }
    }
    None
}

fn wait_bounded(child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn shim_killed_while_starting() {
    let engine = TestEngine::with_image();
    // The kill lands at different points of the start: before the runtime's create, in it
    // (state without state.json), after it (a process waiting for `start`, holding the
    // lock), or after `started`. Whatever the point, the same must hold.
    for delay_us in [0, 1000, 2000, 3000, 4000, 5000, 7000] {
        let id = id_of(&engine.ok(&["container", "create", "test", "sleep", "100"]));
        let mut start = engine
            .command(&["container", "start", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let shim = loop {
            if let Some(pid) = find_shim(&engine, &id, start.id()) {
                break Some(pid);
            }
            if start.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break None;
            }
        };
        std::thread::sleep(Duration::from_micros(delay_us));
        if let Some(pid) = shim {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        wait_bounded(&mut start, "start with its shim killed");
        engine.ok(&["container", "ls", "-a"]);
        let info: serde_json::Value =
            serde_json::from_str(&engine.ok(&["container", "inspect", &id])).unwrap();
        let status = info[0]["status"].as_str().unwrap().to_string();
        if status == "created" {
            // A fresh shim takes over what the killed one left.
            engine.ok(&["container", "start", &id]);
        }
        let mut rm = engine
            .command(&["container", "rm", "-f", &id])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_bounded(&mut rm, "rm -f");
        assert!(rm.wait().unwrap().success(), "rm -f {id} (was {status})");
        engine.assert_clean(&id);
    }
    assert_eq!(
        engine.ok(&["container", "run", "--rm", "test", "echo", "fresh"]),
        "fresh\n"
    );
}

#[test]
fn wait_gets_the_exit_code_of_a_detached_rm_container() {
    let engine = TestEngine::with_image();
    let id = id_of(&engine.ok(&[
        "container",
        "run",
        "-d",
        "--rm",
        "test",
        "sh",
        "-c",
        "sleep 0.5; exit 3",
    ]));
    assert_eq!(engine.ok(&["container", "wait", &id]), "3\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while engine.data().join("containers").join(&id).exists() {
        assert!(Instant::now() < deadline, "the --rm container stays");
        std::thread::sleep(Duration::from_millis(20));
    }
    engine.assert_clean(&id);
}
