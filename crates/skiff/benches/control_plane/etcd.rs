//! Three etcd members on 127.0.0.1, the reference Skiff is compared with: etcd's default timing
//! (100 ms heartbeats, 1 s election timeout) and fsync, written through its HTTP JSON gateway.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::process::{free_ports, temp_dir, wait_until, Proc};
use super::{get_json, Api, ApiKind};

/// A running three-member etcd cluster; its members are killed and its data removed on drop.
#[derive(Debug)]
pub struct EtcdCluster {
    // Before `_dir`: fields drop in order, so the members are gone before their data is.
    members: Vec<Proc>,
    urls: Vec<String>,
    _dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Whether an `etcd` binary is on the PATH (Debian: `apt-get install etcd-server`).
    pub fn installed() -> bool {
        Command::new("etcd")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Starts three members on free ports and waits until each reports itself healthy.
    pub async fn start(http: &reqwest::Client) -> Result<EtcdCluster> {
        let dir = temp_dir("skiff-bench-etcd-")?;
        let ports = free_ports(6)?;
        let urls: Vec<String> = ports[..3]
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let peers: Vec<String> = ports[3..]
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let initial_cluster = (0..3)
            .map(|i| format!("etcd-{i}={}", peers[i]))
            .collect::<Vec<_>>()
            .join(",");
        // A token of its own, so members of two clusters never take each other's messages.
        let token = format!("skiff-bench-{}-{}", std::process::id(), ports[0]);
        let mut members = Vec::new();
        for i in 0..3 {
            let name = format!("etcd-{i}");
            let mut cmd = Command::new("etcd");
            cmd.arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(dir.path().join(&name))
                .args(["--listen-client-urls", &urls[i]])
                .args(["--advertise-client-urls", &urls[i]])
                .args(["--listen-peer-urls", &peers[i]])
                .args(["--initial-advertise-peer-urls", &peers[i]])
                .args(["--initial-cluster", &initial_cluster])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &token])
                .args(["--logger", "zap", "--log-outputs", "stderr"]);
            let log = dir.path().join(format!("{name}.log"));
            members.push(Proc::spawn(&name, cmd, log)?);
        }
        let limit = Duration::from_secs(30);
        wait_until("3 healthy etcd members", &mut members, limit, || async {
            for url in &urls {
                let health = get_json(http.get(format!("{url}/health"))).await;
                if health.is_none_or(|h| h["health"] != "true") {
                    return false;
                }
            }
            true
        })
        .await?;
        Ok(EtcdCluster {
            members,
            urls,
            _dir: dir,
        })
    }

    /// How clients write to it: `POST /v3/kv/put` on each member's client URL.
    pub fn api(&self) -> Api {
        Api {
            urls: self.urls.clone(),
            kind: ApiKind::Etcd,
        }
    }

    /// The index of the member that leads now: the one whose `/v3/maintenance/status` names
    /// itself (`leader` equal to `header.member_id`). Waits up to 5 s for one.
    pub async fn leader(&self, http: &reqwest::Client) -> Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            for (i, url) in self.urls.iter().enumerate() {
                if self.members[i].pid().is_none() {
                    continue;
                }
                let status = http.post(format!("{url}/v3/maintenance/status")).body("{}");
                if let Some(s) = get_json(status).await {
                    if s["leader"].is_string() && s["leader"] == s["header"]["member_id"] {
                        return Ok(i);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("no etcd member reports itself leader")
    }

    /// The members, to kill one or read its pid.
    pub fn members(&mut self) -> &mut [Proc] {
        &mut self.members
    }
}
