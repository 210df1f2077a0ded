//! `skiff server` as a child process for end-to-end tests of the control plane: started on a
//! free port of 127.0.0.1 in its own temporary data directory, killed (by its PID) and cleaned
//! up when the guard drops, even when the test fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `skiff server`.
pub struct ServerProcess {
    child: Child,
    /// `127.0.0.1:PORT`: its API and Raft address.
    pub addr: String,
    /// The bootstrap admin token (empty for a server that did not bootstrap).
    pub admin_token: String,
    dir: tempfile::TempDir,
}

impl ServerProcess {
    /// A new one-server cluster (`--bootstrap`).
    pub fn bootstrap() -> ServerProcess {
        Self::start(1, true)
    }

    /// A server `id` that waits to be added with `skiff cluster join`.
    pub fn waiting(id: u64) -> ServerProcess {
        Self::start(id, false)
    }

    fn start(id: u64, bootstrap: bool) -> ServerProcess {
        let dir = tempfile::Builder::new()
            .prefix("skiff-cli-test-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let mut command = Command::new(env!("CARGO_BIN_EXE_skiff"));
        command
            .arg("server")
            .arg("--data-dir")
            .arg(&data)
            .args(["--id", &id.to_string(), "--listen", "127.0.0.1:0"])
            .args(["--heartbeat-ms", "50", "--election-timeout-ms", "300"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if bootstrap {
            command.arg("--bootstrap");
        }
        let mut child = command.spawn().expect("start skiff server");
        let stderr = child.stderr.take().unwrap();
        // From here on the guard owns the child: a failure below still kills it.
        let mut server = ServerProcess {
            child,
            addr: String::new(),
            admin_token: String::new(),
            dir,
        };
        server.addr = wait_for_address(stderr);
        if bootstrap {
            let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
            server.admin_token = token.trim().to_owned();
        }
        server
    }

    /// The data directory's parent, for scratch files of the test.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// `skiff ARGS` against this server with the admin token.
    pub fn skiff(&self, args: &[&str]) -> Output {
        skiff(args, &self.addr, Some(&self.admin_token))
    }

    /// `skiff ARGS` against this server with `token`.
    pub fn skiff_as(&self, token: &str, args: &[&str]) -> Output {
        skiff(args, &self.addr, Some(token))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Child::kill signals this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's stderr until `listening on ADDR`, and keeps draining it afterwards so
/// that the server never blocks on a full pipe.
fn wait_for_address(stderr: std::process::ChildStderr) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Ok(addr));
                }
            } else if let Some(tx) = &tx {
                let _ = tx.send(Err(line));
            }
        }
    });
    let mut before = Vec::new();
    loop {
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(addr)) => return addr,
            Ok(Err(line)) => before.push(line),
            Err(_) => panic!(
                "skiff server did not say where it listens; its stderr:\n{}",
                before.join("\n")
            ),
        }
    }
}

/// `skiff ARGS` with `SKIFF_SERVER=servers` and `SKIFF_TOKEN=token`, and nothing else of the
/// test's environment (no stray SKIFF_ENV).
pub fn skiff(args: &[&str], servers: &str, token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_skiff"));
    command
        .args(args)
        .env_clear()
        .env("SKIFF_SERVER", servers)
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.env("SKIFF_TOKEN", token);
    }
    command.output().expect("run skiff")
}

/// stdout of a run that must have succeeded.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "skiff failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of a run that must have failed with exit code 1.
pub fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "skiff should have failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An address nothing listens on.
pub fn refused() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}
