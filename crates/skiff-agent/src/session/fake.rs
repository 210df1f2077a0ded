//! A fake control-plane server for the session's tests: a real tonic `Agent` service on an
//! ephemeral port of 127.0.0.1 that records what agents send and lets the test push messages,
//! refuse sessions, end them, or die.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_proto::agent::agent_server::{Agent, AgentServer};
use skiff_proto::agent::{
    agent_message::Kind as Up, AgentMessage, RegisterReply, RegisterRequest, ServerMessage,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// What the fake server saw and how it behaves.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Every registration, with the `authorization` header it came with.
    pub registrations: Vec<(RegisterRequest, Option<String>)>,
    /// Every session accepted, oldest first.
    pub sessions: Vec<SessionRecord>,
    /// Refuse sessions with `Unavailable` and this message.
    pub refuse: Option<String>,
    /// How many session calls were refused.
    pub refused: usize,
    /// Refuse calls whose `authorization` header is not this, with `Unauthenticated`.
    pub require: Option<String>,
}

impl State {
    fn check(&self, token: &Option<String>) -> Result<(), Status> {
        match &self.require {
            Some(want) if Some(want) != token.as_ref() => {
                Err(Status::unauthenticated("the token is not valid"))
            }
            _ => Ok(()),
        }
    }
}

/// One session as the fake server saw it.
#[derive(Debug)]
pub(crate) struct SessionRecord {
    /// The `authorization` header of the call.
    pub token: Option<String>,
    /// What the agent sent, `Hello` first.
    pub received: Vec<AgentMessage>,
    /// Where to push messages to the agent; `None` once ended.
    pub to_agent: Option<mpsc::Sender<Result<ServerMessage, Status>>>,
}

impl SessionRecord {
    /// The node id of the session's `Hello`.
    pub fn node_id(&self) -> Option<&str> {
        match self.received.first()?.kind.as_ref()? {
            Up::Hello(hello) => Some(&hello.node_id),
            _ => None,
        }
    }
}

/// A running fake server.
#[derive(Debug)]
pub(crate) struct FakeServer {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
    serve: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone)]
struct Service {
    state: Arc<Mutex<State>>,
}

fn token_of<T>(request: &Request<T>) -> Option<String> {
    let value = request.metadata().get("authorization")?;
    value.to_str().ok().map(str::to_owned)
}

#[tonic::async_trait]
impl Agent for Service {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterReply>, Status> {
        let token = token_of(&request);
        let request = request.into_inner();
        let mut state = self.state.lock().unwrap();
        state.check(&token)?;
        let n = state.registrations.len();
        state.registrations.push((request.clone(), token));
        Ok(Response::new(RegisterReply {
            node_id: request.node_id,
            pod_subnet: format!("10.88.{n}.0/24"),
            revision: 1,
            pod_cidr: "10.88.0.0/16".into(),
        }))
    }

    type SessionStream = ReceiverStream<Result<ServerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let token = token_of(&request);
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(1024);
        let index = {
            let mut state = self.state.lock().unwrap();
            state.check(&token)?;
            if let Some(message) = state.refuse.clone() {
                state.refused += 1;
                return Err(Status::unavailable(message));
            }
            state.sessions.push(SessionRecord {
                token,
                received: Vec::new(),
                to_agent: Some(tx),
            });
            state.sessions.len() - 1
        };
        let state = self.state.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                let mut state = state.lock().unwrap();
                let record = &mut state.sessions[index];
                if record.to_agent.is_none() {
                    break;
                }
                record.received.push(message);
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl FakeServer {
    /// Starts a fake server on an ephemeral port of 127.0.0.1.
    pub async fn start() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        // Our own accept loop, so that killing the server closes the port at once.
        let (conns_tx, conns_rx) = mpsc::channel(64);
        let accept = tokio::spawn(async move {
            loop {
                let conn = listener.accept().await.map(|(stream, _)| stream);
                if conns_tx.send(conn).await.is_err() {
                    break;
                }
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let service = AgentServer::new(Service {
            state: state.clone(),
        });
        let serve = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(ReceiverStream::new(conns_rx), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        FakeServer {
            addr,
            state,
            accept,
            stop: Some(stop),
            serve: Some(serve),
        }
    }

    /// Runs `f` on the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Pushes `message` to the latest session of `node`.
    pub async fn send(&self, node: &str, message: ServerMessage) {
        let tx = self.with(|s| {
            let record = s.sessions.iter().rev().find(|r| r.node_id() == Some(node));
            record.and_then(|r| r.to_agent.clone())
        });
        tx.expect("an open session of the node")
            .send(Ok(message))
            .await
            .unwrap();
    }

    /// Ends every open session (their streams end; the agents see them close).
    pub fn end_sessions(&self) {
        self.with(|s| s.sessions.iter_mut().for_each(|r| r.to_agent = None));
    }

    /// Kills the server: the port is closed, sessions end, connections go.
    pub async fn kill(mut self) {
        self.accept.abort();
        self.end_sessions();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serve) = self.serve.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(serve) = &self.serve {
            serve.abort();
        }
    }
}

/// Waits until `check` holds, for at most 10 s.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A task of service `web` of app `shop`, as the server would assign it.
pub(crate) fn assigned(
    id: &str,
    slot: u32,
    desired: skiff_proto::agent::DesiredState,
) -> skiff_proto::agent::AssignedTask {
    static SPEC: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let yaml = "services:\n  web:\n    image: busybox\n";
        let loader = skiff_manifest::MemoryLoader::new().with("/app/compose.yaml", yaml);
        let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        let app = skiff_manifest::load(&options, &loader)
            .unwrap_or_else(|d| panic!("{d}"))
            .spec;
        serde_json::to_vec(&app.services["web"]).unwrap()
    });
    skiff_proto::agent::AssignedTask {
        id: id.into(),
        env: "dev".into(),
        app: "shop".into(),
        service: "web".into(),
        slot: slot.to_string(),
        spec_revision: 1,
        desired: desired as i32,
        spec_json: spec.clone(),
        observed: skiff_proto::agent::TaskState::Assigned as i32,
        restart_count: 0,
        ..Default::default()
    }
}
