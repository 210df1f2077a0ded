//! What the tests read of the cluster's answers and of the engines: tasks as `skiff ps -o
//! json` lists them, containers as `skiff container inspect` shows them; and a web request
//! sent from a host.

use serde_json::Value;

use crate::support::netns::TestHost;

/// The object of a listed record (`{"key", "object": {...}, ...}`), whatever its tagging.
pub(super) fn object_of(record: &Value) -> &Value {
    let object = record.get("object").unwrap_or(record);
    match object.as_object() {
        Some(map) if map.len() == 1 && !map.contains_key("id") => map.values().next().unwrap(),
        _ => object,
    }
}

/// The parts of an engine's container the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Its id in the engine.
    pub id: String,
    /// The task it runs (its `skiff.task` label).
    pub task: Option<String>,
    /// `created`, `running`, `exited` or `dead`.
    pub status: String,
    /// Its process (0 before it started).
    pub pid: i32,
    /// The process's start time (field 22 of /proc/PID/stat).
    pub pid_start: u64,
}

/// The parts of a task the tests look at.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its id.
    pub id: String,
    /// Its service.
    pub service: String,
    /// Its slot: the replica number, or the node of a global service.
    pub slot: String,
    /// Desired state.
    pub desired: String,
    /// Observed state.
    pub observed: String,
    /// Its node.
    pub node: Option<String>,
    /// Its container.
    pub container_id: Option<String>,
    /// Its address.
    pub ip: Option<String>,
    /// Restarts in place.
    pub restart_count: u64,
    /// Exit code of its last run.
    pub exit_code: Option<i64>,
    /// Its message.
    pub message: String,
    /// Creation time (ms).
    pub created_at: u64,
}

impl Task {
    pub(super) fn from_record(record: &Value) -> Task {
        let t = object_of(record);
        let text = |k: &str| t[k].as_str().map(str::to_owned);
        let slot = match &t["slot"] {
            Value::Object(m) => m.values().next().map(plain).unwrap_or_default(),
            other => plain(other),
        };
        Task {
            id: text("id").unwrap_or_default(),
            service: text("service").unwrap_or_default(),
            slot,
            desired: text("desired").unwrap_or_default(),
            observed: text("observed").unwrap_or_default(),
            node: text("node"),
            container_id: text("container_id"),
            ip: text("ip"),
            restart_count: t["restart_count"].as_u64().unwrap_or(0),
            exit_code: t["exit_code"].as_i64(),
            message: text("message").unwrap_or_default(),
            created_at: t["created_at"].as_u64().unwrap_or(0),
        }
    }

    /// Wanted and seen running.
    pub fn is_running(&self) -> bool {
        self.desired == "running" && self.observed == "running"
    }
}

/// A JSON scalar as text (strings unquoted).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The running tasks of `service`.
pub fn running(tasks: &[Task], service: &str) -> Vec<Task> {
    tasks
        .iter()
        .filter(|t| t.service == service && t.is_running())
        .cloned()
        .collect()
}

/// Sends `GET /` to `ip:80` from `host` with busybox nc; the answer's body.
pub fn http_get(host: &TestHost, ip: &str) -> Result<String, String> {
    let out = host.sh(&format!(
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {ip} 80"
    ));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.starts_with("HTTP/1") {
        return Err(format!(
            "GET http://{ip}/ from {}: {} {text:?} {}",
            host.netns,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned())
}
