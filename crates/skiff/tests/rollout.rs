//! End-to-end rolling update (issue 8): three hosts in network namespaces, each with a
//! `skiff server` and a `skiff agent`, real containers. A broken new version (its command
//! exits 1) of a 3-replica web service with `failure_action: rollback` is applied with the
//! CLI: `skiff apply` fails saying it rolled back, the old version answers throughout, and the
//! service ends on the old spec with the untouched replicas' tasks never restarted. Needs root
//! (namespaces, containers); see `orchestration_support/`.

mod orchestration_support;
mod support;

use std::time::{Duration, Instant};

use orchestration_support::{http_get, running, Task, TestCluster};

/// `web` with `command` (a JSON list), 3 replicas, one at a time, rolled back on failure. The
/// healthcheck gates each step: a new task must be healthy before the next slot is updated
/// (without one, a task counts as ready as soon as it runs, however briefly).
fn shop(command: &str) -> String {
    shop_of("test:latest", command)
}

/// [`shop`] with another image.
fn shop_of(image: &str, command: &str) -> String {
    format!(
        r#"
name: shop
services:
  web:
    image: {image}
    command: {command}
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 500ms
    deploy:
      replicas: 3
      restart_policy:
        condition: any
        delay: 500ms
      update_config:
        parallelism: 1
        failure_action: rollback
        monitor: 3s
      rollback_config:
        parallelism: 1
"#
    )
}

const V1: &str =
    r#"["sh", "-c", "mkdir -p /www && echo v1 > /www/index.html && exec httpd -f -p 80 -h /www"]"#;
const BROKEN: &str = r#"["sh", "-c", "echo starting v2; exit 1"]"#;

fn slot_of(tasks: &[Task], slot: &str) -> Task {
    running(tasks, "web")
        .into_iter()
        .find(|t| t.slot == slot)
        .unwrap_or_else(|| panic!("no web task runs in slot {slot}: {tasks:#?}"))
}

/// Asks each of `ips` for its page once, noting what did not answer `v1`.
fn ask(cluster: &TestCluster, ips: &[String], asked: &mut usize, failed: &mut Vec<String>) {
    for ip in ips {
        *asked += 1;
        match http_get(&cluster.net.hosts[0], ip) {
            Ok(body) if body.trim() == "v1" => {}
            other => failed.push(format!("{ip}: {other:?}")),
        }
    }
}

#[test]
fn a_broken_version_rolls_back_by_itself_and_the_old_one_keeps_serving() {
    let cluster = TestCluster::start();
    cluster.apply("shop", &shop(V1));
    let before = cluster.wait_for("3 web tasks running", Duration::from_secs(40), |c| {
        let tasks = c.tasks()?;
        match running(&tasks, "web").len() {
            3 => Ok(tasks),
            n => Err(format!("{n} running")),
        }
    });
    // Slot 1 is updated first; slots 2 and 3 are never touched by the failed rollout.
    let kept: Vec<Task> = ["2", "3"].iter().map(|s| slot_of(&before, s)).collect();
    let ips: Vec<String> = kept
        .iter()
        .map(|t| t.ip.clone().expect("an address"))
        .collect();
    for ip in &ips {
        cluster.wait_for(
            &format!("{ip} answering v1"),
            Duration::from_secs(10),
            |c| {
                http_get(&c.net.hosts[0], ip).and_then(|body| {
                    (body.trim() == "v1")
                        .then_some(())
                        .ok_or(format!("answered {body:?}"))
                })
            },
        );
    }

    // Apply the broken version; meanwhile, ask the two untouched replicas over and over.
    let file = cluster.compose_file("shop", &shop(BROKEN));
    let mut apply = cluster
        .command(&["apply", "-f", file.to_str().unwrap(), "-p", "shop"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run skiff apply");
    let started = Instant::now();
    let (mut asked, mut failed) = (0, Vec::new());
    while apply.try_wait().expect("wait").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "skiff apply never returned"
        );
        ask(&cluster, &ips, &mut asked, &mut failed);
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = orchestration_support::shop::wait_with_timeout(&mut apply, Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "skiff apply should fail:\n{stderr}");
    assert!(
        stderr.contains("web: rolled back") || stderr.contains("web: rolling back"),
        "apply says it rolled back:\n{stderr}"
    );

    // The rollback completes: the service is on revision 1's spec again, as revision 3. The
    // untouched replicas are still asked meanwhile.
    let status = cluster.wait_for("rollback completed", Duration::from_secs(60), |c| {
        ask(c, &ips, &mut asked, &mut failed);
        let list = c.json(&["rollout", "status", "shop/web", "-o", "json"])?;
        let web = list[0].clone();
        (web["rollout"]["state"] == "rollback_completed")
            .then_some(web.clone())
            .ok_or(format!("{web}"))
    });
    eprintln!(
        "{asked} requests to the untouched replicas while the broken version rolled out and back"
    );
    assert!(asked >= 10, "{asked} requests");
    assert!(
        failed.is_empty(),
        "the old version failed {} of {asked} requests: {failed:?}",
        failed.len()
    );
    assert_eq!(status["spec_revision"], 3, "{status}");
    assert_eq!(status["rollout"]["from_revision"], 2, "{status}");
    assert_eq!(status["rollout"]["restores_revision"], 1, "{status}");
    let history = cluster.skiff_ok(&["rollout", "history", "shop/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["3", "2", "1"], "{history}");

    let after = cluster.wait_for("3 web tasks running v1", Duration::from_secs(40), |c| {
        let tasks = c.tasks()?;
        let web = running(&tasks, "web");
        if web.len() != 3 {
            return Err(format!("{} running", web.len()));
        }
        for t in &web {
            let ip = t.ip.clone().ok_or("no address")?;
            let body = http_get(&c.net.hosts[0], &ip)?;
            if body.trim() != "v1" {
                return Err(format!("{ip} answered {body:?}"));
            }
        }
        Ok(tasks)
    });
    for old in &kept {
        let now = slot_of(&after, &old.slot);
        assert_eq!(now.id, old.id, "slot {} kept its task", old.slot);
        assert_eq!(now.container_id, old.container_id, "and its container");
        assert_eq!(now.restart_count, 0, "never restarted");
    }
}

#[test]
fn a_new_image_that_cannot_be_had_rolls_back_by_itself() {
    let cluster = TestCluster::start();
    cluster.apply("shop", &shop(V1));
    cluster.wait_for("3 web tasks running", Duration::from_secs(40), |c| {
        let tasks = c.tasks()?;
        match running(&tasks, "web").len() {
            3 => Ok(()),
            n => Err(format!("{n} running")),
        }
    });
    // No node has this image and no registry serves it: the new task fails to start.
    let file = cluster.compose_file("shop", &shop_of("test:missing", V1));
    let out = cluster.skiff(&["apply", "-f", file.to_str().unwrap(), "-p", "shop"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "skiff apply should fail:\n{stderr}");
    assert!(
        stderr.contains("web: rolled back") || stderr.contains("web: rolling back"),
        "apply says it rolled back:\n{stderr}"
    );
    let status = cluster.wait_for("rollback completed", Duration::from_secs(60), |c| {
        let list = c.json(&["rollout", "status", "shop/web", "-o", "json"])?;
        let web = list[0].clone();
        (web["rollout"]["state"] == "rollback_completed")
            .then_some(web.clone())
            .ok_or(format!("{web}"))
    });
    assert_eq!(status["rollout"]["restores_revision"], 1, "{status}");
    cluster.wait_for("3 web tasks running v1", Duration::from_secs(40), |c| {
        let tasks = c.tasks()?;
        let web = running(&tasks, "web");
        if web.len() != 3 {
            return Err(format!("{} running", web.len()));
        }
        for t in &web {
            let ip = t.ip.clone().ok_or("no address")?;
            let body = http_get(&c.net.hosts[0], &ip)?;
            if body.trim() != "v1" {
                return Err(format!("{ip} answered {body:?}"));
            }
        }
        Ok(())
    });
}
