//! `GET /v1/tasks/{id}/logs` and `POST /v1/tasks/{id}/exec` on real servers: refusals, and
//! the path through a follower and the leader to a node's `Node` service (a stand-in agent on
//! loopback that answers fixed output) with the token of the node's session.

mod support;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use skiff_proto::agent::agent_client::AgentClient;
use skiff_proto::agent::agent_message::Kind as Up;
use skiff_proto::agent::exec_input::Kind as Input;
use skiff_proto::agent::exec_output::Kind as Output;
use skiff_proto::agent::node_server::{Node, NodeServer};
use skiff_proto::agent::{
    AgentMessage, ExecInput, ExecOutput, Hello, LogChunk, LogsRequest, RegisterRequest,
};
use support::{node, task, Cluster};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

const NOWHERE: &str = "name: away\nservices:\n  db:\n    image: busybox\n    deploy:\n      placement:\n        constraints: [node.labels.zone == nowhere]\n";

/// The id of app `away`'s task, once the orchestrator made it.
async fn pending_task(c: &Cluster) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = c.get("/v1/tasks?app=away").await;
        if let Some(id) = list["items"][0]["object"]["task"]["id"].as_str() {
            return id.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "no task: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_exec_refuse_what_they_cannot_serve() {
    let c = Cluster::one().await;
    c.create_env("dev").await;
    c.put(node("n1")).await;
    c.put(task("t-on", "dev", "shop", "web", Some("n1"))).await;
    // A service no node may run: its task stays pending, on no node.
    let (status, body) = c.apply_yaml("dev", NOWHERE, &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pending = pending_task(&c).await;
    let reader = c.token("read", &["dev"]).await;
    let exec = |id: &str, token: &str, body: Value| {
        c.req(Method::POST, &format!("/v1/tasks/{id}/exec"), token)
            .json(&body)
    };
    let logs = |id: &str, token: &str| c.req(Method::GET, &format!("/v1/tasks/{id}/logs"), token);
    let hostname = json!({"command": ["hostname"]});
    let cases = [
        (logs("nope", &c.admin), StatusCode::NOT_FOUND, "not_found"),
        (
            exec("nope", &c.admin, hostname.clone()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            logs(&pending, &c.admin),
            StatusCode::CONFLICT,
            "task_not_placed",
        ),
        (
            exec("t-on", &reader, hostname.clone()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            exec("t-on", &c.admin, json!({"command": []})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            exec("t-on", &c.admin, json!({"command": ["x"], "tty": true})),
            StatusCode::BAD_REQUEST,
            "",
        ),
        // A reader may read logs; the node has no session, so there is no way to it.
        (
            logs("t-on", &reader),
            StatusCode::SERVICE_UNAVAILABLE,
            "node_not_connected",
        ),
        (
            exec("t-on", &c.admin, hostname.clone()),
            StatusCode::SERVICE_UNAVAILABLE,
            "node_not_connected",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let (got, body) = c.send(request).await;
        assert_eq!(got, status, "case {i}: {body}");
        let got_code = body["code"].as_str().unwrap_or_default();
        assert!(got_code.starts_with(code), "case {i}: {body}");
        assert!(!body["message"].as_str().unwrap_or_default().is_empty());
    }
    let (_, body) = c.send(logs(&pending, &c.admin)).await;
    assert!(
        body["message"].as_str().unwrap().contains("on no node"),
        "{body}"
    );
    c.shutdown().await;
}

/// A stand-in agent's `Node` service: records the tokens it is called with, answers two log
/// lines, and runs "exec" as: stdout the command joined, stderr the stdin, exit code 3.
#[derive(Clone, Default)]
struct StandIn {
    tokens: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    fn record(&self, metadata: &tonic::metadata::MetadataMap) {
        let token = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.tokens.lock().unwrap().push(token);
    }
}

type Answers<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Node for StandIn {
    type LogsStream = Answers<LogChunk>;

    async fn logs(
        &self,
        request: Request<LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        self.record(request.metadata());
        let request = request.into_inner();
        let chunks = vec![
            Ok(LogChunk {
                stream: 1,
                data: format!("out of {} tail {}\n", request.task_id, request.tail).into(),
            }),
            Ok(LogChunk {
                stream: 2,
                data: b"err\n".to_vec(),
            }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    type ExecStream = Answers<ExecOutput>;

    async fn exec(
        &self,
        request: Request<Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        self.record(request.metadata());
        let mut incoming = request.into_inner();
        let Some(Input::Start(start)) = incoming.message().await?.and_then(|m| m.kind) else {
            return Err(Status::invalid_argument("start first"));
        };
        let mut stdin = Vec::new();
        while let Some(message) = incoming.message().await? {
            if let Some(Input::Stdin(data)) = message.kind {
                stdin.extend(data);
            }
        }
        let (tx, rx) = mpsc::channel(4);
        let out = |stream, data| ExecOutput {
            kind: Some(Output::Output(LogChunk { stream, data })),
        };
        tx.send(Ok(out(1, start.command.join(" ").into_bytes())))
            .await
            .unwrap();
        tx.send(Ok(out(2, stdin))).await.unwrap();
        tx.send(Ok(ExecOutput {
            kind: Some(Output::ExitCode(3)),
        }))
        .await
        .unwrap();
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_exec_reach_the_node_with_its_sessions_token_through_a_follower() {
    let c = Cluster::with(3, |c| c).await;
    let (leader, follower) = (c.leader().await, c.follower().await);
    c.create_env("dev").await;
    let stand_in = StandIn::default();
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap().to_string();
    let server = tonic::transport::Server::builder()
        .add_service(NodeServer::new(stand_in.clone()))
        .serve_with_incoming(incoming);
    let serving = tokio::spawn(server);

    // The node registers with its address and holds a session with the admin token.
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {}", c.admin).parse().unwrap();
    let mut agent = AgentClient::connect(format!("http://{}", c.servers[leader].local_addr()))
        .await
        .unwrap();
    let mut register = Request::new(RegisterRequest {
        node_id: "n1".into(),
        name: "n1".into(),
        address: address.clone(),
        cpus_milli: 1000,
        memory_bytes: 1 << 30,
        ..Default::default()
    });
    register
        .metadata_mut()
        .insert("authorization", bearer.clone());
    agent.register(register).await.unwrap();
    let (up, up_rx) = mpsc::channel(4);
    up.send(AgentMessage {
        kind: Some(Up::Hello(Hello {
            node_id: "n1".into(),
        })),
    })
    .await
    .unwrap();
    let mut session = Request::new(ReceiverStream::new(up_rx));
    session.metadata_mut().insert("authorization", bearer);
    let mut down = agent.session(session).await.unwrap().into_inner();
    down.message()
        .await
        .unwrap()
        .expect("the first assignments");
    c.put(task("t1", "dev", "shop", "web", Some("n1"))).await;

    let response = c
        .req_to(follower, Method::GET, "/v1/tasks/t1/logs?tail=5", &c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"stream": "stdout", "text": "out of t1 tail 5\n"}),
            json!({"stream": "stderr", "text": "err\n"}),
        ]
    );

    let (status, body) = c
        .send(
            c.req_to(follower, Method::POST, "/v1/tasks/t1/exec", &c.admin)
                .json(&json!({"command": ["echo", "hi"], "stdin": "in"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"exit_code": 3, "stdout": "echo hi", "stderr": "in", "truncated": false})
    );
    let tokens = stand_in.tokens.lock().unwrap().clone();
    assert_eq!(tokens, vec![format!("Bearer {}", c.admin); 2]);

    // Once the session ends, the node cannot be reached.
    drop(up);
    drop(down);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = c
            .send(
                c.req(Method::POST, "/v1/tasks/t1/exec", &c.admin)
                    .json(&json!({"command": ["true"]})),
            )
            .await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["code"], "node_not_connected", "{body}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still linked: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serving.abort();
    c.shutdown().await;
}
