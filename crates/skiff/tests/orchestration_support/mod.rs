//! A whole cluster for the orchestration tests: three hosts (network namespaces this harness
//! makes, on a test switch, see `support/netns.rs`), each running a `skiff server` (host 1
//! bootstraps, hosts 2 and 3 join) and a `skiff agent` (node `nodeN`, its engine with the test
//! image loaded before it starts). The test talks to the servers with the `skiff` CLI run in
//! host 1's namespace.
//!
//! Every process is started and stopped by its PID. Dropping the [`TestCluster`] kills the agents,
//! then the servers, then (through `TestNet`) removes every container of each agent's engine and
//! the namespaces with their bridges and overlays. When the test is failing it first prints
//! `skiff ps -a`, the nodes and every process's stderr.

#![allow(dead_code)]

pub mod client;
pub mod objects;
pub mod procs;
pub mod shop;

use std::process::Output;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use self::objects::object_of;
#[allow(unused_imports)] // each test binary uses some
pub use self::objects::{http_get, running, Container, Task};
use self::procs::Proc;
use crate::support::netns::{TestHost, TestNet};
use crate::support::skiff_bin;

/// The servers' grace period before a silent node is marked down.
pub const GRACE: Duration = Duration::from_secs(2);

/// The port servers listen on, on their host's switch address.
const SERVER_PORT: u16 = 7400;

/// One cluster at a time: each runs six processes and up to a dozen containers on a small
/// machine, and timing assertions need it not to starve.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Three hosts, each with a server and an agent.
pub struct TestCluster {
    agents: Vec<Proc>,
    servers: Vec<Proc>,
    token: String,
    dir: tempfile::TempDir,
    /// The hosts: host i runs server i+1 and node `node{i+1}`.
    pub net: TestNet,
    /// When this test's turn came (for the time it took, printed at the end).
    began: Instant,
    _turn: MutexGuard<'static, ()>,
}

impl TestCluster {
    /// Starts the servers, waits for three voters and a leader, then starts the agents and
    /// waits until the three nodes are ready.
    pub fn start() -> TestCluster {
        Self::start_with_agents(3)
    }

    /// Like [`TestCluster::start`], with agents on the first `agents` hosts only (the others
    /// join with [`TestCluster::start_agent`]).
    pub fn start_with_agents(agents: usize) -> TestCluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let began = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("skiff-orch-test-")
            .tempdir()
            .unwrap();
        let mut cluster = TestCluster {
            agents: Vec::new(),
            servers: Vec::new(),
            token: String::new(),
            dir,
            net: TestNet::with_engines_at(3, "engine"),
            began,
            _turn: turn,
        };
        cluster.start_servers();
        cluster.skiff_ok(&["env", "create", "dev"]);
        for n in 1..=agents {
            cluster.start_agent(n);
        }
        cluster.wait_for("the nodes ready", Duration::from_secs(30), |c| {
            let ready = c.ready_nodes();
            (ready.len() == agents)
                .then_some(())
                .ok_or(format!("ready: {ready:?}"))
        });
        eprintln!("cluster up in {:?}", cluster.began.elapsed());
        cluster
    }

    fn start_servers(&mut self) {
        for i in 0..3 {
            let data = self.dir.path().join(format!("server-{}", i + 1));
            let host = &self.net.hosts[i];
            let mut args: Vec<String> = vec![
                "server".into(),
                "--data-dir".into(),
                data.display().to_string(),
                "--id".into(),
                (i + 1).to_string(),
                "--listen".into(),
                format!("{}:{SERVER_PORT}", host.addr),
                "--heartbeat-ms".into(),
                "50".into(),
                "--election-timeout-ms".into(),
                "300".into(),
                "--node-grace-period".into(),
                format!("{}ms", GRACE.as_millis()),
            ];
            if i == 0 {
                args.push("--bootstrap".into());
            } else {
                args.extend([
                    "--join".into(),
                    self.server_addr(0),
                    "--token".into(),
                    self.token.clone(),
                ]);
            }
            let server = Proc::spawn(&format!("server {}", i + 1), &host.netns, &args, &[]);
            self.servers.push(server);
            let listening = self.servers[i].wait_for_line("listening on", Duration::from_secs(30));
            if let Err(e) = listening {
                self.fail(&e);
            }
            if i == 0 {
                let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
                self.token = token.trim().to_owned();
            }
        }
        self.wait_for("three voters and a leader", Duration::from_secs(30), |c| {
            let status = c.json(&["cluster", "status", "-o", "json"])?;
            let voters = status["members"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["voter"] == true).count());
            (voters == 3 && !status["leader"].is_null())
                .then_some(())
                .ok_or(format!("status: {status}"))
        });
    }

    fn spawn_agent(&self, i: usize) -> Proc {
        let host = &self.net.hosts[i];
        let node = format!("node{}", i + 1);
        let args: Vec<String> = vec![
            "agent".into(),
            "--server".into(),
            self.servers_list(),
            "--data-dir".into(),
            host.engine.dir.path().display().to_string(),
            "--node-id".into(),
            node.clone(),
            "--name".into(),
            node.clone(),
            "--address".into(),
            format!("{}:7410", host.addr),
            "--heartbeat".into(),
            "250ms".into(),
        ];
        let env = [("SKIFF_TOKEN", self.token.as_str())];
        Proc::spawn(&format!("agent {node}"), &host.netns, &args, &env)
    }

    /// `HOST:PORT` of server `i` (0-based).
    pub fn server_addr(&self, i: usize) -> String {
        format!("{}:{SERVER_PORT}", self.net.hosts[i].addr)
    }

    fn servers_list(&self) -> String {
        (0..3)
            .map(|i| self.server_addr(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The host of node `nodeN`.
    pub fn host_of(&self, node: &str) -> &TestHost {
        let n: usize = node
            .strip_prefix("node")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no host for node {node:?}"));
        &self.net.hosts[n - 1]
    }

    /// Starts node `n`'s agent for the first time (agents start in host order).
    pub fn start_agent(&mut self, n: usize) {
        assert_eq!(n, self.agents.len() + 1, "agents start in host order");
        let agent = self.spawn_agent(n - 1);
        self.agents.push(agent);
    }

    /// Cuts host `n` (1-based) off the switch (`on`: false) or plugs it back.
    pub fn plug(&self, n: usize, on: bool) {
        let state = if on { "up" } else { "down" };
        self.net.hosts[n - 1].sh_ok(&format!("ip link set eth0 {state}"));
    }

    /// SIGKILLs node `n`'s agent (1-based).
    pub fn kill_agent(&mut self, n: usize) {
        self.agents[n - 1].kill();
    }

    /// SIGTERMs node `n`'s agent and waits for it to exit.
    pub fn stop_agent(&mut self, n: usize) {
        self.agents[n - 1].terminate(Duration::from_secs(20));
    }

    /// Starts node `n`'s agent again (its data directory kept).
    pub fn restart_agent(&mut self, n: usize) {
        self.agents[n - 1].respawn();
    }

    /// SIGSTOPs server `id`: its sockets still accept connections, it answers nothing.
    pub fn freeze_server(&self, id: usize) {
        self.servers[id - 1].signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// The servers' addresses with server `id`'s first: where the CLI sends its first attempt.
    pub fn servers_from(&self, id: usize) -> String {
        let mut list = vec![self.server_addr(id - 1)];
        list.extend((0..3).filter(|&i| i != id - 1).map(|i| self.server_addr(i)));
        list.join(",")
    }

    /// SIGKILLs server `id`.
    pub fn kill_server(&mut self, id: usize) {
        self.servers[id - 1].kill();
    }

    /// The command `skiff ARGS` run in host 1's namespace against every server.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.net.hosts[0].netns))
            .arg(skiff_bin())
            .args(args)
            .env_clear()
            .env("SKIFF_SERVER", self.servers_list())
            .env("SKIFF_TOKEN", &self.token)
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `skiff ARGS` (see [`TestCluster::command`]).
    pub fn skiff(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run skiff")
    }

    /// Runs `skiff ARGS`, insisting on success; returns stdout.
    pub fn skiff_ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        if !out.status.success() {
            self.fail(&format!(
                "skiff {args:?} failed ({}):\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `skiff ARGS` and parses its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Result<Value, String> {
        let out = self.skiff(args);
        if !out.status.success() {
            return Err(format!(
                "skiff {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("skiff {args:?}: {e}"))
    }

    /// Writes `yaml` as the compose file of app `app` and applies it.
    pub fn apply(&self, app: &str, yaml: &str) -> String {
        let file = self.compose_file(app, yaml);
        self.skiff_ok(&["apply", "-f", file.to_str().unwrap(), "-p", app])
    }

    /// Writes `yaml` to a compose file of app `app`; returns its path.
    pub fn compose_file(&self, app: &str, yaml: &str) -> std::path::PathBuf {
        let file = self.dir.path().join(format!("{app}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        file
    }

    /// The virtual IP of service `service` (waits until the orchestrator has given it one).
    pub fn service_vip(&self, service: &str) -> String {
        self.wait_for(
            &format!("{service}'s virtual IP"),
            Duration::from_secs(30),
            |c| {
                let services = c.json(&["get", "services", "-o", "json"])?;
                services
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| &s["object"]["service"])
                    .find(|s| s["name"] == service)
                    .and_then(|s| s["vip"].as_str().map(str::to_owned))
                    .ok_or(format!("no vip yet: {services}"))
            },
        )
    }

    /// Gives host 1 a default route, so that its own connections reach virtual IPs (the
    /// output hook rewrites their destination only once a route towards it exists); it points
    /// at the test switch, the test's own namespace.
    pub fn route_host1_to_services(&self) {
        self.net.hosts[0].sh_ok("ip route replace default via 10.0.0.254 dev eth0");
    }

    /// SIGKILLs the running container of task `task` on `node`.
    pub fn kill_task_container(&self, node: &str, task: &str) {
        let container = Self::containers(self.host_of(node))
            .into_iter()
            .find(|c| c.task.as_deref() == Some(task) && c.status == "running")
            .unwrap_or_else(|| panic!("no running container of task {task} on {node}"));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(container.pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("SIGKILL the container's process");
    }

    /// Every task `skiff ps -a -o json` lists.
    pub fn tasks(&self) -> Result<Vec<Task>, String> {
        let list = self.json(&["ps", "-a", "-o", "json"])?;
        let items = list.as_array().ok_or(format!("not a list: {list}"))?;
        Ok(items.iter().map(Task::from_record).collect())
    }

    /// The ids of the nodes `skiff node ls` says are ready.
    pub fn ready_nodes(&self) -> Vec<String> {
        let Ok(list) = self.json(&["node", "ls", "-o", "json"]) else {
            return Vec::new();
        };
        list.as_array()
            .into_iter()
            .flatten()
            .map(object_of)
            .filter(|n| n["status"] == "ready")
            .filter_map(|n| n["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Retries `f` every 200 ms until it answers, for up to `timeout`; fails the test (with
    /// the cluster's state and logs) with its last error.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&TestCluster) -> Result<T, String>,
    ) -> T {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            match f(self) {
                Ok(v) => {
                    eprintln!("{what}: after {:?}", start.elapsed());
                    return v;
                }
                Err(e) if Instant::now() > deadline => {
                    self.fail(&format!("waited {timeout:?} for {what}; last: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Fails the test with `message` (the drop then prints the state and logs).
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}")
    }

    /// Every container of `host`'s engine, as `skiff container inspect` shows it.
    pub fn containers(host: &TestHost) -> Vec<Container> {
        host.engine
            .container_dirs()
            .into_iter()
            .filter_map(|id| {
                let out = host.engine.run(&["container", "inspect", &id]);
                let v: Value = serde_json::from_slice(&out.stdout).ok()?;
                let v = if v.is_array() { v[0].clone() } else { v };
                Some(Container {
                    id,
                    task: v["config"]["labels"]["skiff.task"]
                        .as_str()
                        .map(str::to_owned),
                    status: v["status"].as_str().unwrap_or_default().to_owned(),
                    pid: v["shim"]["pid"].as_i64().unwrap_or(0) as i32,
                    pid_start: v["shim"]["pid_start"].as_u64().unwrap_or(0),
                })
            })
            .collect()
    }

    fn dump(&self) {
        eprintln!("===== the cluster as the test failed =====");
        for args in [
            &["ps", "-a"][..],
            &["node", "ls"][..],
            &["cluster", "status"][..],
        ] {
            let out = self.skiff(args);
            eprintln!(
                "--- skiff {}:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for p in self.servers.iter().chain(&self.agents) {
            p.print_log();
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump();
        } else {
            eprintln!("test done in {:?} with its cluster", self.began.elapsed());
        }
        // Agents first, so that nothing restarts containers while the engines remove them.
        for p in self.agents.iter_mut().chain(self.servers.iter_mut()) {
            p.kill();
        }
    }
}
