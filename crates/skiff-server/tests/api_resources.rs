//! Environments, configs, tokens, tasks, nodes and cluster status over HTTP on one server:
//! each endpoint's happy path, conditional writes and their 409s.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{node, task, Cluster};

fn keys(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_are_created_once_listed_read_and_deleted() {
    let c = Cluster::one().await;
    let create = json!({"name": "dev", "quota": {"max_cpus": "4", "max_tasks": 10},
                        "node_selector": {"zone": "a"}});
    let (status, created) = c
        .send(c.req(Method::POST, "/v1/envs", &c.admin).json(&create))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let revision = created["revision"].as_u64().unwrap();
    let (status, e) = c
        .send(c.req(Method::POST, "/v1/envs", &c.admin).json(&create))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "revision_conflict");
    assert_eq!(e["details"]["key"], "/envs/dev");

    let (status, env) = c.get("/v1/envs/dev").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env["create_revision"], revision);
    assert_eq!(env["object"]["environment"]["quota"]["max_cpus"], "4");
    let (_, list) = c.get("/v1/envs").await;
    assert_eq!(keys(&list), ["/envs/dev"]);
    let (status, e) = c
        .send(
            c.req(Method::POST, "/v1/envs", &c.admin)
                .json(&json!({"name": "qa", "quota": {"max_gpus": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["details"]["field"], "quota.max_gpus");

    let (status, _) = c
        .send(c.req(Method::DELETE, "/v1/envs/dev", &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.get("/v1/envs/dev").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c
        .send(c.req(Method::DELETE, "/v1/envs/dev", &c.admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn configs_are_base64_and_written_conditionally() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let path = "/v1/envs/dev/configs/nginx";
    let put = |body: Value| c.req(Method::PUT, path, &c.admin).json(&body);
    // "listen 80;\n"
    let data = "bGlzdGVuIDgwOwo=";
    let (status, first) = c
        .send(put(json!({"data": data, "labels": {"a": "b"}})).header("if-none-match", "*"))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let rev = first["revision"].as_u64().unwrap();
    let (status, record) = c.get(path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        record["object"]["config"]["data"], data,
        "payloads read back as base64"
    );
    assert_eq!(record["mod_revision"], rev);

    // Create-only on an existing config, and a stale If-Match: both conflict.
    let (status, e) = c
        .send(put(json!({"data": "eA=="})).header("if-none-match", "*"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "revision_conflict");
    let stale = format!("\"{}\"", rev - 1);
    let (status, e) = c
        .send(put(json!({"data": "eA=="})).header("if-match", stale.as_str()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["details"]["found"], json!({"revision": rev}));
    assert_eq!(e["details"]["expected"], json!({"revision": rev - 1}));
    // The right revision wins.
    let (status, second) = c
        .send(put(json!({"data": "eA=="})).header("if-match", format!("\"{rev}\"")))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, e) = c.send(put(json!({"data": "not base64!"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, e) = c.send(put(json!({"data": "eA==", "extra": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "invalid_body");

    let (_, list) = c.get("/v1/envs/dev/configs").await;
    assert_eq!(keys(&list), ["/configs/dev/nginx"]);
    let (status, e) = c
        .send(
            c.req(Method::DELETE, path, &c.admin)
                .header("if-match", "\"1\""),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    let (status, _) = c.send(c.req(Method::DELETE, path, &c.admin)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.get(path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_created_listed_without_secrets_and_revoked() {
    let c = Cluster::one().await;
    let (status, created) = c
        .send(
            c.req(Method::POST, "/v1/tokens", &c.admin)
                .json(&json!({"role": "deploy", "envs": ["dev"], "description": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, list) = c.get("/v1/tokens").await;
    assert_eq!(keys(&list).len(), 2, "admin and the new one");
    for record in list["items"].as_array().unwrap() {
        assert_eq!(record["object"]["token"]["secret_sha256"], "");
    }
    let (status, _) = c
        .send(c.req(Method::DELETE, &format!("/v1/tokens/{id}"), &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c
        .send(c.req(Method::DELETE, &format!("/v1/tokens/{id}"), &c.admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = c
        .send(
            c.req(Method::POST, "/v1/tokens", &c.admin)
                .json(&json!({"role": "root"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_nodes_and_cluster_status_are_read() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    c.put(node("n1")).await;
    c.put(node("n2")).await;
    c.put(task("t1", "dev", "shop", "web", Some("n1"))).await;
    c.put(task("t2", "dev", "shop", "db", Some("n2"))).await;
    // On a node: the orchestrator deletes a task of no service that no node holds.
    c.put(task("t3", "dev", "blog", "web", Some("n1"))).await;

    let (status, nodes) = c.get("/v1/nodes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&nodes), ["/nodes/n1", "/nodes/n2"]);
    let (status, n1) = c.get("/v1/nodes/n1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(n1["object"]["node"]["status"], "ready");
    let (status, _) = c.get("/v1/nodes/n9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let cases: &[(&str, &[&str])] = &[
        ("/v1/tasks", &["/tasks/t1", "/tasks/t2", "/tasks/t3"]),
        ("/v1/tasks?env=dev&app=shop", &["/tasks/t1", "/tasks/t2"]),
        ("/v1/tasks?service=web", &["/tasks/t1", "/tasks/t3"]),
        ("/v1/tasks?node=n2", &["/tasks/t2"]),
        ("/v1/tasks?app=shop&service=web&node=n1", &["/tasks/t1"]),
        ("/v1/tasks?app=none", &[]),
        ("/v1/tasks?stale=true&app=blog", &["/tasks/t3"]),
    ];
    for (path, want) in cases {
        let (status, list) = c.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!(keys(&list), *want, "{path}");
    }
    let (status, t1) = c.get("/v1/tasks/t1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t1["object"]["task"]["node"], "n1");
    let (status, _) = c.get("/v1/tasks/t9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, cluster) = c.get("/v1/cluster").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cluster["leader"], 1);
    assert_eq!(cluster["members"].as_array().unwrap().len(), 1);
    c.shutdown().await;
}
