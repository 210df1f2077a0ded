//! The client sends the contract's requests and reads its answers, for the endpoints the server
//! of this branch does not have yet (apps, services, tasks, nodes, events): a stub built from
//! real skiff-core state answers exactly what the contract says the server sends.

mod stub;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State as Shared};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::json;
use skiff_api::{AppSpec, ByteSize, Cpus};
use skiff_client::{Client, Error, TaskFilter};
use skiff_core::api::{AppHistory, ApplyResult, List};
use skiff_core::objects::*;
use skiff_core::plan::{apply_app, AppDiff};
use skiff_core::{Command, Expect, Object, Record, State};
use stub::Stub;

const COMPOSE: &str = "
name: shop
services:
  web:
    image: nginx:1.27
    deploy: {replicas: 2}
  db:
    image: postgres:16
";

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

fn spec() -> AppSpec {
    let loader = skiff_manifest::MemoryLoader::new().with("/app/compose.yaml", COMPOSE);
    let options = skiff_manifest::Options::new(["/app/compose.yaml"]);
    skiff_manifest::load(&options, &loader).unwrap().spec
}

fn commit(state: &mut State, command: &Command) {
    let revision = state.revision() + 1;
    assert!(state.apply(revision, command).is_ok());
}

fn task() -> Object {
    Object::Task(Task {
        id: name("t-1"),
        env: name("dev"),
        app: name("shop"),
        service: name("web"),
        slot: Slot::Replica(1),
        spec_revision: 1,
        desired: DesiredState::Running,
        node: Some(name("n-1")),
        observed: TaskState::Running,
        message: String::new(),
        container_id: Some("c0ffee".into()),
        ip: Some("10.88.0.2".parse().unwrap()),
        exit_code: None,
        restart_count: 0,
        health: Health::Healthy,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(2_000),
    })
}

fn node() -> Object {
    let resources = NodeResources {
        cpus: Cpus::parse("4").unwrap(),
        memory: ByteSize::parse("8G").unwrap(),
    };
    Object::Node(Node {
        id: name("n-1"),
        name: "worker-1".into(),
        address: "10.0.0.11:7500".into(),
        labels: BTreeMap::from([("zone".into(), "a".into())]),
        capacity: resources,
        allocatable: resources,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        pod_subnet: Some("10.88.0.0/24".into()),
        last_heartbeat: Some(Timestamp(2_000)),
    })
}

/// A state with environment dev, the app applied, a task and a node; and the apply's diff.
struct Fixture {
    state: State,
    diff: AppDiff,
}

impl Fixture {
    fn new() -> Fixture {
        let mut state = State::new();
        let env = Environment {
            name: name("dev"),
            quota: Quota::default(),
            node_selector: BTreeMap::new(),
        };
        commit(
            &mut state,
            &Command::put(Object::Environment(env), Expect::Absent),
        );
        let plan = apply_app(&state, &name("dev"), &spec()).unwrap();
        commit(&mut state, &plan.command);
        commit(&mut state, &Command::put(task(), Expect::Absent));
        commit(&mut state, &Command::put(node(), Expect::Absent));
        Fixture {
            state,
            diff: plan.diff,
        }
    }

    fn list(&self, prefix: &str) -> List {
        List {
            revision: self.state.revision(),
            items: self.state.list(prefix).into_iter().cloned().collect(),
        }
    }

    fn get(&self, key: &str) -> Record {
        self.state.get(&key.parse().unwrap()).unwrap().clone()
    }
}

type Fx = Shared<Arc<Fixture>>;
type Q = Query<HashMap<String, String>>;

async fn apply(fx: Fx, Query(q): Q, headers: HeaderMap, body: String) -> Json<ApplyResult> {
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let sent: AppSpec = serde_json::from_str(&body).unwrap();
    assert_eq!(sent, spec(), "the normalized spec travels as is");
    let dry_run = q.get("dry_run").is_some_and(|v| v == "true");
    Json(ApplyResult {
        revision: (!dry_run).then(|| fx.state.revision()),
        dry_run,
        diff: fx.diff.clone(),
    })
}

async fn history(fx: Fx) -> Json<AppHistory> {
    let record = fx.get("/apps/dev/shop");
    let Object::App(app) = &record.object else {
        unreachable!()
    };
    Json(AppHistory {
        mod_revision: record.mod_revision,
        revisions: vec![AppRevision {
            spec_revision: app.spec_revision,
            spec: app.spec.clone(),
        }],
    })
}

async fn services(fx: Fx, Query(q): Q) -> Json<List> {
    assert_eq!(q.get("app").map(String::as_str), Some("shop"));
    Json(fx.list("/services/dev/shop/"))
}

async fn tasks(fx: Fx, Query(q): Q) -> Json<List> {
    let wanted = HashMap::from([
        ("env".into(), "dev".into()),
        ("service".into(), "web".into()),
    ]);
    assert_eq!(q, wanted);
    Json(fx.list("/tasks/"))
}

/// Two events after `from`, then the end a watcher that fell behind gets.
async fn events(fx: Fx, Query(q): Q) -> Response {
    let from: u64 = q["from"].parse().unwrap();
    assert_eq!(q.get("prefix").map(String::as_str), Some("/services/dev/"));
    if from == 0 {
        let body = json!({"code": "compacted", "message": "re-list", "details": {"oldest": 2}});
        return (StatusCode::GONE, Json(body)).into_response();
    }
    let mut lines = String::new();
    for event in fx.state.events_since(from).unwrap().into_iter().take(2) {
        lines += &serde_json::to_string(&event).unwrap();
        lines += "\n\n";
    }
    lines += r#"{"error": {"code": "compacted", "message": "too slow", "details": {"oldest": 9}}}"#;
    ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response()
}

async fn serve() -> (Client, Arc<Fixture>) {
    let fx = Arc::new(Fixture::new());
    let record = |key: &'static str| move |fx: Fx| async move { Json(fx.get(key)) };
    let router =
        Router::new()
            .route(
                "/v1/envs/dev/apps",
                get(|fx: Fx| async move { Json(fx.list("/apps/dev/")) }).post(apply),
            )
            .route(
                "/v1/envs/dev/apps/shop",
                get(record("/apps/dev/shop")).delete(|| async { Json(json!({"revision": 9})) }),
            )
            .route("/v1/envs/dev/apps/shop/history", get(history))
            .route("/v1/envs/dev/services", get(services))
            .route(
                "/v1/envs/dev/apps/shop/services/web",
                get(record("/services/dev/shop/web")),
            )
            .route("/v1/tasks", get(tasks))
            .route("/v1/tasks/t-1", get(record("/tasks/t-1")))
            .route(
                "/v1/nodes",
                get(|fx: Fx| async move { Json(fx.list("/nodes/")) }),
            )
            .route(
                "/v1/nodes/{id}",
                get(|fx: Fx, Path(id): Path<String>| async move {
                    Json(fx.get(&format!("/nodes/{id}")))
                }),
            )
            .route("/v1/events", get(events))
            .with_state(fx.clone());
    let stub = Stub::serve(router).await;
    (Client::new(vec![stub.name()], None).unwrap(), fx)
}

#[tokio::test]
async fn apps_apply_list_get_history_and_delete() {
    let (client, fx) = serve().await;
    let dry = client.apply_app("dev", &spec(), true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.revision, None);
    assert_eq!(dry.diff, fx.diff);
    assert!(
        dry.diff.to_string().contains("+ /services/dev/shop/web"),
        "{}",
        dry.diff
    );
    let real = client.apply_app("dev", &spec(), false).await.unwrap();
    assert_eq!(real.revision, Some(fx.state.revision()));
    let apps = client.list_apps("dev").await.unwrap();
    assert_eq!(apps, fx.list("/apps/dev/"));
    let app = client.get_app("dev", "shop").await.unwrap();
    assert!(matches!(&app.object, Object::App(a) if a.spec == spec()));
    let history = client.app_history("dev", "shop").await.unwrap();
    assert_eq!(history.revisions.len(), 1);
    assert_eq!(client.delete_app("dev", "shop").await.unwrap().revision, 9);
}

#[tokio::test]
async fn services_tasks_and_nodes_decode() {
    let (client, fx) = serve().await;
    let services = client.list_services("dev", Some("shop")).await.unwrap();
    let names: Vec<String> = services.items.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(names, ["/services/dev/shop/db", "/services/dev/shop/web"]);
    let web = client.get_service("dev", "shop", "web").await.unwrap();
    assert_eq!(web, fx.get("/services/dev/shop/web"));
    let filter = TaskFilter {
        env: Some("dev".into()),
        service: Some("web".into()),
        ..TaskFilter::default()
    };
    let tasks = client.list_tasks(&filter).await.unwrap();
    assert_eq!(tasks.items, [fx.get("/tasks/t-1")]);
    assert_eq!(client.get_task("t-1").await.unwrap().object, task());
    assert_eq!(client.list_nodes().await.unwrap().items.len(), 1);
    assert_eq!(client.get_node("n-1").await.unwrap().object, node());
}

#[tokio::test]
async fn events_stream_until_the_server_ends_the_watch() {
    let (client, fx) = serve().await;
    let err = client
        .events(0, Some("/services/dev/"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Compacted(c) if c.oldest == 2),
        "{err:?}"
    );
    let mut stream = client.events(1, Some("/services/dev/")).await.unwrap();
    let expected = fx.state.events_since(1).unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), expected[0]);
    assert_eq!(stream.next().await.unwrap().unwrap(), expected[1]);
    let end = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(end, Error::Compacted(c) if c.oldest == 9),
        "{end:?}"
    );
    assert!(stream.next().await.is_none(), "nothing after the end");
}

#[tokio::test]
async fn a_refused_manifest_lists_its_problems() {
    let body = json!({
        "code": "invalid_manifest",
        "message": "the manifest has 2 problems",
        "details": {"problems": [
            {"location": "services.web.image", "message": "required"},
            {"location": "services.db.deploy.replicas", "message": "must be at least 0"},
        ]},
    });
    let router = Router::new().route(
        "/v1/envs/dev/apps",
        axum::routing::post(move || async move { (StatusCode::BAD_REQUEST, Json(body)) }),
    );
    let stub = Stub::serve(router).await;
    let client = Client::new(vec![stub.name()], None).unwrap();
    let err = client
        .apply_compose("dev", COMPOSE, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_manifest"));
    let problems: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "services.web.image: required",
            "services.db.deploy.replicas: must be at least 0"
        ]
    );
}
