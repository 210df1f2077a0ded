//! End-to-end tests of service discovery (issue 8): three hosts in network namespaces, each
//! with a `skiff server` and a `skiff agent` (see `orchestration_support/`); a client container
//! calls a service by name — the node's DNS server answers with the service's virtual IP, whose
//! connections the node's nftables spread over the ready tasks of every node. Needs root.

mod orchestration_support;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use orchestration_support::client::{now_ms, Client};
use orchestration_support::shop::apply_shop;
use orchestration_support::{running, TestCluster};

/// `skiff exec` into the worker of `node`: `sh -c script`; its standard output.
fn in_worker(cluster: &TestCluster, node: &str, script: &str) -> String {
    let target = format!("worker.{node}");
    let out = cluster.skiff(&["exec", &target, "--", "sh", "-c", script]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A shell command fetching `http://NAME/` with `nc` (busybox wget crashes here): the body.
fn http_get(name: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {name} 80 2>&1 | tail -n 1")
}

#[test]
fn a_client_calls_a_service_by_name_and_gets_answers_from_replicas_on_several_nodes() {
    let cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let web = running(&tasks, "web");
    let hosts: BTreeSet<String> = web
        .iter()
        .map(|t| {
            let script = "hostname";
            let out = cluster.skiff(&["exec", &format!("web.{}", t.slot), "--", script]);
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");

    // The name resolves to the service's virtual IP, from the service range.
    let lookup = cluster.wait_for("web to resolve", Duration::from_secs(20), |c| {
        let out = in_worker(c, "node1", "nslookup web 2>&1");
        out.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("Address:").map(str::trim))
            .filter(|a| a.starts_with("10.96."))
            .map(str::to_owned)
            .ok_or(out)
    });
    // Every replica answers through it, from node1 (one local, two across the overlay), and
    // by the names within the environment too.
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 3 {
        let body = in_worker(&cluster, "node1", &http_get("web"));
        let body = body.trim().to_owned();
        if hosts.contains(&body) {
            seen.insert(body);
        }
        assert!(
            Instant::now() < deadline,
            "only {seen:?} of {hosts:?} answered through {lookup}"
        );
    }
    for name in ["web.shop", "web.shop.dev", &lookup] {
        let body = in_worker(&cluster, "node2", &http_get(name));
        assert!(hosts.contains(body.trim()), "{name}: {body:?}");
    }
    // A name of another environment, or none, is not ours.
    let out = in_worker(&cluster, "node3", "nslookup web.shop.prod 2>&1; echo rc=$?");
    assert!(!out.contains("10.96."), "{out}");
}

/// The addresses of the running web tasks of `env`/`app`.
fn web_ips(cluster: &TestCluster, env: &str, app: &str) -> Result<Vec<String>, String> {
    let list = cluster.json(&["ps", "-a", "--env", env, "-o", "json"])?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["object"]["task"])
        .filter(|t| {
            t["app"] == app
                && t["service"] == "web"
                && t["observed"] == "running"
                && t["desired"] == "running"
        })
        .filter_map(|t| t["ip"].as_str().map(str::to_owned))
        .collect())
}

/// `sh -c` in the worker of `node`: whether `nc` could open a connection to `ip:80` (it sends
/// a request and gets an answer).
fn reaches(cluster: &TestCluster, node: &str, ip: &str) -> bool {
    let out = in_worker(cluster, node, &http_get(ip));
    !out.trim().is_empty() && !out.contains("refused") && !out.contains("timed out")
}

#[test]
fn containers_reach_only_what_shares_a_network_with_them() {
    let cluster = TestCluster::start();
    apply_shop(&cluster);
    // `blog` in dev, and `shop` again in prod: their web tasks are not the dev shop's.
    let blog = orchestration_support::shop::SHOP
        .replace("name: shop", "name: blog")
        .replace("mode: global", "replicas: 0");
    cluster.apply("blog", &blog);
    cluster.skiff_ok(&["env", "create", "prod"]);
    let file = cluster.compose_file("prod-shop", orchestration_support::shop::SHOP);
    cluster.skiff_ok(&[
        "apply",
        "-f",
        file.to_str().unwrap(),
        "-p",
        "shop",
        "--env",
        "prod",
    ]);
    let (prod, blog, own) = cluster.wait_for("the webs running", Duration::from_secs(60), |c| {
        let (prod, blog, own) = (
            web_ips(c, "prod", "shop")?,
            web_ips(c, "dev", "blog")?,
            web_ips(c, "dev", "shop")?,
        );
        if prod.len() == 3 && blog.len() == 3 && own.len() == 3 {
            Ok((prod, blog, own))
        } else {
            Err(format!("prod {prod:?}, blog {blog:?}, shop {own:?}"))
        }
    });
    // Give every node's isolation the new tasks' addresses (they follow within a second).
    std::thread::sleep(Duration::from_secs(2));
    for ip in &own {
        assert!(
            reaches(&cluster, "node1", ip),
            "dev's shop worker → its own web {ip}"
        );
    }
    for ip in prod.iter().chain(&blog) {
        assert!(
            !reaches(&cluster, "node1", ip),
            "dev's shop worker reached {ip}, of another app or environment"
        );
    }
    // The node itself still reaches every container, here and across the overlay.
    for ip in own.iter().chain(&prod).chain(&blog) {
        let out = cluster.net.hosts[0].sh(&format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {ip} 80"
        ));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("200"),
            "node1 → {ip}: {out:?}"
        );
    }
}

#[test]
fn a_published_port_answers_on_every_node_from_the_one_task() {
    let cluster = TestCluster::start();
    let app = r#"
name: front
services:
  web:
    image: test:latest
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["8080:80"]
    deploy:
      replicas: 1
"#;
    cluster.apply("front", app);
    let web = cluster.wait_for("web running", Duration::from_secs(30), |c| {
        let tasks = c.tasks()?;
        running(&tasks, "web")
            .into_iter()
            .next()
            .ok_or_else(|| "not yet".to_string())
    });
    let out = cluster.skiff(&["exec", "web", "--", "hostname"]);
    let host = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!host.is_empty(), "{out:?}");
    // From the first host, every node's address: one of them runs the task, the others pass
    // the connection over the overlay (and masquerade it, so the answer comes back through
    // them).
    for node in &cluster.net.hosts {
        let addr = node.addr.to_string();
        let body = cluster.wait_for(
            &format!("{addr}:8080 to answer"),
            Duration::from_secs(10),
            |c| {
                let out = c.net.hosts[0].sh(&format!(
                    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {addr} 8080"
                ));
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                if text.contains(&host) {
                    Ok(text)
                } else {
                    Err(text)
                }
            },
        );
        assert!(body.contains("200"), "{addr}: {body}");
    }
    assert!(web.node.is_some());
}

#[test]
fn a_killed_replica_leaves_the_virtual_ip_within_a_second() {
    let cluster = TestCluster::start();
    let tasks = apply_shop(&cluster);
    let vip = cluster.service_vip("web");
    cluster.route_host1_to_services();
    let target = format!("{vip}:80").parse().unwrap();
    let client = Client::start(
        &cluster.net.hosts[0].netns,
        target,
        Duration::from_millis(300),
    );
    let web2 = orchestration_support::shop::task_on(&tasks, "web", "node2");
    std::thread::sleep(Duration::from_secs(1));
    let killed = now_ms();
    cluster.kill_task_container("node2", &web2.id);
    std::thread::sleep(Duration::from_secs(3));
    let after = client.since(killed);
    drop(client);
    let failed: Vec<u64> = after
        .iter()
        .filter(|(_, body)| body.is_none())
        .map(|(at, _)| *at - killed)
        .collect();
    let ok = after.iter().filter(|(_, body)| body.is_some()).count();
    // A request picked for the dead replica fails until every node's virtual IP has let it
    // go; with 300 ms per failed attempt, the last failure ends within a second and a half.
    let last = failed.last().copied().unwrap_or(0);
    eprintln!(
        "after the kill: {} failed (at {failed:?} ms), {ok} succeeded",
        failed.len()
    );
    assert!(
        last < 1_500,
        "requests still failed {last} ms after the kill: {failed:?} ({ok} succeeded)"
    );
    assert!(ok > 10, "only {ok} requests succeeded after the kill");
}

/// `web` at `version`: six replicas of busybox httpd answering their version, rolled out
/// two at a time, each new task started (and healthy) before an old one stops.
fn versioned(version: u32) -> String {
    format!(
        r#"
name: roll
services:
  web:
    image: test:latest
    command: ["sh", "-c", "mkdir -p /www && echo v{version} > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/www/index.html"]
      interval: 200ms
      retries: 1
    deploy:
      replicas: 6
      update_config:
        parallelism: 2
        order: start-first
        monitor: 1s
        failure_action: rollback
"#
    )
}

#[test]
fn a_rolling_update_under_continuous_requests_fails_none() {
    let cluster = TestCluster::start();
    cluster.apply("roll", &versioned(1));
    let vip = cluster.service_vip("web");
    cluster.route_host1_to_services();
    let target = format!("{vip}:80").parse().unwrap();
    let client = Client::start(&cluster.net.hosts[0].netns, target, Duration::from_secs(2));
    cluster.wait_for("v1 answering", Duration::from_secs(30), |_| {
        let since = now_ms() - 500;
        client
            .since(since)
            .iter()
            .any(|(_, b)| b.as_deref() == Some("v1"))
            .then_some(())
            .ok_or_else(|| "not yet".to_string())
    });
    let began = now_ms();
    // `skiff apply` waits until the rollout is done (it fails if it pauses or rolls back).
    cluster.apply("roll", &versioned(2));
    std::thread::sleep(Duration::from_secs(2));
    let during = client.since(began);
    drop(client);
    let failed = during.iter().filter(|(_, b)| b.is_none()).count();
    let v1 = during
        .iter()
        .filter(|(_, b)| b.as_deref() == Some("v1"))
        .count();
    let v2 = during
        .iter()
        .filter(|(_, b)| b.as_deref() == Some("v2"))
        .count();
    eprintln!("during the rollout: {v1} answers of v1, {v2} of v2, {failed} failed");
    assert_eq!(failed, 0, "requests failed during the rollout");
    assert!(v1 > 0 && v2 > 0, "both versions served: v1 {v1}, v2 {v2}");
    let last: Vec<_> = during.iter().rev().take(20).collect();
    assert!(
        last.iter().all(|(_, b)| b.as_deref() == Some("v2")),
        "after the rollout only v2 answers: {last:?}"
    );
}

#[test]
fn a_killed_replica_leaves_a_dnsrr_services_answers_within_a_second() {
    let cluster = TestCluster::start();
    // `db` answers by name with its ready tasks' addresses (no virtual IP); a killed task is
    // not restarted in place, so its address is gone for good.
    let app = r#"
name: shop
services:
  db:
    image: test:latest
    command: ["sleep", "3600"]
    deploy:
      endpoint_mode: dnsrr
      replicas: 3
      restart_policy:
        condition: none
  worker:
    image: test:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy:
      mode: global
"#;
    cluster.apply("shop", app);
    let lookup = |c: &TestCluster| -> Vec<String> {
        let out = in_worker(c, "node1", "nslookup db 2>&1");
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("Address:").map(str::trim))
            .filter(|a| !a.contains(':') && *a != "10.208.0.1")
            .map(str::to_owned)
            .collect()
    };
    let tasks = cluster.wait_for("db's three addresses", Duration::from_secs(30), |c| {
        let tasks = c.tasks()?;
        let db = running(&tasks, "db");
        let answers = lookup(c);
        (db.len() == 3 && answers.len() == 3)
            .then_some(tasks)
            .ok_or(format!("{answers:?}"))
    });
    let victim = orchestration_support::shop::task_on(&tasks, "db", "node2");
    let ip = victim.ip.clone().expect("an address");
    let killed = Instant::now();
    cluster.kill_task_container("node2", &victim.id);
    let gone = cluster.wait_for(
        "the address gone from db's answers",
        Duration::from_secs(5),
        |c| {
            let answers = lookup(c);
            (!answers.contains(&ip))
                .then(|| killed.elapsed())
                .ok_or(format!("{answers:?}"))
        },
    );
    eprintln!(
        "{ip} left db's answers {} ms after the kill",
        gone.as_millis()
    );
    // Each lookup is a `skiff exec` (some 100–300 ms); the answer itself follows at once.
    assert!(gone < Duration::from_millis(1_500), "{gone:?}");
}
