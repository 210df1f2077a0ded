//! `GET /v1/events`: the NDJSON watch stream over HTTP — an apply's events in order, prefixes,
//! what scoped tokens see, and 410 for a revision older than the history a server keeps.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::{Cluster, COMPOSE, DEADLINE};

/// An open watch, read line by line.
struct Watch {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Watch {
    async fn open(c: &Cluster, server: usize, query: &str, token: &str) -> Watch {
        let path = format!("/v1/events?{query}");
        let response = c
            .req_to(server, Method::GET, &path, token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        Watch {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event, or `None` when none comes within `wait`. Task events are skipped:
    /// the leader's loops create and place tasks for the apps these tests apply, and these
    /// tests are about apps and services.
    async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let event: Value = serde_json::from_slice(&line).expect("each line is JSON");
                if event["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("/tasks/"))
                {
                    continue;
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.extend_from_slice(&bytes),
                Ok(Ok(None)) => panic!("the stream ended"),
                Ok(Err(e)) => panic!("the stream broke: {e}"),
                Err(_) => return None,
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.next_within(DEADLINE)
            .await
            .expect("an event within the deadline")
    }

    /// The next `n` events as `(revision, key, kind)`.
    async fn take(&mut self, n: usize) -> Vec<(u64, String, String)> {
        let mut events = Vec::new();
        for _ in 0..n {
            let e = self.next().await;
            events.push((
                e["revision"].as_u64().unwrap(),
                e["key"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            ));
        }
        events
    }
}

fn keys(events: &[(u64, String, String)]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|(_, k, kind)| (k.as_str(), kind.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_applys_events_arrive_in_order_then_its_deletion() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let (_, list) = c.get("/v1/envs/dev/apps").await;
    let from = list["revision"].as_u64().unwrap();
    let mut watch = Watch::open(&c, 0, &format!("from={from}"), &c.admin).await;

    let (_, applied) = c.apply_yaml("dev", COMPOSE, &c.admin).await;
    let revision = applied["revision"].as_u64().unwrap();
    let events = watch.take(3).await;
    assert!(events.iter().all(|(r, _, _)| *r == revision), "{events:?}");
    assert_eq!(
        keys(&events),
        [
            ("/apps/dev/shop", "put"),
            ("/services/dev/shop/cache", "put"),
            ("/services/dev/shop/web", "put"),
        ]
    );
    let (status, _) = c
        .send(c.req(Method::DELETE, "/v1/envs/dev/apps/shop", &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let deleted = watch.next().await;
    assert_eq!(deleted["kind"], "delete");
    assert_eq!(deleted["key"], "/services/dev/shop/cache");
    assert!(
        deleted["object"]["service"].is_object(),
        "a delete carries what it removed"
    );
    assert_eq!(watch.take(2).await.len(), 2);

    // A watch from before the apply replays it all; one with a prefix only its keys.
    let mut replay = Watch::open(&c, 0, &format!("from={from}&prefix=/apps/"), &c.admin).await;
    let events = replay.take(2).await;
    assert_eq!(
        keys(&events),
        [("/apps/dev/shop", "put"), ("/apps/dev/shop", "delete")]
    );
    drop((watch, replay));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_watch_does_not_see_other_environments() {
    // Without the leader's loops, the applies' own writes are all there is to count (the
    // orchestrator would add the services' virtual IPs).
    let c = Cluster::with(1, |mut config| {
        config.controllers = false;
        config
    })
    .await;
    c.create_env("dev").await;
    c.create_env("prod").await;
    let dev = c.token("read", &["dev"]).await;
    let (_, list) = c.get("/v1/envs").await;
    let from = list["revision"].as_u64().unwrap();
    let mut watch = Watch::open(&c, 0, &format!("from={from}"), &dev).await;
    let mut all = Watch::open(&c, 0, &format!("from={from}"), &c.admin).await;

    let (status, _) = c.apply_yaml("prod", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.apply_yaml("dev", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::OK);
    // The admin sees prod's then dev's; the dev reader, whose stream carries the same
    // revisions in the same order, sees dev's only.
    let everything = all.take(6).await;
    assert!(everything[0].1.contains("/prod/") && everything[5].1.contains("/dev/"));
    let seen = watch.take(3).await;
    assert!(seen.iter().all(|(_, k, _)| k.contains("/dev/")), "{seen:?}");
    assert_eq!(watch.next_within(Duration::from_millis(300)).await, None);
    drop((watch, all));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_older_than_a_restarted_servers_history_is_gone() {
    let c = Cluster::with(1, |mut config| {
        config.raft.snapshot_every = 5;
        config
    })
    .await;
    for env in ["a", "b", "c", "d", "e", "f"] {
        c.create_env(env).await;
    }
    // Wait for a snapshot, then restart from it: the history starts at the snapshot.
    let raft = c.servers[0].control().raft().clone();
    let snapshot = raft
        .wait(Some(DEADLINE))
        .metrics(|m| m.snapshot.is_some_and(|s| s.index > 1), "a snapshot")
        .await
        .expect("a snapshot is built")
        .snapshot
        .unwrap()
        .index;
    drop(raft);
    let admin = c.admin.clone();
    let dir = c.data_dir(1);
    let _keep = c.stop().await;
    let server = support::start(support::config(1, &dir, skiff_server::Start::Wait)).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/v1/events?from=1", server.local_addr());
    let response = http.get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let e: Value = response.json().await.unwrap();
    assert_eq!(e["code"], "compacted", "{e}");
    let oldest = e["details"]["oldest"].as_u64().unwrap();
    assert!(oldest >= snapshot, "{e}");
    let url = format!("http://{}/v1/events?from={oldest}", server.local_addr());
    let response = http.get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    server.shutdown().await.unwrap();
}
