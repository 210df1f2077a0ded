//! `/v1/envs/{env}/apps` and the services an apply writes, over HTTP on one server: apply as
//! YAML or JSON, dry runs, idempotence, history, delete, and every kind of bad manifest.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{changes, spec_json, Cluster, COMPOSE};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, c)| (k.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_yaml_then_read_history_and_delete() {
    let c = Cluster::one().await;
    c.create_env("dev").await;

    let (status, first) = c.apply_yaml("dev", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["dry_run"], false);
    let revision = first["revision"]
        .as_u64()
        .expect("an apply that writes has a revision");
    assert_eq!(
        changes(&first),
        pairs(&[
            ("/apps/dev/shop", "added"),
            ("/services/dev/shop/cache", "added"),
            ("/services/dev/shop/web", "added"),
        ])
    );

    let (status, app) = c.get("/v1/envs/dev/apps/shop").await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert_eq!(app["key"], "/apps/dev/shop");
    assert_eq!(app["mod_revision"], revision);
    assert_eq!(app["object"]["app"]["spec_revision"], 1);
    let (_, list) = c.get("/v1/envs/dev/apps").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["revision"].as_u64().unwrap() >= revision);

    let (status, services) = c.get("/v1/envs/dev/services?app=shop").await;
    assert_eq!(status, StatusCode::OK, "{services}");
    let keys: Vec<&str> = services["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["/services/dev/shop/cache", "/services/dev/shop/web"]);
    let (status, web) = c.get("/v1/envs/dev/apps/shop/services/web").await;
    assert_eq!(status, StatusCode::OK, "{web}");
    assert_eq!(web["object"]["service"]["spec"]["image"], "nginx:1");
    let (_, all) = c.get("/v1/envs/dev/services").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    // A second apply that changes one service: spec revision 2, history of two.
    let changed = COMPOSE.replace("nginx:1", "nginx:2");
    let (status, second) = c.apply_yaml("dev", &changed, &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        changes(&second),
        pairs(&[
            ("/apps/dev/shop", "changed"),
            ("/services/dev/shop/cache", "unchanged"),
            ("/services/dev/shop/web", "changed"),
        ])
    );
    let web_fields = &second["diff"]["objects"][2]["fields"];
    assert!(web_fields
        .as_array()
        .unwrap()
        .contains(&json!({"field": "image", "from": "nginx:1", "to": "nginx:2"})));
    let (status, history) = c.get("/v1/envs/dev/apps/shop/history").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let revisions = history["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["spec_revision"], 2);
    assert_eq!(revisions[0]["spec"]["services"]["web"]["image"], "nginx:2");
    assert_eq!(revisions[1]["spec_revision"], 1);
    assert_eq!(history["mod_revision"], second["revision"]);

    // Delete: the app and its services go; a second delete and a get are 404.
    let (status, deleted) = c
        .send(c.req(Method::DELETE, "/v1/envs/dev/apps/shop", &c.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert!(deleted["revision"].as_u64().unwrap() > second["revision"].as_u64().unwrap());
    let (status, gone) = c.get("/v1/envs/dev/apps/shop").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["code"], "not_found");
    let (_, services) = c.get("/v1/envs/dev/services").await;
    assert_eq!(services["items"], json!([]));
    let (status, _) = c
        .send(c.req(Method::DELETE, "/v1/envs/dev/apps/shop", &c.admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c.get("/v1/envs/dev/apps/shop/history").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_twice_is_a_no_op_and_json_equals_yaml() {
    let c = Cluster::one().await;
    c.create_env("prod").await;
    // JSON, as the CLI sends it, for prod (where the override makes web 5 replicas).
    let spec = spec_json("prod");
    let (status, first) = c
        .send(
            c.req(Method::POST, "/v1/envs/prod/apps", &c.admin)
                .json(&spec),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, web) = c.get("/v1/envs/prod/apps/shop/services/web").await;
    assert_eq!(
        web["object"]["service"]["spec"]["deploy"]["mode"],
        json!({"replicated": {"replicas": 5}})
    );
    let (_, before) = c.get("/v1/envs/prod/apps").await;

    // The same app again, this time as YAML loaded on the server: nothing to do.
    let (status, again) = c.apply_yaml("prod", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["revision"], Value::Null);
    assert!(
        changes(&again)
            .iter()
            .all(|(_, change)| change == "unchanged"),
        "{again}"
    );
    assert_eq!(again["diff"]["from_revision"], 1);
    assert_eq!(again["diff"]["to_revision"], 1);
    let (_, after) = c.get("/v1/envs/prod/apps").await;
    assert_eq!(
        before["items"], after["items"],
        "a no-op apply rewrote the app"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_answers_the_diff_and_writes_nothing() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let (_, before) = c.get("/v1/envs/dev/apps").await;
    let path = "/v1/envs/dev/apps?dry_run=true";
    let (status, dry) = c
        .send(
            c.req(Method::POST, path, &c.admin)
                .header("content-type", "application/yaml")
                .body(COMPOSE),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["revision"], Value::Null);
    assert_eq!(changes(&dry)[0], ("/apps/dev/shop".into(), "added".into()));
    let (status, _) = c.get("/v1/envs/dev/apps/shop").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, after) = c.get("/v1/envs/dev/apps").await;
    assert_eq!(after["items"], json!([]));
    // Nothing was proposed: the state's revision did not move.
    assert_eq!(before["revision"], after["revision"]);

    let (status, bad) = c
        .send(
            c.req(Method::POST, "/v1/envs/dev/apps?dryrun=true", &c.admin)
                .json(&spec_json("dev")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("dryrun"), "{bad}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_yaml_manifest_lists_every_problem_with_its_location() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let yaml = "\
name: shop
services:
  web:
    image: nginx
    deploy:
      replica: 2
  Bad_Name:
    image: redis
  db:
    ports: [\"99999:80\"]
";
    let (status, e) = c.apply_yaml("dev", yaml, &c.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "invalid_manifest");
    let problems = e["details"]["problems"].as_array().unwrap();
    let fields: Vec<&str> = problems
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"services.web.deploy.replica"), "{e}");
    assert!(fields.contains(&"services.Bad_Name"), "{e}");
    assert!(fields.iter().any(|f| f.starts_with("services.db")), "{e}");
    let replica = problems
        .iter()
        .find(|p| p["field"] == "services.web.deploy.replica")
        .unwrap();
    assert_eq!(replica["location"], "request body:6:7");
    assert!(
        replica["message"].as_str().unwrap().contains("replicas"),
        "{replica}"
    );
    let (_, apps) = c.get("/v1/envs/dev/apps").await;
    assert_eq!(apps["items"], json!([]));

    // Broken YAML syntax: one problem, at its line and column.
    let (status, e) = c
        .apply_yaml("dev", "name: shop\nservices:\n  web: [unclosed\n", &c.admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "invalid_manifest");
    let location = e["details"]["problems"][0]["location"].as_str().unwrap();
    assert!(location.starts_with("request body:"), "{e}");
    assert!(
        location.split(':').count() == 3,
        "line and column: {location}"
    );

    // An include cannot be read on the server.
    let (status, e) = c
        .apply_yaml(
            "dev",
            "name: shop\ninclude: [db.yaml]\nservices: {}\n",
            &c.admin,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let message = e["details"]["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("includes and env files are not read"),
        "{e}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_json_manifest_names_line_column_and_field() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let post = |body: Vec<u8>| {
        c.req(Method::POST, "/v1/envs/dev/apps", &c.admin)
            .header("content-type", "application/json")
            .body(body)
    };
    // Malformed JSON.
    let (status, e) = c.send(post(b"{\"name\": \"shop\",\n".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "invalid_manifest");
    assert!(e["details"]["problems"][0]["location"]
        .as_str()
        .unwrap()
        .starts_with("request body:2:"));

    // An unknown field, named with its path.
    let mut spec = spec_json("dev");
    spec["services"]["web"]["imagex"] = json!("x");
    let (status, e) = c
        .send(post(serde_json::to_vec_pretty(&spec).unwrap()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let problem = &e["details"]["problems"][0];
    assert_eq!(problem["field"], "services.web.imagex", "{e}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{e}"
    );
    assert!(problem["location"]
        .as_str()
        .unwrap()
        .starts_with("request body:"));

    // A spec for another environment with invalid names: all three problems at once.
    let mut spec = spec_json("prod");
    spec["name"] = json!("Shop");
    let web = spec["services"]["web"].take();
    spec["services"]
        .as_object_mut()
        .unwrap()
        .insert("web_1".into(), web);
    spec["services"].as_object_mut().unwrap().remove("web");
    let (status, e) = c.send(post(serde_json::to_vec(&spec).unwrap())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let fields: Vec<&str> = e["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["environment", "name", "services.web_1"], "{e}");

    // Empty body.
    let (status, e) = c.send(post(Vec::new())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "invalid_manifest");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn content_type_size_environment_and_quota_are_checked() {
    let c = Cluster::with(1, |mut config| {
        config.body_limit = 64 << 10;
        config
    })
    .await;
    c.create_env("dev").await;
    let (status, e) = c
        .send(
            c.req(Method::POST, "/v1/envs/dev/apps", &c.admin)
                .header("content-type", "text/plain")
                .body(COMPOSE),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    assert_eq!(e["code"], "unsupported_media_type");

    let big = format!("{COMPOSE}# {}\n", "x".repeat(100 << 10));
    let (status, e) = c.apply_yaml("dev", &big, &c.admin).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert_eq!(e["code"], "body_too_large");

    let (status, e) = c.apply_yaml("qa", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(e["code"], "not_found");
    assert!(e["message"].as_str().unwrap().contains("qa"), "{e}");

    let (status, e) = c.apply_yaml("Dev", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "invalid_request");

    let quota = json!({"name": "small", "quota": {"max_tasks": 2}});
    let (status, _) = c
        .send(c.req(Method::POST, "/v1/envs", &c.admin).json(&quota))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, e) = c.apply_yaml("small", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "quota_exceeded");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_with_a_query_it_does_not_take_is_refused_and_changes_nothing() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    let (status, applied) = c.apply_yaml("dev", COMPOSE, &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    // A delete does not take `dry_run`: it must not delete "for real" by ignoring it.
    let request = c.req(
        Method::DELETE,
        "/v1/envs/dev/apps/shop?dry_run=true",
        &c.admin,
    );
    let (status, body) = c.send(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("dry_run"),
        "{body}"
    );
    let (status, _) = c.get("/v1/envs/dev/apps/shop").await;
    assert_eq!(status, StatusCode::OK, "the app is still there");
    c.shutdown().await;
}
