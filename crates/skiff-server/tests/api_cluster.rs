//! The API on a 3-server cluster: followers forward writes and linearizable reads to the
//! leader, serve `stale=true` reads and watches themselves, and refuse oversized bodies.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Cluster, COMPOSE, DEADLINE};

#[tokio::test(flavor = "multi_thread")]
async fn followers_forward_writes_and_linearizable_reads() {
    let c = Cluster::with(3, |config| config).await;
    let leader = c.leader().await;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let (a, b) = (followers[0], followers[1]);

    // A write on one follower is at once visible to a linearizable read on the other.
    let create = c
        .req_to(a, Method::POST, "/v1/envs", &c.admin)
        .json(&json!({"name": "dev"}));
    let (status, created) = c.send_retrying(create).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, env) = c
        .send_retrying(c.req_to(b, Method::GET, "/v1/envs/dev", &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{env}");
    assert_eq!(env["create_revision"], created["revision"]);

    // An apply, a dry run and a delete through a follower.
    let apply = |server: usize, query: &str| {
        c.req_to(
            server,
            Method::POST,
            &format!("/v1/envs/dev/apps{query}"),
            &c.admin,
        )
        .header("content-type", "application/yaml")
        .body(COMPOSE)
    };
    let (status, applied) = c.send_retrying(apply(a, "")).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let (status, again) = c.send_retrying(apply(b, "?dry_run=true")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["revision"], serde_json::Value::Null);
    let (status, history) = c
        .send_retrying(c.req_to(b, Method::GET, "/v1/envs/dev/apps/shop/history", &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["mod_revision"], applied["revision"]);

    // A stale read is answered by the follower itself: it catches up on its own.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let path = "/v1/envs/dev/apps/shop?stale=true";
        let (status, _) = c
            .send_retrying(c.req_to(b, Method::GET, path, &c.admin))
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = c
        .send_retrying(c.req_to(a, Method::DELETE, "/v1/envs/dev/apps/shop", &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c
        .send_retrying(c.req_to(b, Method::GET, "/v1/envs/dev/apps/shop", &c.admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_quorum_only_stale_reads_are_served() {
    let mut c = Cluster::with(3, |config| config).await;
    c.create_env("dev").await;
    let survivor = c.follower().await;
    // Let the survivor apply the environment before its peers go.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let path = "/v1/envs/dev?stale=true";
        let (status, _) = c
            .send_retrying(c.req_to(survivor, Method::GET, path, &c.admin))
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let survivor_server = c.servers.remove(survivor);
    for server in c.servers.drain(..) {
        server.shutdown().await.unwrap();
    }
    c.servers.push(survivor_server);

    let (status, env) = c.get("/v1/envs/dev?stale=true").await;
    assert_eq!(status, StatusCode::OK, "{env}");
    let response = c
        .req(Method::GET, "/v1/envs/dev", &c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let e: serde_json::Value = response.json().await.unwrap();
    assert!(
        [
            "no_leader",
            "not_leader",
            "leader_unreachable",
            "timeout",
            "no_quorum"
        ]
        .contains(&e["code"].as_str().unwrap()),
        "{e}"
    );
    assert!(e["details"]["retry_after_ms"].as_u64().unwrap() > 0);
    let (status, _) = c
        .send(
            c.req(Method::POST, "/v1/envs", &c.admin)
                .json(&json!({"name": "qa"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_refuses_an_oversized_body_and_serves_watches_and_the_document() {
    let c = Cluster::with(3, |mut config| {
        config.body_limit = 32 << 10;
        config
    })
    .await;
    c.create_env("dev").await;
    let follower = c.follower().await;
    let big = json!({"data": "A".repeat(64 << 10)});
    let put = |server| {
        c.req_to(server, Method::PUT, "/v1/envs/dev/configs/big", &c.admin)
            .json(&big)
    };
    let (status, e) = c.send_retrying(put(follower)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert_eq!(e["code"], "body_too_large");
    let leader = c.leader().await;
    let (status, _) = c.send_retrying(put(leader)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // The watch is the follower's own, and sees a write made on the leader.
    let (_, list) = c.get("/v1/envs").await;
    let path = format!("/v1/events?from={}", list["revision"]);
    let mut watch = c
        .req_to(follower, Method::GET, &path, &c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), StatusCode::OK);
    let create = c
        .req_to(leader, Method::POST, "/v1/envs", &c.admin)
        .json(&json!({"name": "qa"}));
    assert_eq!(c.send_retrying(create).await.0, StatusCode::CREATED);
    let chunk = tokio::time::timeout(DEADLINE, watch.chunk())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
    let event: serde_json::Value = serde_json::from_slice(chunk.trim_ascii()).unwrap();
    assert_eq!(event["key"], "/envs/qa");
    drop(watch);

    let doc = c
        .http
        .get(c.url(follower, "/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), StatusCode::OK);
    c.shutdown().await;
}
