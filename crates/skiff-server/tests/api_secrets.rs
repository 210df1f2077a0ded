//! Secrets over HTTP: sealed before they are written, never read back, refused with a message
//! naming the field when malformed, and absent in plaintext from every member's data directory.

mod support;

use std::path::Path;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::Cluster;

const PLAINTEXT: &str = "hunter2-the-plaintext-password";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every file under `dir`, read whole.
fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_sealed_never_read_back_and_absent_from_the_data_dirs() {
    let c = Cluster::with(3, |c| c).await;
    c.create_env("dev").await;
    let path = "/v1/envs/dev/secrets/db-password";
    // Written through a follower: forwarded, sealed by the leader.
    let follower = c.follower().await;
    let body = json!({"data": b64(PLAINTEXT.as_bytes()), "labels": {"team": "shop"}});
    let (status, created) = c
        .send(
            c.req_to(follower, Method::PUT, path, &c.admin)
                .header("if-none-match", "*")
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let rev = created["revision"].as_u64().unwrap();
    let (status, again) = c
        .send(
            c.req(Method::PUT, path, &c.admin)
                .header("if-none-match", "*")
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "revision_conflict");

    let (status, info) = c.get(path).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        info,
        json!({"env": "dev", "name": "db-password", "labels": {"team": "shop"},
               "size": PLAINTEXT.len(), "key_id": "cluster-v1",
               "create_revision": rev, "mod_revision": rev})
    );
    let (status, list) = c.get("/v1/envs/dev/secrets").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"], json!([info]));
    // The watch stream does not end: read its first chunk.
    let mut watch = c
        .http
        .get(c.url(0, "/v1/events?from=0&prefix=/secrets/"))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), watch.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let line: Value = serde_json::from_slice(first.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["key"], "/secrets/dev/db-password", "{line}");
    assert_eq!(line["object"]["secret"]["ciphertext"], "", "{line}");
    drop(watch);
    for answer in [&info, &list, &line] {
        let text = answer.to_string();
        assert!(!text.contains(PLAINTEXT), "{text}");
        assert!(!text.contains(&b64(PLAINTEXT.as_bytes())), "{text}");
    }

    let (status, _) = c.send(c.req(Method::DELETE, path, &c.admin)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.get(path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c.send(c.req(Method::DELETE, path, &c.admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let dir = c.stop().await;
    // Every member holds the same cluster secret, so any of them derives the key that opens
    // what the leader sealed.
    let secret = |id: u64| std::fs::read(dir.path().join(format!("s{id}/cluster.secret"))).unwrap();
    assert_eq!(secret(1), secret(2));
    assert_eq!(secret(1), secret(3));
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    assert!(all.len() > 3, "the data dirs hold files");
    for (file, bytes) in &all {
        assert!(
            !contains(bytes, PLAINTEXT.as_bytes()),
            "{file} holds the plaintext"
        );
        assert!(
            !contains(bytes, b64(PLAINTEXT.as_bytes()).as_bytes()),
            "{file} holds the plaintext in base64"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_secret_writes_are_refused_naming_the_field() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let put = |path: &str, body: Value| c.req(Method::PUT, path, &c.admin).json(&body);
    let ok = "/v1/envs/dev/secrets/ok";
    let too_many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (
            put("/v1/envs/dev/secrets/Bad_Name", json!({"data": "eA=="})),
            "secret name \"Bad_Name\"",
        ),
        (
            put(ok, json!({"data": "not base64!"})),
            "field data: not base64",
        ),
        (put(ok, json!({"data": ""})), "field data: empty"),
        (
            put(ok, json!({"data": b64(&vec![7u8; 500 * 1024 + 1])})),
            "field data: about",
        ),
        (
            put(ok, json!({"data": "eA==", "labels": too_many})),
            "field labels: 65 labels",
        ),
        (
            put(ok, json!({"data": "eA==", "labels": {"": "v"}})),
            "field labels: label \"\"",
        ),
        (
            put(ok, json!({"data": "eA==", "plaintext": "x"})),
            "plaintext",
        ),
        (put(ok, json!({"labels": {}})), "data"),
        (put(ok, json!({"data": 5})), "data"),
    ];
    for (request, expected) in cases {
        let (status, e) = c.send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(expected), "{expected:?} not in {e}");
    }
    // Hostile: a name that walks up, a body past the server's limit.
    let (status, e) = c
        .send(put(
            "/v1/envs/dev/secrets/..%2F..%2Fetc",
            json!({"data": "eA=="}),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("secret name \"../../etc\""),
        "{e}"
    );
    let huge = format!("{{\"data\": \"{}\"}}", "A".repeat(5 << 20));
    let (status, e) = c
        .send(
            c.req(Method::PUT, ok, &c.admin)
                .header("content-type", "application/json")
                .body(huge),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert_eq!(e["code"], "body_too_large");
    let (status, e) = c
        .send(
            c.req(Method::PUT, ok, &c.admin)
                .header("if-none-match", "\"3\"")
                .json(&json!({"data": "eA=="})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    // Nothing was written by any of them.
    let (_, list) = c.get("/v1/envs/dev/secrets").await;
    assert_eq!(list["items"], json!([]));

    // A read-only token reads metadata but may not write; a token of another env sees nothing.
    let reader = c.token("read", &["dev"]).await;
    let (status, e) = c
        .send(
            c.req(Method::PUT, ok, &reader)
                .json(&json!({"data": "eA=="})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (status, _) = c
        .send(
            c.req(Method::PUT, ok, &c.admin)
                .json(&json!({"data": "eA=="})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = c
        .send(c.req(Method::GET, "/v1/envs/dev/secrets", &reader))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["name"], "ok");
    let other = c.token("admin", &["prod"]).await;
    let (status, e) = c
        .send(c.req(Method::GET, "/v1/envs/dev/secrets", &other))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    c.shutdown().await;
}
