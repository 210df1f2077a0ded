//! End-to-end tests of orchestration (issue 7): three hosts in network namespaces, each with a
//! `skiff server` and a `skiff agent`, real containers, the overlay between hosts; the test
//! applies apps with the CLI and hurts the cluster with signals sent to the PIDs it started.
//! Needs root (namespaces, containers); see `orchestration_support/`.

mod orchestration_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use orchestration_support::{http_get, running, Container, Task, TestCluster, GRACE};

/// `web`: three replicas of busybox httpd serving their host name; `worker`: one `sleep` per
/// node. Both first processes ignore SIGTERM (the first process of a PID namespace gets only
/// the signals it handles): a stop kills them after their grace period, kept short here.
const SHOP: &str = r#"
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
fn apply_shop(cluster: &TestCluster) -> Vec<Task> {
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

fn nodes_of(tasks: &[Task]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t.node.clone()).collect()
}

fn all_nodes() -> BTreeSet<String> {
    ["node1", "node2", "node3"].map(String::from).into()
}

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

/// The running containers of `node`'s engine.
fn running_containers(cluster: &TestCluster, node: &str) -> Vec<Container> {
    TestCluster::containers(cluster.host_of(node))
        .into_iter()
        .filter(|c| c.status == "running")
        .collect()
}

/// The task of `service` running on `node`.
fn task_on(tasks: &[Task], service: &str, node: &str) -> Task {
    running(tasks, service)
        .into_iter()
        .find(|t| t.node.as_deref() == Some(node))
        .unwrap_or_else(|| panic!("no {service} task runs on {node}: {tasks:#?}"))
}

#[test]
fn a_killed_agents_tasks_are_replaced_elsewhere_and_its_old_containers_stopped_when_it_returns() {
    let mut cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let old_web = task_on(&tasks, "web", "node3");
    let old_worker = task_on(&tasks, "worker", "node3");

    let killed = Instant::now();
    cluster.kill_agent(3);
    let limit = GRACE + Duration::from_secs(5);
    cluster.wait_for("web replaced off node3", limit, |c| {
        let web = running(&c.tasks()?, "web");
        let off = web.iter().filter(|t| t.node.as_deref() != Some("node3"));
        (off.count() == 3)
            .then_some(())
            .ok_or(format!("web tasks running: {web:#?}"))
    });
    let took = killed.elapsed();
    eprintln!("replaced {took:?} after the agent was killed");
    assert!(
        took <= limit,
        "replacing took {took:?}, more than {limit:?}"
    );
    let tasks = cluster.tasks().unwrap();
    let orphan = tasks.iter().find(|t| t.id == old_web.id).expect("kept");
    assert_eq!(orphan.observed, "orphaned", "{orphan:?}");
    assert!(orphan.message.contains("node3"), "{orphan:?}");
    // Without its agent, node3's containers keep running: nobody is there to stop them.
    let left: Vec<_> = running_containers(&cluster, "node3")
        .into_iter()
        .filter_map(|c| c.task)
        .collect();
    assert!(left.contains(&old_web.id), "{left:?}");

    cluster.restart_agent(3);
    cluster.wait_for(
        "node3's old containers stopped and a worker on it again",
        Duration::from_secs(20),
        |c| {
            let tasks = c.tasks()?;
            let on3: Vec<_> = running_containers(c, "node3")
                .into_iter()
                .filter_map(|c| c.task)
                .collect();
            let worker = running(&tasks, "worker");
            let stale = on3.iter().any(|t| *t == old_web.id || *t == old_worker.id);
            let new_worker = worker
                .iter()
                .any(|t| t.node.as_deref() == Some("node3") && t.id != old_worker.id);
            (!stale && new_worker && worker.len() == 3)
                .then_some(())
                .ok_or(format!("on node3: {on3:?}; workers: {worker:#?}"))
        },
    );
    let web = running(&cluster.tasks().unwrap(), "web");
    assert_eq!(web.len(), 3, "{web:#?}");
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
fn an_agent_restart_restarts_no_container() {
    let mut cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let before: BTreeMap<String, Vec<Container>> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| (n.to_string(), running_containers(&cluster, n)))
        .collect();
    cluster.stop_agent(2);
    cluster.restart_agent(2);
    // Give the new agent time to register, hold a session and reconcile a few rounds.
    cluster.wait_for("node2 ready again", Duration::from_secs(10), |c| {
        c.ready_nodes()
            .contains(&"node2".to_owned())
            .then_some(())
            .ok_or("not ready".to_owned())
    });
    std::thread::sleep(Duration::from_secs(3));
    for (node, containers) in &before {
        assert_eq!(
            &running_containers(&cluster, node),
            containers,
            "{node}'s containers changed"
        );
    }
    let after = cluster.tasks().unwrap();
    let summary = |ts: &[Task]| -> Vec<(String, String, u64)> {
        ts.iter()
            .map(|t| (t.id.clone(), t.observed.clone(), t.restart_count))
            .collect()
    };
    assert_eq!(summary(&after), summary(&tasks), "tasks changed");
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
fn an_apply_completes_when_the_leader_is_killed_during_it() {
    let mut cluster = TestCluster::start();
    let status = cluster.json(&["cluster", "status", "-o", "json"]).unwrap();
    let leader = status["leader"]
        .as_u64()
        .unwrap_or_else(|| panic!("no leader in {status}")) as usize;
    let file = cluster.compose_file("shop", SHOP);
    // The leader is frozen first, so that the apply surely reaches it (it is first in the
    // CLI's list; the kernel accepts the connection and takes the request) and is surely not
    // answered; it is then killed, under the request.
    cluster.freeze_server(leader);
    let mut apply = cluster
        .command(&["apply", "-f", file.to_str().unwrap(), "-p", "shop"])
        .env("SKIFF_SERVER", cluster.servers_from(leader))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start skiff apply");
    std::thread::sleep(Duration::from_millis(500));
    cluster.kill_server(leader);
    let out = wait_with_timeout(&mut apply, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "skiff apply failed after server {leader} was killed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "skiff apply said:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cluster.wait_for("shop's tasks running", Duration::from_secs(30), |c| {
        let tasks = c.tasks()?;
        let web = running(&tasks, "web");
        let worker = running(&tasks, "worker");
        (web.len() == 3 && worker.len() == 3)
            .then_some(())
            .ok_or(format!("{tasks:#?}"))
    });
}

/// Waits for `child` to exit (killing it after `timeout`) and collects its output.
fn wait_with_timeout(child: &mut std::process::Child, timeout: Duration) -> std::process::Output {
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

#[test]
fn a_host_cut_off_has_its_tasks_replaced_and_stops_them_when_it_returns() {
    let cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let old_web = task_on(&tasks, "web", "node3");
    let old_worker = task_on(&tasks, "worker", "node3");

    let cut = Instant::now();
    cluster.plug(3, false);
    // Server 3 is cut off too: if it led, the others elect a new leader first.
    let limit = GRACE + Duration::from_secs(5);
    cluster.wait_for("web replaced off node3", limit, |c| {
        let web = running(&c.tasks()?, "web");
        (web.len() == 3 && !nodes_of(&web).contains("node3"))
            .then_some(())
            .ok_or(format!("web tasks running: {web:#?}"))
    });
    eprintln!("replaced {:?} after the host was cut off", cut.elapsed());
    // Cut off, node3 keeps running what it ran: it cannot know.
    let on3: Vec<_> = running_containers(&cluster, "node3")
        .into_iter()
        .filter_map(|c| c.task)
        .collect();
    assert!(on3.contains(&old_web.id), "{on3:?}");

    cluster.plug(3, true);
    cluster.wait_for(
        "node3's old containers stopped and a new worker on it",
        Duration::from_secs(20),
        |c| {
            let tasks = c.tasks()?;
            let on3: Vec<_> = running_containers(c, "node3")
                .into_iter()
                .filter_map(|c| c.task)
                .collect();
            let worker = running(&tasks, "worker");
            let stale = on3.contains(&old_web.id) || on3.contains(&old_worker.id);
            let back = worker
                .iter()
                .any(|t| t.node.as_deref() == Some("node3") && t.id != old_worker.id);
            (!stale && back && worker.len() == 3)
                .then_some(())
                .ok_or(format!("on node3: {on3:?}; workers: {worker:#?}"))
        },
    );
    assert_eq!(running(&cluster.tasks().unwrap(), "web").len(), 3);
}
