//! Real `Server`s on 127.0.0.1 (port 0) in this process, each on its own temporary data
//! directory, driven over HTTP with reqwest.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use skiff_core::{Command, Expect, Object, Response};
use skiff_server::{PodCidr, RaftTuning, Server, ServerConfig, Start, DEFAULT_BODY_LIMIT};
use tempfile::TempDir;

/// How long anything a test waits for may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A compose file with two services and a prod override.
pub const COMPOSE: &str = "\
name: shop
services:
  web:
    image: nginx:1
    deploy:
      replicas: 2
  cache:
    image: redis:7
x-skiff:
  environments:
    prod:
      services:
        web:
          deploy:
            replicas: 5
";

/// Fast Raft timing for tests.
pub fn tuning() -> RaftTuning {
    RaftTuning {
        heartbeat_ms: 50,
        election_timeout_ms: (300, 600),
        snapshot_every: 10_000,
    }
}

/// A server's configuration on `dir`.
pub fn config(id: u64, dir: &Path, start: Start) -> ServerConfig {
    ServerConfig {
        id,
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise: None,
        start,
        raft: tuning(),
        body_limit: DEFAULT_BODY_LIMIT,
        pod_cidr: PodCidr::default(),
        service_cidr: skiff_server::ServiceCidr::default(),
        node_grace_period: skiff_server::DEFAULT_NODE_GRACE_PERIOD,
        controllers: true,
    }
}

/// Starts a server, retrying while its data directory is still locked by a server of the same
/// directory that just shut down (sled's lock is released a moment after Raft stops).
pub async fn start(config: ServerConfig) -> Server {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match Server::start(config.clone()).await {
            Ok(server) => return server,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("server {} not started yet: {e}", config.id);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("server {} does not start: {e}", config.id),
        }
    }
}

/// One or more servers and an HTTP client. Servers are shut down by [`Cluster::shutdown`];
/// if a test panics first, the runtime's end stops them and the temporary directory goes.
pub struct Cluster {
    pub servers: Vec<Server>,
    pub admin: String,
    pub http: reqwest::Client,
    dir: TempDir,
}

impl Cluster {
    /// One bootstrapped server.
    pub async fn one() -> Self {
        Self::with(1, |c| c).await
    }

    /// `n` servers (the first bootstraps, the others join it), each configured by `tweak`.
    pub async fn with(n: u64, tweak: impl Fn(ServerConfig) -> ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let first = start(tweak(config(1, &dir.path().join("s1"), Start::Bootstrap))).await;
        let admin = first.new_admin_token().unwrap().to_owned();
        let addr = first.local_addr().to_string();
        let mut servers = vec![first];
        for id in 2..=n {
            let join = Start::Join {
                addr: addr.clone(),
                token: admin.clone(),
            };
            let path = dir.path().join(format!("s{id}"));
            servers.push(start(tweak(config(id, &path, join))).await);
        }
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let cluster = Self {
            servers,
            admin,
            http,
            dir,
        };
        cluster.wait_ready().await;
        cluster
    }

    /// The data directory of server `id`.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("s{id}"))
    }

    /// Waits until every server knows the leader and has applied what it committed.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        for i in 0..self.servers.len() {
            loop {
                let r = self.http.get(self.url(i, "/readyz")).send().await;
                if r.is_ok_and(|r| r.status() == StatusCode::OK) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "server {i} not ready"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The index of the leader in `servers`.
    pub async fn leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.servers.iter().position(|s| s.control().is_leader()) {
                return i;
            }
            assert!(tokio::time::Instant::now() < deadline, "no leader");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The index of a server that does not lead.
    pub async fn follower(&self) -> usize {
        let leader = self.leader().await;
        (leader + 1) % self.servers.len()
    }

    /// `http://ADDR{path}` on server `i`.
    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.servers[i].local_addr())
    }

    /// A request to server 0 with `token`.
    pub fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.req_to(0, method, path, token)
    }

    /// A request to server `i` with `token`.
    pub fn req_to(&self, i: usize, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(i, path))
            .bearer_auth(token)
    }

    /// Sends and returns the status and the JSON body (`null` when it is not JSON).
    pub async fn send(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends as a well-behaved client does: a 503 (no leader or quorum for now: an election,
    /// a membership change settling, a heartbeat lost under load) is retried after the hint.
    pub async fn send_retrying(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let attempt = request.try_clone().expect("a request with a plain body");
            let (status, body) = self.send(attempt).await;
            if status != StatusCode::SERVICE_UNAVAILABLE || tokio::time::Instant::now() > deadline {
                return (status, body);
            }
            let wait = body["details"]["retry_after_ms"].as_u64().unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(wait.min(200))).await;
        }
    }

    /// GET `path` on server 0 as admin (a 503 is retried: reads are safe to repeat).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send_retrying(self.req(Method::GET, path, &self.admin))
            .await
    }

    /// Creates environment `env` as admin.
    pub async fn create_env(&self, env: &str) {
        let (status, body) = self
            .send_retrying(
                self.req(Method::POST, "/v1/envs", &self.admin)
                    .json(&json!({ "name": env })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// A new token with `role` over `envs` (empty: all), as admin.
    pub async fn token(&self, role: &str, envs: &[&str]) -> String {
        let (status, body) = self
            .send(
                self.req(Method::POST, "/v1/tokens", &self.admin)
                    .json(&json!({ "role": role, "envs": envs })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Applies `yaml` to `env` with `token`.
    pub async fn apply_yaml(&self, env: &str, yaml: &str, token: &str) -> (StatusCode, Value) {
        let path = format!("/v1/envs/{env}/apps");
        self.send(
            self.req(Method::POST, &path, token)
                .header("content-type", "application/yaml")
                .body(yaml.to_owned()),
        )
        .await
    }

    /// Writes `object` straight through Raft on the leader (for objects no endpoint writes:
    /// tasks, nodes).
    pub async fn put(&self, object: Object) -> u64 {
        let leader = self.leader().await;
        let command = Command::put(object, Expect::Any);
        match self.servers[leader]
            .control()
            .propose(command)
            .await
            .unwrap()
        {
            Response::Ok { revision, .. } => revision,
            other => panic!("the write was refused: {other:?}"),
        }
    }

    /// Stops every server.
    pub async fn shutdown(self) {
        self.stop().await;
    }

    /// Stops every server and hands back their data directories (to restart them).
    pub async fn stop(self) -> TempDir {
        for server in self.servers {
            server.shutdown().await.unwrap();
        }
        self.dir
    }
}

/// A task of `env/app/service` on `node`.
pub fn task(id: &str, env: &str, app: &str, service: &str, node: Option<&str>) -> Object {
    serde_json::from_value(json!({"task": {
        "id": id, "env": env, "app": app, "service": service, "slot": {"replica": 1},
        "spec_revision": 1, "desired": "running", "node": node, "observed": "pending",
        "created_at": 0, "updated_at": 0,
    }}))
    .unwrap()
}

/// A ready node.
pub fn node(id: &str) -> Object {
    let resources = json!({"cpus": "4", "memory": 8_589_934_592u64});
    serde_json::from_value(json!({"node": {
        "id": id, "name": id, "address": "10.0.0.1:7946", "capacity": resources,
        "allocatable": resources, "availability": "active", "status": "ready",
    }}))
    .unwrap()
}

/// The normalized spec of [`COMPOSE`] for `env`, as the CLI would send it.
pub fn spec_json(env: &str) -> Value {
    let loader = skiff_manifest::MemoryLoader::new().with("compose.yaml", COMPOSE);
    let mut options = skiff_manifest::Options::new(["compose.yaml"]);
    options.environment = env.to_owned();
    let loaded = skiff_manifest::load(&options, &loader).expect("the test manifest loads");
    serde_json::to_value(loaded.spec).unwrap()
}

/// The `(key, change)` pairs of an apply's diff.
pub fn changes(result: &Value) -> Vec<(String, String)> {
    result["diff"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let key = o["key"].as_str().unwrap().to_owned();
            (key, o["change"].as_str().unwrap().to_owned())
        })
        .collect()
}
