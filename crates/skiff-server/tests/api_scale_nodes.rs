//! `POST …/services/{svc}/scale` and `PATCH /v1/nodes/{id}` over HTTP on one server.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{node, Cluster};

const SHOP: &str = "name: shop\nservices:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n  mon:\n    image: busybox\n    deploy:\n      mode: global\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_service_is_scaled_through_a_new_app_revision() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let (status, applied) = c.apply_yaml("dev", SHOP, &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let scale = |svc: &str, body: serde_json::Value| {
        c.req(
            Method::POST,
            &format!("/v1/envs/dev/apps/shop/services/{svc}/scale"),
            &c.admin,
        )
        .json(&body)
    };
    let (status, scaled) = c.send(scale("web", json!({"replicas": 5}))).await;
    assert_eq!(status, StatusCode::OK, "{scaled}");
    assert!(scaled["revision"].as_u64().is_some(), "{scaled}");
    let (_, service) = c.get("/v1/envs/dev/apps/shop/services/web").await;
    let spec = &service["object"]["service"]["spec"];
    assert_eq!(
        spec["deploy"]["mode"]["replicated"]["replicas"], 5,
        "{service}"
    );
    let (_, history) = c.get("/v1/envs/dev/apps/shop/history").await;
    assert_eq!(
        history["revisions"].as_array().map(Vec::len),
        Some(2),
        "{history}"
    );

    // The same count again writes nothing.
    let (status, again) = c.send(scale("web", json!({"replicas": 5}))).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(again["revision"].is_null(), "{again}");

    for (svc, body, code, words) in [
        (
            "mon",
            json!({"replicas": 2}),
            StatusCode::BAD_REQUEST,
            "is global",
        ),
        (
            "db",
            json!({"replicas": 2}),
            StatusCode::NOT_FOUND,
            "has no service db",
        ),
        (
            "web",
            json!({"replicas": -1}),
            StatusCode::BAD_REQUEST,
            "replicas",
        ),
        (
            "web",
            json!({"replica": 1}),
            StatusCode::BAD_REQUEST,
            "replica",
        ),
        (
            "web",
            json!({"replicas": 20000}),
            StatusCode::BAD_REQUEST,
            "limit of 10000",
        ),
    ] {
        let (status, e) = c.send(scale(svc, body)).await;
        assert_eq!(status, code, "{svc}: {e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{svc}: {e}");
    }
    let reader = c.token("read", &["dev"]).await;
    let (status, e) = c
        .send(
            c.req(
                Method::POST,
                "/v1/envs/dev/apps/shop/services/web/scale",
                &reader,
            )
            .json(&json!({"replicas": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_is_drained_and_labelled_by_an_admin_only() {
    let c = Cluster::one().await;
    c.put(node("n1")).await;
    let patch = |body: serde_json::Value, token: &str| {
        c.req(Method::PATCH, "/v1/nodes/n1", token).json(&body)
    };
    let (status, written) = c
        .send(patch(
            json!({"availability": "drain", "labels": {"zone": "b", "gone": null}}),
            &c.admin,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{written}");
    let (_, got) = c.get("/v1/nodes/n1").await;
    assert_eq!(got["mod_revision"], written["revision"]);
    let node = &got["object"]["node"];
    assert_eq!(node["availability"], "drain", "{got}");
    assert_eq!(node["labels"]["zone"], "b", "{got}");

    // Nothing to change answers the node's revision.
    let (status, same) = c
        .send(patch(json!({"availability": "drain"}), &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["revision"], written["revision"]);

    for (body, words) in [
        (json!({"availability": "away"}), "availability"),
        (json!({"labels": {"a=b": "x"}}), "may not hold '='"),
        (json!({"status": "down"}), "status"),
    ] {
        let (status, e) = c.send(patch(body.clone(), &c.admin)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(words),
            "{body}: {e}"
        );
    }
    let (status, e) = c
        .send(
            c.req(Method::PATCH, "/v1/nodes/n9", &c.admin)
                .json(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    let deployer = c.token("deploy", &["dev"]).await;
    let (status, e) = c
        .send(patch(json!({"availability": "active"}), &deployer))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
}
