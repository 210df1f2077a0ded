//! Authentication and authorization over HTTP: 401 without or with a bad token, 403 across
//! environments and roles, what scoped tokens see, and malformed paths and queries.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{node, spec_json, task, Cluster, COMPOSE};

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_valid_token_are_unauthenticated() {
    let c = Cluster::one().await;
    let (status, e) = c.send(c.http.get(c.url(0, "/v1/envs"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
    assert_eq!(e["code"], "unauthenticated");
    let valid = c.admin.clone();
    let (id, _) = valid.rsplit_once('.').unwrap();
    for bad in [
        "nonsense".to_owned(),
        format!("{id}.wrongsecret"),
        "skiff.nosuchid.secret".to_owned(),
    ] {
        let (status, e) = c.send(c.req(Method::GET, "/v1/envs", &bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {e}");
        assert_eq!(e["code"], "unauthenticated");
    }
    let (status, _) = c
        .send(
            c.http
                .get(c.url(0, "/v1/envs"))
                .header("authorization", "Basic eDp5"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A revoked token stops working at once.
    let reader = c.token("read", &[]).await;
    let id = reader.split('.').nth(1).unwrap();
    let (status, _) = c
        .send(c.req(Method::DELETE, &format!("/v1/tokens/{id}"), &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.send(c.req(Method::GET, "/v1/envs", &reader)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Health and the OpenAPI document need no token.
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        let (status, _) = c.send(c.http.get(c.url(0, path))).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dev_deploy_token_cannot_touch_prod_and_a_reader_cannot_write() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    c.create_env("prod").await;
    let dev = c.token("deploy", &["dev"]).await;
    let reader = c.token("read", &[]).await;

    let (status, ok) = c.apply_yaml("dev", COMPOSE, &dev).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    for (path, method) in [
        ("/v1/envs/prod/apps", Method::POST),
        ("/v1/envs/prod/apps", Method::GET),
        ("/v1/envs/prod/apps/shop", Method::DELETE),
        ("/v1/envs/prod/services", Method::GET),
        ("/v1/envs/prod/configs/c", Method::PUT),
        ("/v1/envs/prod", Method::GET),
        ("/v1/tasks?env=prod", Method::GET),
        ("/v1/nodes", Method::GET),
        ("/v1/tokens", Method::GET),
    ] {
        let request = c
            .req(method.clone(), path, &dev)
            .json(&json!({"data": "eA=="}));
        let (status, e) = c.send(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {e}");
        assert_eq!(e["code"], "forbidden");
    }
    let (status, e) = c.apply_yaml("prod", COMPOSE, &dev).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert!(e["message"].as_str().unwrap().contains("prod"), "{e}");
    // A deploy token cannot create environments.
    let (status, _) = c
        .send(
            c.req(Method::POST, "/v1/envs", &dev)
                .json(&json!({"name": "dev2"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A cluster-wide reader reads everything and writes nothing.
    let (status, _) = c
        .send(c.req(Method::GET, "/v1/envs/dev/apps/shop", &reader))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.send(c.req(Method::GET, "/v1/nodes", &reader)).await;
    assert_eq!(status, StatusCode::OK);
    for (path, method) in [
        ("/v1/envs/dev/apps", Method::POST),
        ("/v1/envs/dev/apps/shop", Method::DELETE),
        ("/v1/envs/dev/configs/c", Method::PUT),
        ("/v1/envs/dev/configs/c", Method::DELETE),
    ] {
        let request = c.req(method.clone(), path, &reader).json(&spec_json("dev"));
        let (status, e) = c.send(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {e}");
    }
    let (status, _) = c.get("/v1/envs/dev/apps/shop").await;
    assert_eq!(status, StatusCode::OK, "the refused delete deleted nothing");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scoped_tokens_see_only_their_environments() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    c.create_env("prod").await;
    c.put(task("t-dev", "dev", "shop", "web", Some("n1"))).await;
    c.put(task("t-prod", "prod", "shop", "web", Some("n1")))
        .await;
    c.put(node("n1")).await;
    let dev = c.token("read", &["dev"]).await;

    let (status, envs) = c.send(c.req(Method::GET, "/v1/envs", &dev)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envs["items"].as_array().unwrap().len(), 1);
    assert_eq!(envs["items"][0]["key"], "/envs/dev");
    let (_, tasks) = c.send(c.req(Method::GET, "/v1/tasks", &dev)).await;
    let ids: Vec<&str> = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["/tasks/t-dev"]);
    let (status, _) = c.send(c.req(Method::GET, "/v1/tasks/t-dev", &dev)).await;
    assert_eq!(status, StatusCode::OK);
    // Another environment's task is as if it did not exist.
    let (status, e) = c.send(c.req(Method::GET, "/v1/tasks/t-prod", &dev)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    let (status, _) = c.send(c.req(Method::GET, "/v1/nodes/n1", &dev)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_names_queries_and_routes_are_refused() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    for path in [
        "/v1/envs/Dev",
        "/v1/envs/dev/apps/a_b",
        "/v1/envs/dev/apps/shop/services/-x",
        "/v1/envs/dev/configs/has.dot",
        "/v1/tasks/T1",
        "/v1/nodes/n%2F1",
        &format!("/v1/envs/{}", "a".repeat(64)),
    ] {
        let (status, e) = c.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {e}");
        assert_eq!(e["code"], "invalid_request", "{path}");
    }
    for path in [
        "/v1/envs?stale=true&x=1",
        "/v1/envs/dev/apps?limit=3",
        "/v1/envs/dev/services?ap=shop",
        "/v1/tasks?environment=dev",
        "/v1/tasks?stale=maybe",
        "/v1/nodes?all=1",
        "/v1/events",
        "/v1/events?from=0&since=2",
        "/v1/events?from=0&prefix=apps",
    ] {
        let (status, e) = c.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {e}");
    }
    let (status, e) = c.get("/v1/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["code"], "no_such_route");
    let (status, e) = c.send(c.req(Method::PATCH, "/v1/envs/dev", &c.admin)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(e["code"], "method_not_allowed");
    c.shutdown().await;
}
