//! End-to-end tests of orchestration (issue 7): three hosts in network namespaces, each with a
//! `skiff server` and a `skiff agent`, real containers, the overlay between hosts; the test
//! applies apps with the CLI and changes the cluster with `skiff node`/`skiff scale`. Failures
//! (killed agents, cut-off hosts, a killed leader) are in `orchestration_failures.rs`. Needs
//! root (namespaces, containers); see `orchestration_support/`.

mod orchestration_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orchestration_support::shop::{
    all_nodes, apply_shop, nodes_of, running_containers, task_on, SHOP,
};
use orchestration_support::{http_get, running, Container, Task, TestCluster, GRACE};

#[test]
fn a_multi_service_app_runs_spread_over_the_nodes_and_answers_across_the_overlay() {
    let cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let web = running(&tasks, "web");
    let worker = running(&tasks, "worker");
    assert_eq!(
        nodes_of(&web),
        all_nodes(),
        "one web task per node: {web:#?}"
    );
    assert_eq!(
        nodes_of(&worker),
        all_nodes(),
        "one worker per node: {worker:#?}"
    );
    for w in &worker {
        assert_eq!(
            Some(&w.slot),
            w.node.as_ref(),
            "a global slot is its node: {w:?}"
        );
    }
    // Every web task answers from host 1, two of them across the overlay, each with its own
    // host name.
    let mut answers = BTreeMap::new();
    for t in &web {
        let ip = t.ip.clone().unwrap_or_else(|| panic!("no ip: {t:?}"));
        let body = cluster.wait_for(&format!("{ip} to answer"), Duration::from_secs(10), |c| {
            http_get(&c.net.hosts[0], &ip)
        });
        answers.insert(body.trim().to_owned(), ip);
    }
    assert_eq!(answers.len(), 3, "three different host names: {answers:?}");
}

#[test]
fn a_killed_container_is_restarted_in_place() {
    let cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let web = task_on(&tasks, "web", "node2");
    let host = cluster.host_of("node2");
    let before = TestCluster::containers(host)
        .into_iter()
        .find(|c| c.task.as_deref() == Some(web.id.as_str()) && c.status == "running")
        .unwrap_or_else(|| panic!("no container of {web:?}"));
    assert!(before.pid > 0, "{before:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the container's process");

    let after = cluster.wait_for("the task restarted", Duration::from_secs(20), |c| {
        let tasks = c.tasks()?;
        let t = tasks.iter().find(|t| t.id == web.id).ok_or("task gone")?;
        (t.is_running() && t.restart_count == 1)
            .then(|| t.clone())
            .ok_or(format!("{t:?}"))
    });
    assert_eq!(after.node.as_deref(), Some("node2"), "{after:?}");
    // The same task, in place: the slot has no other task, the container runs a new process.
    let tasks = cluster.tasks().unwrap();
    let slot: Vec<_> = tasks
        .iter()
        .filter(|t| t.service == "web" && t.slot == web.slot)
        .collect();
    assert_eq!(slot.len(), 1, "{slot:#?}");
    let now: Vec<_> = TestCluster::containers(host)
        .into_iter()
        .filter(|c| c.task.as_deref() == Some(web.id.as_str()) && c.status == "running")
        .collect();
    assert_eq!(now.len(), 1, "{now:#?}");
    assert_ne!(
        (now[0].pid, now[0].pid_start),
        (before.pid, before.pid_start),
        "a new process"
    );
    let ip = after.ip.clone().expect("an address");
    cluster.wait_for("it answers again", Duration::from_secs(10), |c| {
        http_get(&c.net.hosts[0], &ip)
    });
}

#[test]
fn drain_moves_tasks_activate_brings_the_global_one_back_and_scale_goes_up_and_down() {
    let cluster = TestCluster::start();
    apply_shop(&cluster);

    cluster.skiff_ok(&["node", "drain", "node2"]);
    cluster.wait_for("node2 emptied", Duration::from_secs(20), |c| {
        let tasks = c.tasks()?;
        let web = running(&tasks, "web");
        let worker = running(&tasks, "worker");
        let on2 = running_containers(c, "node2");
        let moved = web.len() == 3 && !nodes_of(&web).contains("node2");
        let workers = nodes_of(&worker) == ["node1", "node3"].map(String::from).into();
        (moved && workers && on2.is_empty())
            .then_some(())
            .ok_or(format!(
                "web: {web:#?}\nworker: {worker:#?}\ncontainers running on node2: {on2:#?}"
            ))
    });

    cluster.skiff_ok(&["node", "activate", "node2"]);
    cluster.wait_for("a worker on node2 again", Duration::from_secs(20), |c| {
        let worker = running(&c.tasks()?, "worker");
        (nodes_of(&worker) == all_nodes() && worker.len() == 3)
            .then_some(())
            .ok_or(format!("{worker:#?}"))
    });

    cluster.skiff_ok(&["scale", "shop/web=5"]);
    let up = cluster.wait_for("five web tasks", Duration::from_secs(20), |c| {
        let web = running(&c.tasks()?, "web");
        (web.len() == 5)
            .then_some(web.clone())
            .ok_or(format!("{web:#?}"))
    });
    for t in &up {
        let ip = t.ip.clone().expect("an address");
        cluster.wait_for(&format!("{ip} to answer"), Duration::from_secs(10), |c| {
            http_get(&c.net.hosts[0], &ip)
        });
    }

    cluster.skiff_ok(&["scale", "shop/web=2"]);
    cluster.wait_for(
        "two web tasks, three containers gone",
        Duration::from_secs(20),
        |c| {
            let tasks = c.tasks()?;
            let web = running(&tasks, "web");
            let web_containers: Vec<Container> = ["node1", "node2", "node3"]
                .iter()
                .flat_map(|n| running_containers(c, n))
                .filter(|k| web.iter().all(|t| Some(&t.id) != k.task.as_ref()))
                .filter(|k| {
                    running(&tasks, "worker")
                        .iter()
                        .all(|t| Some(&t.id) != k.task.as_ref())
                })
                .collect();
            let slots: BTreeSet<String> = web.iter().map(|t| t.slot.clone()).collect();
            (web.len() == 2
                && web_containers.is_empty()
                && slots == ["1", "2"].map(String::from).into())
            .then_some(())
            .ok_or(format!(
                "web: {web:#?}\nother running containers: {web_containers:#?}"
            ))
        },
    );
}

/// A service whose one task fails at once, restarted in place at most once.
const FLAKY: &str = r#"
name: flaky
services:
  bad:
    image: test:latest
    command: ["sh", "-c", "exit 3"]
    deploy:
      replicas: 1
      restart_policy:
        condition: on-failure
        max_attempts: 1
        delay: 500ms
"#;

#[test]
fn an_exhausted_restart_policy_fails_the_task_and_replaces_it() {
    let cluster = TestCluster::start();
    cluster.apply("flaky", FLAKY);
    let (failed, replacement) = cluster.wait_for(
        "a failed task and its replacement",
        Duration::from_secs(30),
        |c| {
            let tasks: Vec<Task> = c
                .tasks()?
                .into_iter()
                .filter(|t| t.service == "bad")
                .collect();
            let failed = tasks.iter().find(|t| t.observed == "failed");
            let newer = failed.and_then(|f| {
                tasks
                    .iter()
                    .find(|t| t.id != f.id && t.slot == f.slot && t.desired == "running")
            });
            match (failed, newer) {
                (Some(f), Some(n)) => Ok((f.clone(), n.clone())),
                _ => Err(format!("{tasks:#?}")),
            }
        },
    );
    assert_eq!(failed.exit_code, Some(3), "{failed:?}");
    assert_eq!(
        failed.restart_count, 1,
        "one restart in place first: {failed:?}"
    );
    assert_eq!(failed.desired, "shutdown", "{failed:?}");
    assert!(
        replacement.created_at >= failed.created_at,
        "{replacement:?}"
    );
}

#[test]
fn a_global_service_follows_nodes_joining_and_leaving() {
    let mut cluster = TestCluster::start_with_agents(2);
    cluster.apply("shop", SHOP);
    cluster.wait_for("web and a worker per node", Duration::from_secs(30), |c| {
        let tasks = c.tasks()?;
        let (web, worker) = (running(&tasks, "web"), running(&tasks, "worker"));
        (web.len() == 3 && nodes_of(&worker) == ["node1", "node2"].map(String::from).into())
            .then_some(())
            .ok_or(format!("{tasks:#?}"))
    });

    cluster.start_agent(3);
    let joined = cluster.wait_for("a worker on the new node", Duration::from_secs(20), |c| {
        let worker = running(&c.tasks()?, "worker");
        (nodes_of(&worker) == all_nodes() && worker.len() == 3)
            .then(|| task_on(&worker, "worker", "node3"))
            .ok_or(format!("{worker:#?}"))
    });

    cluster.kill_agent(3);
    cluster.wait_for(
        "node3's worker stopped and not replaced",
        GRACE + Duration::from_secs(5),
        |c| {
            let tasks = c.tasks()?;
            let gone = tasks.iter().find(|t| t.id == joined.id).ok_or("gone")?;
            let worker = running(&tasks, "worker");
            let fine = gone.desired != "running"
                && worker.len() == 2
                && nodes_of(&worker) == ["node1", "node2"].map(String::from).into();
            fine.then_some(()).ok_or(format!("{tasks:#?}"))
        },
    );
}
