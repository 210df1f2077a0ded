//! The `Node` gRPC service of agent.proto, served by each agent on its node address: a task's
//! logs and exec in its container, for `skiff logs` and `skiff exec` through the servers.
//!
//! Every call must carry `authorization: Bearer <token>` with exactly the token this agent
//! holds its session with (the servers keep the token a node's session presented and call
//! with it; docs/control-plane.md, "Logs and exec"). An agent without a token refuses every
//! call. The task's container is the one labelled [`LABEL_TASK`]` = <task id>`.
//!
//! The engine is synchronous: container lookups run in `spawn_blocking`, a followed log and an
//! exec's pipes on their own threads, which stop when the caller goes away.

use std::io::{Read, Write};
use std::pin::Pin;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::Arc;
use std::time::Duration;

use skiff_engine::container::exec::ExecConfig;
use skiff_engine::container::logs::{Record, Stream};
use skiff_engine::container::Status as ContainerStatus;
use skiff_engine::Engine;
use skiff_proto::agent::exec_input::Kind as Input;
use skiff_proto::agent::exec_output::Kind as Output;
use skiff_proto::agent::node_server::{Node, NodeServer};
use skiff_proto::agent::{ExecInput, ExecOutput, ExecStart, LogChunk, LogsRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::translate::LABEL_TASK;

/// Most arguments an exec's command may have.
pub const MAX_EXEC_ARGS: usize = 256;
/// Most bytes an exec's command may have, all arguments together.
pub const MAX_EXEC_COMMAND_BYTES: usize = 64 * 1024;
/// Largest chunk of standard input one message may carry.
pub const MAX_STDIN_CHUNK: usize = 1024 * 1024;
/// How often a followed log is read for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// How many chunks may wait for a slow caller before the reader waits for it.
const QUEUE: usize = 32;

/// The `Node` service over this node's engine. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct NodeService {
    engine: Arc<Engine>,
    token: Option<Arc<str>>,
}

impl NodeService {
    /// The service over `engine`, accepting calls that carry exactly `token` (none without).
    pub fn new(engine: Arc<Engine>, token: Option<String>) -> Self {
        NodeService {
            engine,
            token: token.map(Arc::from),
        }
    }

    /// The tonic server for this service; messages up to a stdin chunk and some framing.
    pub fn into_server(self) -> NodeServer<Self> {
        NodeServer::new(self).max_decoding_message_size(MAX_STDIN_CHUNK + 1024)
    }

    fn authorize(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let presented = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        check_token(self.token.as_deref(), presented)
    }

    /// The id of the container of task `task_id`: its running one if any, else any.
    async fn container_of(&self, task_id: &str) -> Result<String, Status> {
        if task_id.is_empty() {
            return Err(Status::invalid_argument("task_id is empty: name a task"));
        }
        let engine = self.engine.clone();
        let all = tokio::task::spawn_blocking(move || engine.containers())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("listing containers: {e}")))?;
        let mut of_task: Vec<_> = all
            .into_iter()
            .filter(|c| c.record.config.labels.get(LABEL_TASK).map(String::as_str) == Some(task_id))
            .collect();
        of_task.sort_by_key(|c| c.status != ContainerStatus::Running);
        of_task
            .into_iter()
            .next()
            .map(|c| c.record.id)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "task {task_id} has no container on this node (not started yet, or removed)"
                ))
            })
    }
}

/// `Ok` when `presented` is exactly `expected`, compared in constant time.
fn check_token(expected: Option<&str>, presented: Option<&str>) -> Result<(), Status> {
    let Some(expected) = expected else {
        return Err(Status::unauthenticated(
            "this agent has no token, so it accepts no logs or exec calls",
        ));
    };
    let presented = presented.ok_or_else(|| {
        Status::unauthenticated("no token: send `authorization: Bearer <token>` metadata")
    })?;
    if !same_secret(expected.as_bytes(), presented.as_bytes()) {
        return Err(Status::unauthenticated(
            "the token is not the one this agent holds its session with",
        ));
    }
    Ok(())
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks an exec's first message: a command within the limits, no TTY.
pub fn check_start(start: &ExecStart) -> Result<(), Status> {
    if start.tty {
        return Err(Status::unimplemented(
            "exec with a TTY is not supported: run without one",
        ));
    }
    if start.command.is_empty() || start.command[0].is_empty() {
        return Err(Status::invalid_argument(
            "command is empty: give the program to run and its arguments",
        ));
    }
    if start.command.len() > MAX_EXEC_ARGS {
        return Err(Status::invalid_argument(format!(
            "command has {} arguments; at most {MAX_EXEC_ARGS} are accepted",
            start.command.len()
        )));
    }
    let bytes: usize = start.command.iter().map(String::len).sum();
    if bytes > MAX_EXEC_COMMAND_BYTES {
        return Err(Status::invalid_argument(format!(
            "command has {bytes} bytes; at most {MAX_EXEC_COMMAND_BYTES} are accepted"
        )));
    }
    Ok(())
}

/// The chunk of one log record.
fn chunk(record: &Record) -> LogChunk {
    LogChunk {
        stream: match record.stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        },
        data: record.log.clone().into_bytes(),
    }
}

/// A stream of answers fed from threads.
type Answers<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Node for NodeService {
    type LogsStream = Answers<LogChunk>;

    async fn logs(
        &self,
        request: Request<LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        self.authorize(request.metadata())?;
        let request = request.into_inner();
        let id = self.container_of(&request.task_id).await?;
        let tail = (request.tail > 0).then_some(request.tail as usize);
        let engine = self.engine.clone();
        let read = {
            let id = id.clone();
            tokio::task::spawn_blocking(move || engine.container_logs(&id, tail))
        };
        let (records, follower) = read
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("reading the logs of {id}: {e}")))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let engine = self.engine.clone();
        let follow = request.follow;
        tokio::task::spawn_blocking(move || {
            for record in &records {
                if tx.blocking_send(Ok(chunk(record))).is_err() {
                    return;
                }
            }
            if follow {
                follow_log(&engine, &id, follower, &tx);
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ExecStream = Answers<ExecOutput>;

    async fn exec(
        &self,
        request: Request<Streaming<ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        self.authorize(request.metadata())?;
        let mut incoming = request.into_inner();
        let start = match incoming.message().await? {
            Some(ExecInput {
                kind: Some(Input::Start(start)),
            }) => start,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of an exec must be ExecStart{task_id, command}",
                ))
            }
        };
        check_start(&start)?;
        let id = self.container_of(&start.task_id).await?;
        let engine = self.engine.clone();
        let child = tokio::task::spawn_blocking(move || spawn_exec(&engine, &id, start.command))
            .await
            .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(Box::pin(run_exec(child, incoming))))
    }
}

/// Sends new records of container `id` until it stops running or the caller goes away.
fn follow_log(
    engine: &Engine,
    id: &str,
    mut follower: skiff_engine::container::logs::LogReader,
    tx: &mpsc::Sender<Result<LogChunk, Status>>,
) {
    loop {
        let running = matches!(engine.container(id), Ok(c) if c.status == ContainerStatus::Running);
        // After the end, one more read: what was written between the last poll and the end.
        let records = follower.poll().unwrap_or_default();
        for record in &records {
            if tx.blocking_send(Ok(chunk(record))).is_err() {
                return;
            }
        }
        if !running || tx.is_closed() {
            if let Ok(rest) = follower.poll() {
                for record in &rest {
                    let _ = tx.blocking_send(Ok(chunk(record)));
                }
            }
            return;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// Starts `command` in container `id` with its stdio piped, in its own process group.
fn spawn_exec(engine: &Engine, id: &str, command: Vec<String>) -> Result<Child, Status> {
    let exec = ExecConfig {
        args: command,
        ..ExecConfig::default()
    };
    let mut cmd = engine
        .exec_command(id, &exec)
        .map_err(|e| Status::failed_precondition(format!("exec in {id}: {e}")))?;
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Status::internal(format!("starting the exec in {id}: {e}")))
}

/// Feeds `child` the caller's standard input and streams its output, then its exit code; kills
/// its process group when the caller goes away first.
fn run_exec(
    mut child: Child,
    incoming: Streaming<ExecInput>,
) -> impl tokio_stream::Stream<Item = Result<ExecOutput, Status>> + Send {
    let (tx, rx) = mpsc::channel(QUEUE);
    if let Some(stdin) = child.stdin.take() {
        tokio::spawn(feed_stdin(stdin, incoming, tx.clone()));
    }
    let readers: Vec<_> = [
        (
            1,
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ),
        (
            2,
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ),
    ]
    .into_iter()
    .filter_map(|(stream, pipe)| Some((stream, pipe?)))
    .map(|(stream, mut pipe)| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let output = Output::Output(LogChunk {
                    stream,
                    data: buf[..n].to_vec(),
                });
                if tx
                    .blocking_send(Ok(ExecOutput { kind: Some(output) }))
                    .is_err()
                {
                    break;
                }
            }
        })
    })
    .collect();
    std::thread::spawn(move || {
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(exit_code(status)),
                Ok(None) if !tx.is_closed() => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    // SAFETY: kill(2) on the exec's own process group (its pid, see spawn).
                    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                    let _ = child.wait();
                    break None;
                }
            }
        };
        for reader in readers {
            let _ = reader.join();
        }
        if let Some(code) = code {
            let _ = tx.blocking_send(Ok(ExecOutput {
                kind: Some(Output::ExitCode(code)),
            }));
        }
    });
    ReceiverStream::new(rx)
}

/// The exit code of a process: its own, or 128 + the signal that ended it (as a shell says).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

/// Writes the caller's stdin chunks into the exec until the caller's stream ends (then closes
/// it: end of input). A chunk over the limit ends the exec with `InvalidArgument`.
async fn feed_stdin(
    stdin: ChildStdin,
    mut incoming: Streaming<ExecInput>,
    tx: mpsc::Sender<Result<ExecOutput, Status>>,
) {
    let (chunks, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer = std::thread::spawn(move || {
        let mut stdin = stdin;
        for chunk in rx {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    while let Ok(Some(message)) = incoming.message().await {
        let Some(Input::Stdin(data)) = message.kind else {
            let _ = tx
                .send(Err(Status::invalid_argument(
                    "only the first message of an exec is ExecStart; later ones carry stdin",
                )))
                .await;
            break;
        };
        if data.len() > MAX_STDIN_CHUNK {
            let _ = tx
                .send(Err(Status::invalid_argument(format!(
                    "a stdin chunk of {} bytes; at most {MAX_STDIN_CHUNK} per message",
                    data.len()
                ))))
                .await;
            break;
        }
        let chunks = chunks.clone();
        let sent = tokio::task::spawn_blocking(move || chunks.send(data).is_ok()).await;
        if !matches!(sent, Ok(true)) {
            break;
        }
    }
    drop(chunks);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
}

/// Serves `service` on `address` (`IP:PORT`) until `shutdown` turns `true`.
pub async fn serve(
    service: NodeService,
    address: std::net::SocketAddr,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(service.into_server())
        .serve_with_shutdown(address, async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_agents_own_token_passes() {
        assert!(check_token(Some("skiff.a.s3cret"), Some("skiff.a.s3cret")).is_ok());
        let refused = |expected, presented| check_token(expected, presented).unwrap_err().code();
        assert_eq!(
            refused(Some("skiff.a.s3cret"), Some("skiff.a.s3creT")),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            refused(Some("skiff.a.s3cret"), Some("skiff.a.s3cret2")),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            refused(Some("skiff.a.s3cret"), None),
            tonic::Code::Unauthenticated
        );
        assert_eq!(refused(None, Some("")), tonic::Code::Unauthenticated);
    }

    fn start(command: Vec<String>, tty: bool) -> ExecStart {
        ExecStart {
            task_id: "t1".into(),
            command,
            tty,
        }
    }

    #[test]
    fn exec_commands_are_checked() {
        assert!(check_start(&start(vec!["hostname".into()], false)).is_ok());
        let code = |s: ExecStart| check_start(&s).unwrap_err().code();
        assert_eq!(code(start(vec![], false)), tonic::Code::InvalidArgument);
        assert_eq!(
            code(start(vec![String::new()], false)),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            code(start(vec!["sh".into()], true)),
            tonic::Code::Unimplemented
        );
        let many = vec!["x".to_owned(); MAX_EXEC_ARGS + 1];
        assert_eq!(code(start(many, false)), tonic::Code::InvalidArgument);
        let long = vec!["x".repeat(MAX_EXEC_COMMAND_BYTES + 1)];
        let error = check_start(&start(long, false)).unwrap_err();
        assert!(
            error.message().contains("65537 bytes"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn log_records_keep_their_stream() {
        let record = |stream| Record {
            log: "hi\n".into(),
            stream,
            time: "t".into(),
        };
        assert_eq!(chunk(&record(Stream::Stdout)).stream, 1);
        assert_eq!(chunk(&record(Stream::Stderr)).stream, 2);
        assert_eq!(chunk(&record(Stream::Stderr)).data, b"hi\n");
    }
}
