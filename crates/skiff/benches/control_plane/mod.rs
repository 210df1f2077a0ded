//! What the control-plane benchmarks share: the clusters under test (three Skiff servers or
//! three etcd members, each member a process of its own on 127.0.0.1), the closed-loop load of
//! small writes both are measured with (the same HTTP/1.1 JSON client code), and the knobs.

// Each benchmark uses part of it.
#![allow(dead_code)]

pub mod etcd;
pub mod load;
pub mod process;
pub mod skiff;

use std::time::{Duration, Instant};

use anyhow::Result;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use self::etcd::EtcdCluster;
use self::skiff::SkiffCluster;

/// The Skiff environment the benchmark's configs are written in.
pub const SKIFF_ENV: &str = "bench";

/// A system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    /// Three `skiff server` processes (Raft through openraft).
    Skiff,
    /// Three etcd members.
    Etcd,
}

impl System {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            System::Skiff => "skiff",
            System::Etcd => "etcd",
        }
    }
}

/// The knobs both benchmarks have (`--name value` after `--`, or the environment variable).
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Distinct keys each client writes, round-robin.
    #[arg(long, env = "KEYS_PER_CLIENT", default_value_t = 100)]
    pub keys_per_client: usize,
    /// Bytes of each written value.
    #[arg(long, env = "VALUE_BYTES", default_value_t = 100)]
    pub value_bytes: usize,
    /// The systems to measure, in this order.
    #[arg(
        long,
        env = "SYSTEMS",
        value_delimiter = ',',
        default_value = "skiff,etcd"
    )]
    pub systems: Vec<System>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Common {
    /// The requested systems that can run here; says why for each that cannot.
    pub fn runnable_systems(&self) -> Vec<System> {
        let mut systems = Vec::new();
        for &system in &self.systems {
            match system {
                System::Skiff if !SkiffCluster::has_server() => println!(
                    "skipping skiff: {} has no `server` subcommand yet",
                    skiff::bin()
                ),
                System::Etcd if !EtcdCluster::installed() => println!(
                    "skipping etcd: no etcd on the PATH (apt-get install etcd-server, or \
                     deploy/install-deps.sh)"
                ),
                _ => systems.push(system),
            }
        }
        systems
    }
}

/// A running three-member cluster of either system.
#[derive(Debug)]
pub enum Cluster {
    /// Three `skiff server` processes.
    Skiff(SkiffCluster),
    /// Three etcd members.
    Etcd(EtcdCluster),
}

impl Cluster {
    /// Starts a fresh cluster of `system` and waits until it takes writes.
    pub async fn start(system: System, http: &reqwest::Client) -> Result<Cluster> {
        Ok(match system {
            System::Skiff => Cluster::Skiff(SkiffCluster::start(http).await?),
            System::Etcd => Cluster::Etcd(EtcdCluster::start(http).await?),
        })
    }

    /// How clients write to it.
    pub fn api(&self) -> Api {
        match self {
            Cluster::Skiff(c) => c.api(),
            Cluster::Etcd(c) => c.api(),
        }
    }

    /// The index (0, 1 or 2) of the member that leads now.
    pub async fn leader(&self, http: &reqwest::Client) -> Result<usize> {
        match self {
            Cluster::Skiff(c) => c.leader(http).await,
            Cluster::Etcd(c) => c.leader(http).await,
        }
    }

    /// Kills member `i` with SIGKILL; returns its pid and the instant the signal was sent.
    pub fn kill(&mut self, i: usize) -> Option<(u32, Instant)> {
        let member = match self {
            Cluster::Skiff(c) => &mut c.members()[i],
            Cluster::Etcd(c) => &mut c.members()[i],
        };
        let pid = member.pid()?;
        Some((pid, member.kill()?))
    }
}

/// How clients write one small object: the members' base URLs and the system's request shape.
#[derive(Debug, Clone)]
pub struct Api {
    /// `http://127.0.0.1:PORT` of each member's client API.
    pub urls: Vec<String>,
    /// Which system's request.
    pub kind: ApiKind,
}

/// The request shape of a system.
#[derive(Debug, Clone)]
pub enum ApiKind {
    /// `POST /v3/kv/put` `{"key": base64, "value": base64}` (etcd's JSON gateway).
    Etcd,
    /// `PUT /v1/envs/bench/configs/{name}` `{"data": base64}` with the admin token.
    Skiff {
        /// The admin token, sent as a bearer token.
        token: String,
    },
}

impl Api {
    /// The key of client `client`'s `slot`-th object, as its write request carries it.
    pub fn key(&self, client: usize, slot: usize) -> String {
        match self.kind {
            ApiKind::Etcd => BASE64.encode(format!("/bench/c{client}-k{slot}")),
            ApiKind::Skiff { .. } => format!("c{client}-k{slot}"),
        }
    }

    /// The write of `value` (base64) at `key` (from [`Api::key`]) to member `member`.
    pub fn write(
        &self,
        http: &reqwest::Client,
        member: usize,
        key: &str,
        value: &str,
    ) -> reqwest::RequestBuilder {
        let url = &self.urls[member];
        // Keys and values are base64 or DNS labels: nothing in them needs JSON escaping.
        let request = match &self.kind {
            ApiKind::Etcd => http
                .post(format!("{url}/v3/kv/put"))
                .body(format!(r#"{{"key":"{key}","value":"{value}"}}"#)),
            ApiKind::Skiff { token } => http
                .put(format!("{url}/v1/envs/{SKIFF_ENV}/configs/{key}"))
                .bearer_auth(token)
                .body(format!(r#"{{"data":"{value}"}}"#)),
        };
        request.header(CONTENT_TYPE, "application/json")
    }
}

/// An HTTP client for the harness's own calls (health, leader, set-up), not the load.
pub fn admin_http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("build an HTTP client")
}

/// The JSON answer to `req`, or `None` on any failure (not answering yet, not 2xx, not JSON).
pub async fn get_json(req: reqwest::RequestBuilder) -> Option<Value> {
    let resp = req.send().await.ok()?.error_for_status().ok()?;
    resp.json().await.ok()
}

/// `d` in milliseconds, for the tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}
