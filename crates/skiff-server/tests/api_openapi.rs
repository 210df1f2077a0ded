//! `GET /v1/openapi.json` against the live router: every operation in the document is served
//! (its path and method reach a handler, not the fallback), and a route outside it is not.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::Cluster;

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_is_routed_and_nothing_else_is() {
    let c = Cluster::one().await;
    let doc: Value = c
        .http
        .get(c.url(0, "/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, item) in paths {
        // Path parameters become names no object has; ids that must be numbers, a number
        // of no member.
        let concrete = path
            .replace(
                "{id}",
                if path.contains("cluster") {
                    "99"
                } else {
                    "nope"
                },
            )
            .replace(['{', '}'], "");
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            // Watches answer a stream; ask for one far in the future and drop it.
            let concrete = if concrete == "/v1/events" {
                "/v1/events?from=999999".to_owned()
            } else {
                concrete.clone()
            };
            let response = c
                .req(method.clone(), &concrete, &c.admin)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete}"
            );
            if concrete == "/v1/events?from=999999" {
                assert_eq!(status, StatusCode::OK);
                continue;
            }
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(
                body["code"], "no_such_route",
                "{method} {concrete} is not routed"
            );
            assert!(
                status.as_u16() < 500,
                "{method} {concrete}: {status} {body}"
            );
        }
    }
    // Not in the document, not served.
    for path in ["/v1/envs/dev/volumes", "/v1/apps", "/v2/envs"] {
        let (status, body) = c.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["code"], "no_such_route", "{path}");
    }
    c.shutdown().await;
}
