//! The client's failover and retries against stub servers: which failures move on to the next
//! server, which wait and retry, which are final, and when the client gives up.

mod stub;

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use skiff_client::{Client, Error, Expect};
use stub::{empty_list, error, refused, unavailable, Counter, Stub};

fn client(servers: &[String]) -> Client {
    Client::new(servers.to_vec(), Some("skiff.t1.secret".into())).unwrap()
}

/// A stub whose `GET /v1/envs` answers 503 to the first `failures` requests, then a listing.
async fn flaky(failures: usize, retry_after_ms: u64) -> (Stub, Counter) {
    let count = Counter::default();
    let seen = count.clone();
    let router = Router::new().route(
        "/v1/envs",
        get(move || async move {
            if seen.bump() < failures {
                unavailable(retry_after_ms)
            } else {
                empty_list(42)
            }
        }),
    );
    (Stub::serve(router).await, count)
}

#[tokio::test]
async fn a_refused_server_is_skipped_and_a_503_is_retried_after_its_hint() {
    let dead = refused();
    let (live, count) = flaky(1, 300).await;
    let client = client(&[dead, live.name()]);
    let started = Instant::now();
    let list = client.list_envs().await.unwrap();
    assert_eq!(list.revision, 42);
    assert_eq!(count.get(), 2, "one 503, then the answer");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the retry waited for retry_after_ms: {:?}",
        started.elapsed()
    );
    // The server that answered is asked first from now on: no detour through the dead one.
    let started = Instant::now();
    client.list_envs().await.unwrap();
    assert_eq!(count.get(), 3);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_503_moves_on_to_the_next_server_at_once() {
    let (leaderless, first) = flaky(usize::MAX, 5_000).await;
    let (leader, second) = flaky(0, 0).await;
    let started = Instant::now();
    let list = client(&[leaderless.name(), leader.name()])
        .list_envs()
        .await
        .unwrap();
    assert_eq!(list.revision, 42);
    assert_eq!((first.get(), second.get()), (1, 1));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no pause before the next server"
    );
}

#[tokio::test]
async fn other_errors_are_final() {
    for (status, code) in [
        (StatusCode::NOT_FOUND, "not_found"),
        (StatusCode::FORBIDDEN, "forbidden"),
        (StatusCode::CONFLICT, "revision_conflict"),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    ] {
        let count = Counter::default();
        let seen = count.clone();
        let router = Router::new().route(
            "/v1/envs/{env}",
            get(move || async move {
                seen.bump();
                error(status, code, "as the server says")
            }),
        );
        let stub = Stub::serve(router).await;
        let (spare, other) = flaky(0, 0).await;
        let err = client(&[stub.name(), spare.name()])
            .get_env("dev")
            .await
            .unwrap_err();
        assert_eq!(count.get(), 1, "{code}: asked once");
        assert_eq!(other.get(), 0, "{code}: no other server asked");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.to_string(), "as the server says");
    }
}

#[tokio::test]
async fn unreachable_servers_are_named_when_the_deadline_passes() {
    let (a, b) = (refused(), refused());
    let started = Instant::now();
    let err = client(&[a.clone(), b.clone()])
        .with_retry_deadline(Duration::from_millis(400))
        .list_envs()
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let Error::Unreachable { tried, last } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(tried, &[a.clone(), b.clone()]);
    assert!(last.contains("cannot connect"), "{last}");
    let text = err.to_string();
    assert!(text.contains(&a) && text.contains(&b), "{text}");
}

#[tokio::test]
async fn a_lasting_503_is_retried_until_the_deadline_then_reported() {
    let (stub, count) = flaky(usize::MAX, 50).await;
    let started = Instant::now();
    let err = client(&[stub.name()])
        .with_retry_deadline(Duration::from_millis(500))
        .list_envs()
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(count.get() >= 4, "retried every 50 ms: {}", count.get());
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.code(), Some("no_leader"));
}

#[tokio::test]
async fn a_server_that_hangs_is_given_up_after_the_attempt_timeout() {
    let hanging = Router::new().route(
        "/v1/envs",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            empty_list(1)
        }),
    );
    let hanging = Stub::serve(hanging).await;
    let (live, count) = flaky(0, 0).await;
    let started = Instant::now();
    let list = client(&[hanging.name(), live.name()])
        .with_attempt_timeout(Duration::from_millis(200))
        .list_envs()
        .await
        .unwrap();
    assert_eq!(list.revision, 42);
    assert_eq!(count.get(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn writes_are_retried_with_their_token_precondition_and_body() {
    let count = Counter::default();
    let seen = count.clone();
    let router = Router::new().route(
        "/v1/envs/{env}/configs/{name}",
        put(move |headers: HeaderMap, body: String| async move {
            let header = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(
                header("authorization").as_deref(),
                Some("Bearer skiff.t1.secret")
            );
            assert_eq!(header("if-match").as_deref(), Some("\"7\""));
            assert_eq!(header("content-type").as_deref(), Some("application/json"));
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["data"], "aGVsbG8=");
            if seen.bump() == 0 {
                unavailable(10)
            } else {
                axum::Json(serde_json::json!({"revision": 8})).into_response()
            }
        }),
    );
    let stub = Stub::serve(router).await;
    let written = client(&[stub.name()])
        .put_config(
            "dev",
            "site",
            b"hello",
            Default::default(),
            Expect::Revision(7),
        )
        .await
        .unwrap();
    assert_eq!(written.revision, 8);
    assert_eq!(count.get(), 2);
}

#[tokio::test]
async fn an_answer_that_is_not_the_apis_is_reported_with_its_status() {
    let router = Router::new().route(
        "/v1/envs",
        get(|| async { (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>") }),
    );
    let stub = Stub::serve(router).await;
    let err = client(&[stub.name()]).list_envs().await.unwrap_err();
    assert_eq!(err.code(), Some("http_502"));
    assert!(err.to_string().contains("bad gateway"), "{err}");
    let router = Router::new().route("/v1/envs", get(|| async { "not json" }));
    let stub = Stub::serve(router).await;
    let err = client(&[stub.name()]).list_envs().await.unwrap_err();
    assert!(
        matches!(&err, Error::Decode { endpoint, .. } if endpoint == "GET /v1/envs"),
        "{err:?}"
    );
}

/// A stub whose config `PUT` counts its calls and answers with `answer`.
async fn put_stub(answer: fn() -> axum::response::Response) -> (Stub, Counter) {
    let count = Counter::default();
    let seen = count.clone();
    let router = Router::new().route(
        "/v1/envs/{env}/configs/{name}",
        put(move || async move {
            seen.bump();
            answer()
        }),
    );
    (Stub::serve(router).await, count)
}

#[tokio::test]
async fn a_write_that_may_have_been_applied_is_not_sent_again() {
    // The leader could not say whether the write committed: a 503 `timeout`.
    let (unsure, unsure_calls) = put_stub(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the cluster did not answer",
        )
    })
    .await;
    let (other, other_calls) =
        put_stub(|| axum::Json(serde_json::json!({"revision": 3})).into_response()).await;
    let got = client(&[unsure.name(), other.name()])
        .put_config("dev", "site", b"x", Default::default(), Expect::Any)
        .await
        .unwrap_err();
    assert_eq!(got.code(), Some("timeout"), "{got}");
    assert_eq!((unsure_calls.get(), other_calls.get()), (1, 0));
}

/// A stub whose scale `POST` counts its calls and answers with `answer`.
async fn scale_stub(answer: fn() -> axum::response::Response) -> (Stub, Counter) {
    let count = Counter::default();
    let seen = count.clone();
    let router = Router::new().route(
        "/v1/envs/{env}/apps/{app}/services/{service}/scale",
        post(move || async move {
            seen.bump();
            answer()
        }),
    );
    (Stub::serve(router).await, count)
}

#[tokio::test]
async fn an_idempotent_write_that_may_have_been_applied_is_sent_again() {
    // A scale to N does nothing more when sent twice: unlike other writes, it is retried.
    let (unsure, unsure_calls) = scale_stub(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the cluster did not answer",
        )
    })
    .await;
    let (other, other_calls) = scale_stub(|| {
        axum::Json(serde_json::json!({
            "revision": null,
            "dry_run": false,
            "diff": {"env": "dev", "app": "shop", "from_revision": 2, "to_revision": 2, "objects": []},
        }))
        .into_response()
    })
    .await;
    let got = client(&[unsure.name(), other.name()])
        .scale_service("dev", "shop", "web", 5)
        .await
        .unwrap();
    assert_eq!(got.revision, None, "the first attempt had applied it");
    assert_eq!((unsure_calls.get(), other_calls.get()), (1, 1));
}
