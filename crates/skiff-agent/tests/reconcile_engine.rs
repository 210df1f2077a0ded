//! Root test: the reconciler over the real engine (containers run by shims on the real
//! kernel, without a network — `NetworkMode::None` — except the ingress test), with the test
//! busybox image built here. The process moves to a network namespace of its own first
//! (only `lo` in it), so the ingress test's bridge, nftables table and traffic stay there.
//!
//! This binary is also the engine's shim: the engine runs `<program> shim …` for each
//! container and each exec, and `main` serves those before running the tests. Tests run one
//! after another; each has its own data directory, and a guard removes every container and
//! mount it made, even when it fails.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_agent::desired::{DesiredSet, DesiredTask, TaskSlot, Want};
use skiff_agent::reconcile::{LocalEngine, Reconciler, ReconcilerOptions};
use skiff_agent::translate::TranslateOptions;
use skiff_agent::{StatusBoard, TaskStatus};
use skiff_engine::container::exec::{shim_exec_main, ExecConfig, ShimExecArgs};
use skiff_engine::container::shim::{self, ShimArgs};
use skiff_engine::container::{NetworkMode, Status};
use skiff_engine::{Engine, EngineOptions};
use skiff_proto::agent::{Health, TaskState};
use tokio::sync::{oneshot, watch};

// ---- the shim side ----

/// `shim --data-dir D --id ID` or `shim exec --data-dir D --id ID [--env E]… [--user U]
/// [--cwd C] -- ARGS…`, as `skiff shim` takes them.
fn shim_main(args: &[String]) -> i32 {
    let (mut data_dir, mut id, mut exec) = (None, None, None::<ExecConfig>);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "exec" => exec = Some(ExecConfig::default()),
            "--data-dir" => data_dir = it.next().map(PathBuf::from),
            "--id" => id = it.next().cloned(),
            "--env" => exec.as_mut().unwrap().env.extend(it.next().cloned()),
            "--user" => exec.as_mut().unwrap().user = it.next().cloned(),
            "--cwd" => exec.as_mut().unwrap().workdir = it.next().cloned(),
            "--" => {
                exec.as_mut().unwrap().args = it.by_ref().cloned().collect();
            }
            other => panic!("shim: unexpected argument {other:?}"),
        }
    }
    let (data_dir, id) = (data_dir.expect("--data-dir"), id.expect("--id"));
    match exec {
        None => shim::main(&ShimArgs { data_dir, id }),
        Some(exec) => shim_exec_main(&ShimExecArgs { data_dir, id, exec }).unwrap_or_else(|e| {
            eprintln!("exec: {e}");
            125
        }),
    }
}

// ---- the test side ----

/// One test's engine in a data directory of its own, with `test:latest` loaded.
struct Node {
    engine: Arc<Engine>,
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("skiff-agent-test-")
            .tempdir()
            .unwrap();
        let mut opts = EngineOptions::new(dir.path().join("data"));
        opts.shim_program = std::env::current_exe().unwrap();
        let engine = Engine::open(opts).unwrap();
        let layout = dir.path().join("layout");
        skiff_testkit::image::layered_busybox().write_oci_layout(&layout, "test:latest");
        engine.load(&layout).unwrap();
        Node {
            engine: Arc::new(engine),
            dir,
        }
    }

    fn reconciler(&self, board: &StatusBoard, network: NetworkMode) -> Reconciler {
        let opts = ReconcilerOptions {
            translate: TranslateOptions { network },
            poll_interval: Duration::from_millis(100),
            local_ingress: true,
            drain: Duration::ZERO,
        };
        Reconciler::new(
            Arc::new(LocalEngine::new(self.engine.clone())),
            board.clone(),
            opts,
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for c in self.engine.containers().unwrap_or_default() {
            let _ = self.engine.remove_container(&c.record.id, true);
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&dir))
            .collect();
        under.sort();
        for m in under.iter().rev() {
            let _ = nix_umount(m);
        }
    }
}

fn nix_umount(path: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a NUL-terminated path; MNT_DETACH leaves nothing to clean after.
    match unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// A running reconciler, stopped when dropped or by `stop`.
struct Running {
    board: StatusBoard,
    tx: watch::Sender<DesiredSet>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

fn run(node: &Node, set: DesiredSet) -> Running {
    run_on(node, set, NetworkMode::None)
}

fn run_on(node: &Node, set: DesiredSet, network: NetworkMode) -> Running {
    let board = StatusBoard::new();
    let (tx, rx) = watch::channel(set);
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(node.reconciler(&board, network).run(rx, async move {
        let _ = stopped.await;
    }));
    Running {
        board,
        tx,
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap();
    }

    /// Waits (up to 30 s) until task `id`'s status satisfies `ok`.
    async fn until(&self, id: &str, what: &str, ok: impl Fn(&TaskStatus) -> bool) -> TaskStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(s) = self.board.get(id).filter(|s| ok(s)) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} never {what}: {:?}", self.board.get(id));
    }
}

fn task(id: &str, slot: u32, service_yaml: &str) -> DesiredTask {
    let body: String = service_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let yaml = format!("services:\n  web:\n{body}");
    let loader = skiff_manifest::MemoryLoader::new().with("/app/compose.yaml", yaml);
    let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
    options.project_name = Some("shop".to_owned());
    let app = skiff_manifest::load(&options, &loader)
        .unwrap_or_else(|d| panic!("{d}"))
        .spec;
    DesiredTask {
        id: id.into(),
        env: "dev".into(),
        app: "shop".into(),
        service: "web".into(),
        slot: TaskSlot::Replica(slot),
        spec_revision: 1,
        want: Want::Running,
        spec: app.services["web"].clone(),
        observed: TaskState::Assigned,
        restart_count: 0,
        files: Vec::new(),
        files_error: None,
    }
}

fn set(tasks: Vec<DesiredTask>) -> DesiredSet {
    DesiredSet {
        revision: 1,
        complete: true,
        tasks: tasks.into_iter().map(|t| (t.id.clone(), t)).collect(),
    }
}

fn running(s: &TaskStatus) -> bool {
    s.state() == TaskState::Running
}

/// Kills a container's process with SIGKILL, by the pid the engine recorded.
fn kill(node: &Node, container: &str) {
    let info = node.engine.container(container).unwrap();
    let pid = info.shim.expect("a started container").pid;
    // SAFETY: kill(2) on a pid the engine started for this test.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
}

const SLEEPER: &str = "image: test:latest
command: [\"sleep\", \"1000\"]
stop_grace_period: 1s
deploy:
  restart_policy:
    condition: on-failure
    delay: 0s
    max_attempts: 1
";

/// Two tasks run; a killed one is restarted in place, then fails when its one restart is
/// spent; a new reconciler adopts the survivor without restarting it; a task left out of the
/// set is removed.
async fn run_restart_fail_adopt_remove() {
    let node = Node::new();
    let desired = set(vec![
        task("taska0001", 1, SLEEPER),
        task("taskb0002", 2, SLEEPER),
    ]);
    let r = run(&node, desired.clone());
    let a = r.until("taska0001", "ran", running).await;
    let b = r.until("taskb0002", "ran", running).await;
    assert_eq!(
        node.engine.container(&a.container_id).unwrap().status,
        Status::Running
    );
    let labels = node
        .engine
        .container(&b.container_id)
        .unwrap()
        .record
        .config
        .labels;
    assert_eq!(labels["skiff.task"], "taskb0002");

    kill(&node, &a.container_id);
    let again = r
        .until("taska0001", "restarted", |s| {
            running(s) && s.restart_count == 1
        })
        .await;
    assert_eq!(again.container_id, a.container_id, "restarted in place");
    kill(&node, &a.container_id);
    let failed = r
        .until("taska0001", "failed", |s| s.state() == TaskState::Failed)
        .await;
    assert_eq!(failed.exit_code, Some(137), "{failed:?}");
    assert!(failed.message.contains("max_attempts"), "{failed:?}");
    r.stop().await;

    // An agent restart: a new reconciler over the same engine and the same set.
    let before = node.engine.container(&b.container_id).unwrap();
    let mut desired = desired;
    desired.tasks.get_mut("taska0001").unwrap().observed = TaskState::Failed;
    let r = run(&node, desired.clone());
    let adopted = r.until("taskb0002", "adopted", running).await;
    assert_eq!(adopted.container_id, b.container_id);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = node.engine.container(&b.container_id).unwrap();
    assert_eq!(after.status, Status::Running);
    assert_eq!(
        after.shim.as_ref().map(|s| (s.pid, &s.started_at)),
        before.shim.as_ref().map(|s| (s.pid, &s.started_at)),
        "not restarted"
    );
    // A task the control plane holds as failed is not run again.
    assert_eq!(r.board.get("taska0001"), None);
    assert_eq!(
        node.engine.container(&a.container_id).unwrap().status,
        Status::Exited
    );

    // taskb0002 leaves the (complete) set.
    desired.tasks.remove("taskb0002");
    r.tx.send_replace(desired);
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.engine.container(&b.container_id).is_ok() {
        assert!(
            Instant::now() < deadline,
            "container of a removed task kept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.stop().await;
}

/// A failing healthcheck makes the task unhealthy; its container is stopped and restarted.
async fn unhealthy_restarted() {
    let node = Node::new();
    let yaml = "image: test:latest
command: [\"sh\", \"-c\", \"touch /tmp/ok; exec sleep 1000\"]
stop_grace_period: 1s
healthcheck:
  test: [\"CMD-SHELL\", \"test -e /tmp/ok && rm /tmp/ok\"]
  interval: 200ms
  timeout: 5s
  retries: 2
deploy:
  restart_policy:
    condition: any
    delay: 0s
";
    let r = run(&node, set(vec![task("taskh0001", 1, yaml)]));
    // The first check passes (and removes the file), the next ones fail.
    r.until("taskh0001", "healthy", |s| s.health() == Health::Healthy)
        .await;
    let sick = r
        .until("taskh0001", "unhealthy", |s| {
            s.health() == Health::Unhealthy
        })
        .await;
    assert!(sick.message.contains("exit code 1"), "{sick:?}");
    let back = r
        .until("taskh0001", "restarted", |s| {
            running(s) && s.restart_count == 1 && s.health() == Health::Healthy
        })
        .await;
    assert_eq!(back.container_id, sick.container_id, "restarted in place");
    r.stop().await;
}

/// `http://127.0.0.1:8080/` fetched with busybox nc (its wget crashes here): what came back.
fn fetch_8080() -> String {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 127.0.0.1 8080 2>&1",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fetches until each of `want` has answered (at most 60 tries); no one else may answer.
async fn all_answer(want: &[&str]) {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let got = tokio::task::spawn_blocking(fetch_8080).await.unwrap();
        match want.iter().find(|w| got.contains(**w)) {
            Some(w) => seen.insert(*w),
            None if got.contains("web.") => panic!("an answer from elsewhere: {got:?}"),
            None => false,
        };
        if seen.len() == want.len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {seen:?} of {want:?} answered");
}

/// Three replicas with the ingress port 8080:80 on one node (on the bridge): one service
/// port balances over the three (no conflict on 8080); a task taken out of the set is out
/// of the balance; no task left: the service port goes, and Skiff's table with it.
async fn ingress_balanced() {
    let node = Node::new();
    let yaml = "image: test:latest
command: [\"sh\", \"-c\", \"mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www\"]
stop_grace_period: 1s
ports: [\"8080:80\"]
";
    let mut desired = set(vec![
        task("taski0001", 1, yaml),
        task("taski0002", 2, yaml),
        task("taski0003", 3, yaml),
    ]);
    let r = run_on(&node, desired.clone(), NetworkMode::Bridge);
    for id in ["taski0001", "taski0002", "taski0003"] {
        r.until(id, "ran", running).await;
    }
    all_answer(&["web.1", "web.2", "web.3"]).await;
    desired.tasks.remove("taski0003");
    r.tx.send_replace(desired.clone());
    wait("taski0003 removed", || r.board.get("taski0003").is_none()).await;
    all_answer(&["web.1", "web.2"]).await;
    for _ in 0..20 {
        let got = tokio::task::spawn_blocking(fetch_8080).await.unwrap();
        assert!(!got.contains("web.3"), "web.3 answered after its removal");
    }
    // Nothing left: no service port, no table.
    r.tx.send_replace(set(vec![]));
    wait("Skiff's table gone", || {
        let listed = std::process::Command::new("nft")
            .args(["list", "table", "ip", "skiff"])
            .output()
            .unwrap();
        !listed.status.success()
    })
    .await;
    wait("containers removed", || {
        node.engine.containers().is_ok_and(|c| c.is_empty())
    })
    .await;
    r.stop().await;
}

/// Waits (up to 30 s) until `ok`.
async fn wait(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One test: an async function run on a runtime of its own.
type TestFn = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("shim") {
        std::process::exit(shim_main(&args[2..]));
    }
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let tests: Vec<(&str, TestFn)> = vec![
        ("run_restart_fail_adopt_remove", || {
            Box::pin(run_restart_fail_adopt_remove())
        }),
        ("unhealthy_restarted", || Box::pin(unhealthy_restarted())),
        ("ingress_balanced", || Box::pin(ingress_balanced())),
    ];
    // Still one thread: the whole process (and the shims it starts) moves.
    // SAFETY: unshare(2) with a flag, no pointers.
    assert_eq!(
        unsafe { libc::unshare(libc::CLONE_NEWNET) },
        0,
        "unshare: {}",
        std::io::Error::last_os_error()
    );
    let lo = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(lo.success(), "ip link set lo up");
    let mut failed = Vec::new();
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| rt.block_on(test())));
        drop(rt);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}
