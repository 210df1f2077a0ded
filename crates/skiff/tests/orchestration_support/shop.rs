//! The app most tests run (`shop`) and what they ask of it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{running, Container, Task, TestCluster};

/// `web`: three replicas of busybox httpd serving their host name; `worker`: one `sleep` per
/// node. Both first processes ignore SIGTERM (the first process of a PID namespace gets only
/// the signals it handles): a stop kills them after their grace period, kept short here.
pub const SHOP: &str = r#"
name: shop
services:
  web:
    image: test:latest
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    deploy:
      replicas: 3
      restart_policy:
        condition: any
        delay: 500ms
  worker:
    image: test:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy:
      mode: global
"#;

/// Applies [`SHOP`] and waits until its six tasks run: three web tasks on three different
/// nodes, one worker on each node.
pub fn apply_shop(cluster: &TestCluster) -> Vec<Task> {
    cluster.apply("shop", SHOP);
    cluster.wait_for("shop's six tasks running", Duration::from_secs(40), |c| {
        let tasks = c.tasks()?;
        let web = running(&tasks, "web");
        let worker = running(&tasks, "worker");
        if web.len() == 3 && worker.len() == 3 {
            Ok(tasks)
        } else {
            Err(format!(
                "{} web and {} worker tasks running",
                web.len(),
                worker.len()
            ))
        }
    })
}

pub fn nodes_of(tasks: &[Task]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t.node.clone()).collect()
}

pub fn all_nodes() -> BTreeSet<String> {
    ["node1", "node2", "node3"].map(String::from).into()
}

/// The running containers of `node`'s engine.
pub fn running_containers(cluster: &TestCluster, node: &str) -> Vec<Container> {
    TestCluster::containers(cluster.host_of(node))
        .into_iter()
        .filter(|c| c.status == "running")
        .collect()
}

/// The task of `service` running on `node`.
pub fn task_on(tasks: &[Task], service: &str, node: &str) -> Task {
    running(tasks, service)
        .into_iter()
        .find(|t| t.node.as_deref() == Some(node))
        .unwrap_or_else(|| panic!("no {service} task runs on {node}: {tasks:#?}"))
}

/// Waits for `child` to exit (killing it after `timeout`) and collects its output.
pub fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> std::process::Output {
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut stderr);
    }
    std::process::Output {
        status: child.wait().expect("reap"),
        stdout,
        stderr,
    }
}
