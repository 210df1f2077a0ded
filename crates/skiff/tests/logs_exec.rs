//! `skiff logs` and `skiff exec` end to end (root): `skiff dev` (a control plane and an agent
//! with the real engine) runs in a network namespace this test makes, with a one-service app;
//! the CLI, in the same namespace, finds it through SKIFF_DEV_DIR and reads the tasks' logs
//! and runs commands in their containers, through the server to the agent's Node service.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::dev::{text, DevCluster};

const APP: &str = "name: shop
services:
  web:
    image: test:latest
    command: [\"sh\", \"-c\", \"echo out of $(hostname); echo err of $(hostname) >&2; exec sleep 1000\"]
    deploy:
      replicas: 2
";

#[test]
fn logs_and_exec_reach_the_tasks_containers() {
    let dev = DevCluster::start("sktlogs", Some(APP));
    // Both tasks' output, each line after its task, stdout and stderr apart.
    let all = dev.eventually(&["logs", "web"], |out| {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        stdout.contains("web.1 | out of")
            && stdout.contains("web.2 | out of")
            && stderr.contains("web.1 | err of")
            && stderr.contains("web.2 | err of")
    });
    assert!(!text(&all.stdout).contains("err of"), "{all:?}");

    // One slot: no prefix; --tail keeps the last lines.
    let one = dev.skiff(&["logs", "shop/web.2", "--tail", "1"]);
    assert!(one.status.success(), "{one:?}");
    let lines = format!("{}{}", text(&one.stdout), text(&one.stderr));
    assert_eq!(lines.lines().count(), 1, "{one:?}");

    // exec: the container's host name is the one its log names.
    let host = dev.skiff(&["exec", "web.1", "--", "hostname"]);
    assert!(host.status.success(), "{host:?}");
    let name = text(&host.stdout).trim().to_owned();
    assert!(!name.is_empty(), "{host:?}");
    let web1 = dev.skiff(&["logs", "web.1"]);
    assert!(
        text(&web1.stdout).contains(&format!("out of {name}")),
        "{web1:?} vs {name}"
    );

    // Exit codes, stderr and stdin come through.
    let code = dev.skiff(&["exec", "web", "--", "sh", "-c", "echo bad >&2; exit 7"]);
    assert_eq!(code.status.code(), Some(7), "{code:?}");
    assert_eq!(text(&code.stderr), "bad\n");
    let mut cat = dev
        .command(&["exec", "-i", "web.2", "--", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    cat.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let cat = cat.wait_with_output().unwrap();
    assert_eq!(text(&cat.stdout), "SHOUT\n", "{cat:?}");

    // -f: what the container writes later arrives on the open stream.
    let mut follow = dev
        .command(&["logs", "-f", "web.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line == "later" {
                let _ = seen_tx.send(());
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let write = dev.skiff(&[
        "exec",
        "web.1",
        "--",
        "sh",
        "-c",
        "echo later > /proc/1/fd/1",
    ]);
    assert!(write.status.success(), "{write:?}");
    let seen = seen_rx.recv_timeout(Duration::from_secs(20));
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen.is_ok(), "the followed log never showed the later line");

    // What cannot be: a slot that does not exist, a program that does not.
    let none = dev.skiff(&["exec", "web.9", "--", "true"]);
    assert!(!none.status.success());
    assert!(text(&none.stderr).contains("no task 9"), "{none:?}");
    let missing = dev.skiff(&["exec", "web", "--", "/no/such/program"]);
    assert!(!missing.status.success(), "{missing:?}");
    assert!(
        text(&missing.stderr).contains("no such file"),
        "{missing:?}"
    );
}
