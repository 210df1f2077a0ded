//! Multi-process clusters for the fault tests: real `skiff server` processes on 127.0.0.1,
//! each with its own data directory and port, driven over HTTP ([`api`]) and hurt by signals
//! (SIGKILL, SIGSTOP, SIGCONT) sent to the PIDs the harness started.
//!
//! A [`Cluster`] kills every process it started (after a SIGCONT, so a stopped one dies too)
//! and removes its directories when dropped; when the test is failing it first prints each
//! server's stderr, which it keeps reading all along so the pipe never fills.

#![allow(dead_code)]

pub mod api;
pub mod ops;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::oneshot;

#[allow(unused_imports)]
pub use self::api::{Api, Config, Precondition, Reply};
pub use self::ops::ENV;

/// How long a server may take to start listening (a join includes catching up).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Raft timing and compaction given to every server of a cluster.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `--heartbeat-ms`.
    pub heartbeat_ms: u64,
    /// `--election-timeout-ms` (the shortest; the longest is twice that).
    pub election_timeout_ms: u64,
    /// `--snapshot-every`, when set.
    pub snapshot_every: Option<u64>,
}

impl Default for Timing {
    /// Faster than the defaults (100 ms, 500 ms) yet far above loopback latencies.
    fn default() -> Self {
        Self {
            heartbeat_ms: 50,
            election_timeout_ms: 300,
            snapshot_every: None,
        }
    }
}

impl Timing {
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--heartbeat-ms".to_owned(),
            self.heartbeat_ms.to_string(),
            "--election-timeout-ms".to_owned(),
            self.election_timeout_ms.to_string(),
        ];
        if let Some(n) = self.snapshot_every {
            args.extend(["--snapshot-every".to_owned(), n.to_string()]);
        }
        args
    }
}

/// How a process enters the cluster.
enum Mode {
    Bootstrap,
    Join { port: u16, token: String },
    Resume,
}

/// One server: its identity, port and data directory outlive its processes.
#[derive(Debug)]
pub struct Server {
    /// Its Raft id.
    pub id: u64,
    /// Its port on 127.0.0.1 (the API and Raft).
    pub port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether a process of this server runs (possibly stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn pid(&self) -> Pid {
        let child = self.child.as_ref().expect("the server runs");
        Pid::from_raw(child.id() as i32)
    }
}

/// A cluster of `skiff server` processes and the directories they keep their data in.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    servers: BTreeMap<u64, Server>,
    timing: Timing,
    /// The HTTP client, with the bootstrap admin token.
    pub api: Api,
}

impl Cluster {
    /// Starts server 1 with `--bootstrap`, then servers 2..=n with `--join` (at once), and
    /// waits until the cluster has `n` voters and a leader.
    pub async fn start(n: u64, timing: Timing) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("skiff-cluster-test-")
            .tempdir()
            .expect("a temporary directory");
        let mut cluster = Cluster {
            dir,
            servers: BTreeMap::new(),
            timing,
            api: Api::new(String::new()),
        };
        cluster.spawn(1, 0, Mode::Bootstrap).await;
        let token_file = cluster.servers[&1].data_dir.join("admin.token");
        let token = std::fs::read_to_string(&token_file).expect("the bootstrap wrote its token");
        cluster.api = Api::new(token.trim().to_owned());
        let joins: Vec<u64> = (2..=n).collect();
        cluster.join(&joins).await;
        cluster
    }

    /// Starts new servers with these ids, all at once, joining through server 1, and waits
    /// until each is a voter.
    pub async fn join(&mut self, ids: &[u64]) {
        let port = self.servers[&1].port;
        let token = self.api.token().to_owned();
        let mut waits = Vec::new();
        for &id in ids {
            let mode = Mode::Join {
                port,
                token: token.clone(),
            };
            waits.push((id, self.launch(id, 0, mode)));
        }
        for (id, (server, listening)) in waits {
            self.servers.insert(id, server);
            self.await_listening(id, listening).await;
        }
        let voters = self.servers.len();
        self.eventually(
            "every server is a voter",
            Duration::from_secs(20),
            || async {
                let status = self.api.cluster(&self.addr(1)).await.ok()?;
                let count = status["members"]
                    .as_array()?
                    .iter()
                    .filter(|m| m["voter"] == true)
                    .count();
                (count == voters && !status["leader"].is_null()).then_some(())
            },
        )
        .await;
    }

    /// Starts (or restarts) the process of server `id` on `port` (0: any) and waits until it
    /// listens.
    async fn spawn(&mut self, id: u64, port: u16, mode: Mode) {
        let (server, listening) = self.launch(id, port, mode);
        if let Some(old) = self.servers.insert(id, server) {
            assert!(old.child.is_none(), "server {id} still runs");
        }
        self.await_listening(id, listening).await;
    }

    fn launch(&self, id: u64, port: u16, mode: Mode) -> (Server, oneshot::Receiver<u16>) {
        let data_dir = self.dir.path().join(format!("server-{id}"));
        let log = match self.servers.get(&id) {
            Some(old) => old.log.clone(),
            None => Arc::new(Mutex::new(String::new())),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_skiff"));
        command
            .arg("server")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--id", &id.to_string()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(self.timing.args())
            .env_remove("SKIFF_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match mode {
            Mode::Bootstrap => {
                command.arg("--bootstrap");
            }
            Mode::Join { port, token } => {
                command.args(["--join", &format!("127.0.0.1:{port}"), "--token", &token]);
            }
            Mode::Resume => {}
        }
        let mut child = command.spawn().expect("spawn skiff server");
        log.lock()
            .unwrap()
            .push_str(&format!("--- process {} started\n", child.id()));
        let listening = read_stderr(child.stderr.take().expect("piped"), log.clone());
        let server = Server {
            id,
            port,
            data_dir,
            child: Some(child),
            stopped: false,
            log,
        };
        (server, listening)
    }

    async fn await_listening(&mut self, id: u64, listening: oneshot::Receiver<u16>) {
        let port = match tokio::time::timeout(START_TIMEOUT, listening).await {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => self.fail(&format!("server {id} exited before it listened")),
            Err(_) => self.fail(&format!(
                "server {id} did not listen within {START_TIMEOUT:?}"
            )),
        };
        let server = self.servers.get_mut(&id).expect("launched");
        assert!(
            server.port == 0 || server.port == port,
            "server {id} moved from port {} to {port}",
            server.port
        );
        server.port = port;
    }

    /// The server with this id.
    pub fn server(&self, id: u64) -> &Server {
        &self.servers[&id]
    }

    /// `127.0.0.1:PORT` of server `id`.
    pub fn addr(&self, id: u64) -> String {
        self.servers[&id].addr()
    }

    /// The ids of every server.
    pub fn ids(&self) -> Vec<u64> {
        self.servers.keys().copied().collect()
    }

    /// The ids of servers whose process runs and is not stopped.
    pub fn live(&self) -> Vec<u64> {
        self.servers
            .values()
            .filter(|s| s.child.is_some() && !s.stopped)
            .map(|s| s.id)
            .collect()
    }

    /// The data directory of server `id`.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.servers[&id].data_dir.clone()
    }

    /// SIGKILLs server `id` and reaps it.
    pub fn kill(&mut self, id: u64) {
        let server = self.servers.get_mut(&id).expect("a server");
        let mut child = server.child.take().expect("server runs");
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        kill(pid, Signal::SIGKILL).expect("SIGKILL the server");
        child.wait().expect("reap the server");
        server.stopped = false;
        server
            .log
            .lock()
            .unwrap()
            .push_str(&format!("--- process {pid} killed by the test\n"));
    }

    /// SIGSTOPs server `id`: it keeps its sockets but answers nothing (a partition).
    pub fn stop(&mut self, id: u64) {
        let server = self.servers.get_mut(&id).expect("a server");
        kill(server.pid(), Signal::SIGSTOP).expect("SIGSTOP the server");
        server.stopped = true;
    }

    /// SIGCONTs server `id`.
    pub fn cont(&mut self, id: u64) {
        let server = self.servers.get_mut(&id).expect("a server");
        kill(server.pid(), Signal::SIGCONT).expect("SIGCONT the server");
        server.stopped = false;
    }

    /// Starts server `id` again on its port and data directory (it resumes as the member it
    /// was) and waits until it listens.
    pub async fn restart(&mut self, id: u64) {
        let port = self.servers[&id].port;
        self.spawn(id, port, Mode::Resume).await;
    }

    /// Polls `check` every 50 ms until it gives a value; fails the test (with the servers'
    /// logs) after `within`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, within: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {within:?} waiting until {what}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until one of `among` leads and the others of `among` that answer agree; returns
    /// its id.
    pub async fn leader(&self, among: &[u64]) -> u64 {
        self.eventually("a leader is elected", Duration::from_secs(15), || async {
            let mut claimed = None;
            let mut agree = 0;
            for &id in among {
                let Ok(status) = self.api.cluster(&self.addr(id)).await else {
                    continue;
                };
                let leader = status["leader"].as_u64();
                if leader == Some(id) {
                    claimed = Some(id);
                }
                if leader.is_some_and(|l| among.contains(&l)) {
                    agree += 1;
                }
            }
            claimed.filter(|_| agree == among.len())
        })
        .await
    }

    /// Everything server `id`'s processes wrote to stderr.
    pub fn log(&self, id: u64) -> String {
        self.servers[&id].log.lock().unwrap().clone()
    }

    /// Prints every server's stderr (a failing test's evidence).
    pub fn print_logs(&self) {
        for server in self.servers.values() {
            eprintln!(
                "===== server {} ({}) stderr =====\n{}",
                server.id,
                server.addr(),
                server.log.lock().unwrap()
            );
        }
    }

    /// Fails the test with `message`, after printing the servers' logs.
    pub fn fail(&self, message: &str) -> ! {
        self.print_logs();
        panic!("{message}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for server in self.servers.values_mut() {
            if let Some(mut child) = server.child.take() {
                let pid = Pid::from_raw(child.id() as i32);
                let _ = kill(pid, Signal::SIGCONT);
                let _ = kill(pid, Signal::SIGKILL);
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            self.print_logs();
        }
    }
}

/// Reads `stderr` into `log` on a thread until the process closes it; the receiver gets the
/// port from the `listening on` line (or an error if the process ends first).
fn read_stderr(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<String>>,
) -> oneshot::Receiver<u16> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = listening_port(&line) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(port);
                }
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    rx
}

/// The port of `skiff server N listening on 127.0.0.1:PORT (data in D)`.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split(" listening on 127.0.0.1:").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}
