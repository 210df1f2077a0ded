//! `skiff logs` and `skiff exec` end to end (root): `skiff dev` (a control plane and an agent
//! with the real engine) runs in a network namespace this test makes, with a one-service app;
//! the CLI, in the same namespace, finds it through SKIFF_DEV_DIR and reads the tasks' logs
//! and runs commands in their containers, through the server to the agent's Node service.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use skiff_testkit::image::layered_busybox;
use support::{mounts_under, skiff_bin};

const APP: &str = "name: shop
services:
  web:
    image: test:latest
    command: [\"sh\", \"-c\", \"echo out of $(hostname); echo err of $(hostname) >&2; exec sleep 1000\"]
    deploy:
      replicas: 2
";

/// `skiff dev` in a namespace of its own; dropping it stops the process (by its pid), removes
/// the containers it left, then the namespace.
struct Dev {
    dir: tempfile::TempDir,
    netns: String,
    child: Option<Child>,
}

impl Dev {
    fn start() -> Dev {
        let netns = format!("sktlogs{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        ip(&["netns", "add", &netns]);
        let mut dev = Dev {
            dir: tempfile::Builder::new()
                .prefix("skiff-logs-")
                .tempdir()
                .unwrap(),
            netns,
            child: None,
        };
        ip(&["-n", &dev.netns, "link", "set", "lo", "up"]);
        let layout = dev.dir.path().join("layout");
        layered_busybox().write_oci_layout(&layout, "test:latest");
        let engine = dev.engine_dir();
        let load = dev.skiff(&[
            "image",
            "--data-dir",
            engine.to_str().unwrap(),
            "load",
            "-i",
            layout.to_str().unwrap(),
        ]);
        assert!(load.status.success(), "{load:?}");
        std::fs::write(dev.dir.path().join("compose.yaml"), APP).unwrap();
        let log = std::fs::File::create(dev.dir.path().join("dev.log")).unwrap();
        let child = dev
            .command(&["dev", "-f"])
            .arg(dev.dir.path().join("compose.yaml"))
            .arg("--data-dir")
            .arg(dev.dir.path().join("dev"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        dev.child = Some(child);
        dev
    }

    fn engine_dir(&self) -> PathBuf {
        self.dir.path().join("dev").join("agent").join("engine")
    }

    /// `skiff ARGS…` in the namespace, pointed at this dev cluster.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(skiff_bin())
            .args(args)
            .env("SKIFF_DEV_DIR", self.dir.path().join("dev"))
            .env_remove("SKIFF_SERVER")
            .env_remove("SKIFF_TOKEN")
            .env_remove("SKIFF_ENV");
        c
    }

    fn skiff(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dev.log")).unwrap_or_default()
    }

    /// Waits until `skiff ARGS…` succeeds with `check` true of its output.
    fn eventually(&self, args: &[&str], check: impl Fn(&Output) -> bool) -> Output {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.skiff(args);
            if out.status.success() && check(&out) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "skiff {args:?}: {out:?}\n--- skiff dev:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let engine = self.engine_dir();
        let ids: Vec<String> = std::fs::read_dir(engine.join("containers"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            let data = engine.to_str().unwrap();
            let _ = self.skiff(&["container", "--data-dir", data, "rm", "-f", &id]);
        }
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn logs_and_exec_reach_the_tasks_containers() {
    let dev = Dev::start();
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
