//! End-to-end tests of service discovery (issue 8): three hosts in network namespaces, each
//! with a `skiff server` and a `skiff agent` (see `orchestration_support/`); a client container
//! calls a service by name — the node's DNS server answers with the service's virtual IP, whose
//! connections the node's nftables spread over the ready tasks of every node. Needs root.

mod orchestration_support;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
