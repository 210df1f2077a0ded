//! Three `skiff server` processes on 127.0.0.1: the first bootstraps a one-member cluster, the
//! other two join it with its admin token, and the benchmark writes through the HTTP API.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::process::{free_ports, temp_dir, wait_until, Proc};
use super::{get_json, Api, ApiKind, SKIFF_ENV};

/// The `skiff` binary: the one cargo built for this benchmark, or `SKIFF_BIN` (another build,
/// say a branch's, compared on the same machine).
pub fn bin() -> String {
    std::env::var("SKIFF_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_skiff").to_string())
}

/// A running three-member Skiff cluster; its servers are killed and its data removed on drop.
#[derive(Debug)]
pub struct SkiffCluster {
    // Before `_dir`: fields drop in order, so the servers are gone before their data is.
    members: Vec<Proc>,
    urls: Vec<String>,
    token: String,
    _dir: tempfile::TempDir,
}

impl SkiffCluster {
    /// Whether this `skiff` has the `server` subcommand yet.
    pub fn has_server() -> bool {
        Command::new(bin())
            .args(["server", "--help"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Bootstraps member 1, joins members 2 and 3 to it, waits until all three are voters and
    /// ready, and creates the environment the writes go to.
    pub async fn start(http: &reqwest::Client) -> Result<SkiffCluster> {
        let dir = temp_dir("skiff-bench-skiff-")?;
        let ports = free_ports(3)?;
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let limit = Duration::from_secs(30);
        let first = format!("127.0.0.1:{}", ports[0]);
        let mut members = vec![spawn(dir.path(), 1, ports[0], &["--bootstrap"])?];
        wait_until("skiff-1 ready", &mut members, limit, || {
            is_ready(http, &urls[0])
        })
        .await?;
        let token_file = dir.path().join("skiff-1/admin.token");
        let token = fs::read_to_string(&token_file)
            .with_context(|| format!("read {}", token_file.display()))?
            .trim()
            .to_string();
        for id in 2..=3 {
            let join = ["--join", &first, "--token", &token];
            members.push(spawn(dir.path(), id, ports[id as usize - 1], &join)?);
        }
        wait_until("3 voters with a leader", &mut members, limit, || async {
            let cluster = get_json(cluster_request(http, &urls[0], &token)).await;
            cluster.is_some_and(|c| voters(&c) == 3 && c["leader"].is_u64())
        })
        .await?;
        wait_until("3 ready members", &mut members, limit, || async {
            for url in &urls {
                if !is_ready(http, url).await {
                    return false;
                }
            }
            true
        })
        .await?;
        create_env(http, &urls[0], &token).await?;
        Ok(SkiffCluster {
            members,
            urls,
            token,
            _dir: dir,
        })
    }

    /// How clients write to it: `PUT /v1/envs/bench/configs/{name}` on any member.
    pub fn api(&self) -> Api {
        Api {
            urls: self.urls.clone(),
            kind: ApiKind::Skiff {
                token: self.token.clone(),
            },
        }
    }

    /// The index of the member that leads now, as `GET /v1/cluster` on a running member tells
    /// (member index i has Raft id i + 1). Waits up to 5 s for one.
    pub async fn leader(&self, http: &reqwest::Client) -> Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            for (i, url) in self.urls.iter().enumerate() {
                if self.members[i].pid().is_none() {
                    continue;
                }
                let cluster = get_json(cluster_request(http, url, &self.token)).await;
                if let Some(id) = cluster.and_then(|c| c["leader"].as_u64()) {
                    if (1..=3).contains(&id) {
                        return Ok(id as usize - 1);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("no Skiff member knows a leader")
    }

    /// The members' base URLs (`http://127.0.0.1:PORT`).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The admin token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The members, to kill one or read its pid.
    pub fn members(&mut self) -> &mut [Proc] {
        &mut self.members
    }
}

/// Starts `skiff server` with Raft id `id` on `port`, its data in `dir/skiff-{id}`.
fn spawn(dir: &Path, id: u64, port: u16, extra: &[&str]) -> Result<Proc> {
    let name = format!("skiff-{id}");
    let data = dir.join(&name);
    fs::create_dir(&data).with_context(|| format!("create {}", data.display()))?;
    let mut cmd = Command::new(bin());
    cmd.arg("server")
        .arg("--data-dir")
        .arg(&data)
        .args(["--id", &id.to_string()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra);
    Proc::spawn(&name, cmd, dir.join(format!("{name}.log")))
}

async fn is_ready(http: &reqwest::Client, url: &str) -> bool {
    let resp = http.get(format!("{url}/readyz")).send().await;
    resp.is_ok_and(|r| r.status().is_success())
}

fn cluster_request(http: &reqwest::Client, url: &str, token: &str) -> reqwest::RequestBuilder {
    http.get(format!("{url}/v1/cluster")).bearer_auth(token)
}

fn voters(cluster: &Value) -> usize {
    let members = cluster["members"].as_array().map(Vec::as_slice);
    members
        .unwrap_or_default()
        .iter()
        .filter(|m| m["voter"] == true)
        .count()
}

/// Creates the benchmark's environment (one that exists already will do).
async fn create_env(http: &reqwest::Client, url: &str, token: &str) -> Result<()> {
    let resp = http
        .post(format!("{url}/v1/envs"))
        .bearer_auth(token)
        .json(&json!({ "name": SKIFF_ENV }))
        .send()
        .await
        .context("POST /v1/envs")?;
    let status = resp.status();
    if !status.is_success() && status != reqwest::StatusCode::CONFLICT {
        let body = resp.text().await.unwrap_or_default();
        bail!("POST /v1/envs {{\"name\": \"{SKIFF_ENV}\"}}: {status}: {body}");
    }
    Ok(())
}
