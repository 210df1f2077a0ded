//! The runner over the fake engine: what it does and reports, with short delays.

use std::time::Duration;

use super::*;
use crate::reconcile::fake::FakeEngine;
use crate::test_support::task;

struct Harness {
    fake: Arc<FakeEngine>,
    board: StatusBoard,
    tx: watch::Sender<DesiredSet>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<()>,
}

fn start(fake: Arc<FakeEngine>, set: DesiredSet) -> Harness {
    let board = StatusBoard::new();
    let (tx, rx) = watch::channel(set);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let opts = ReconcilerOptions {
        poll_interval: Duration::from_millis(10),
        ..ReconcilerOptions::default()
    };
    let r = Reconciler::new(fake.clone(), board.clone(), opts);
    let handle = tokio::spawn(r.run(rx, async move {
        let _ = stopped.await;
    }));
    Harness {
        fake,
        board,
        tx,
        stop: Some(stop),
        handle,
    }
}

impl Harness {
    async fn stop(mut self) -> Arc<FakeEngine> {
        let _ = self.stop.take().unwrap().send(());
        self.handle.await.unwrap();
        self.fake
    }

    /// Waits until task `id`'s status satisfies `ok`.
    async fn until(&self, id: &str, ok: impl Fn(&TaskStatus) -> bool) -> TaskStatus {
        for _ in 0..500 {
            if let Some(s) = self.board.get(id).filter(|s| ok(s)) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {id}: {:?}", self.board.get(id));
    }
}

fn set(tasks: &[(&str, &str)]) -> DesiredSet {
    let mut set = DesiredSet {
        revision: 1,
        complete: true,
        ..DesiredSet::default()
    };
    for (i, (id, yaml)) in tasks.iter().enumerate() {
        set.tasks
            .insert(id.to_string(), task(id, i as u32 + 1, yaml));
    }
    set
}

fn state(s: &TaskStatus) -> TaskState {
    s.state()
}

const RESTART_NOW: &str = "image: busybox
deploy:
  restart_policy:
    condition: on-failure
    delay: 0s
    max_attempts: 1
";

#[tokio::test]
async fn tasks_run_restart_in_place_then_fail_when_attempts_are_spent() {
    let h = start(
        Arc::default(),
        set(&[("a", RESTART_NOW), ("b", RESTART_NOW)]),
    );
    let a = h.until("a", |s| state(s) == TaskState::Running).await;
    h.until("b", |s| state(s) == TaskState::Running).await;
    assert!(a.container_id.starts_with('c'), "{a:?}");
    assert!(a.ip.starts_with("10.0.0."), "{a:?}");
    h.fake.exit(&a.container_id, 3);
    let again = h
        .until("a", |s| {
            state(s) == TaskState::Running && s.restart_count == 1
        })
        .await;
    assert_eq!(again.container_id, a.container_id, "restarted in place");
    h.fake.exit(&a.container_id, 3);
    let failed = h.until("a", |s| state(s) == TaskState::Failed).await;
    assert_eq!(failed.exit_code, Some(3));
    assert!(
        failed.message.contains("1 restarts were made"),
        "{failed:?}"
    );
    let fake = h.stop().await;
    let starts = fake.ops().iter().filter(|o| o.starts_with("start")).count();
    assert_eq!(starts, 3, "{:?}", fake.ops());
}

#[tokio::test]
async fn a_new_reconciler_adopts_running_containers() {
    let desired = set(&[("a", RESTART_NOW)]);
    let h = start(Arc::default(), desired.clone());
    let first = h.until("a", |s| state(s) == TaskState::Running).await;
    let fake = h.stop().await;
    let ops = fake.ops().len();
    let h = start(fake, desired);
    let adopted = h.until("a", |s| state(s) == TaskState::Running).await;
    assert_eq!(adopted.container_id, first.container_id);
    assert_eq!(adopted.message, "running container adopted");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fake = h.stop().await;
    assert_eq!(fake.ops().len(), ops, "nothing done: {:?}", fake.ops());
}

#[tokio::test]
async fn a_task_left_out_of_a_complete_set_is_removed_and_forgotten() {
    let h = start(
        Arc::default(),
        set(&[("a", RESTART_NOW), ("b", RESTART_NOW)]),
    );
    h.until("a", |s| state(s) == TaskState::Running).await;
    h.until("b", |s| state(s) == TaskState::Running).await;
    h.tx.send_replace(set(&[("b", RESTART_NOW)]));
    for _ in 0..500 {
        if h.fake.containers().len() == 1 && h.board.get("a").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.fake.containers().len(), 1, "{:?}", h.fake.ops());
    assert_eq!(h.board.get("a"), None);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_stops_and_reports() {
    let mut desired = set(&[("a", RESTART_NOW)]);
    let h = start(Arc::default(), desired.clone());
    h.until("a", |s| state(s) == TaskState::Running).await;
    desired.tasks.get_mut("a").unwrap().want = Want::Shutdown;
    h.tx.send_replace(desired);
    h.until("a", |s| state(s) == TaskState::Shutdown).await;
    let fake = h.stop().await;
    assert!(fake.ops().iter().any(|o| o.starts_with("stop")));
    assert_eq!(fake.containers().len(), 1, "kept");
}

#[tokio::test]
async fn an_unhealthy_container_is_reported_and_restarted() {
    let yaml = "image: busybox
healthcheck:
  test: [\"CMD\", \"check\"]
  interval: 20ms
  retries: 2
deploy:
  restart_policy:
    delay: 0s
";
    let fake: Arc<FakeEngine> = Arc::default();
    let h = start(fake.clone(), set(&[("a", yaml)]));
    h.until("a", |s| s.health() == Health::Healthy).await;
    fake.set_health_exit(1);
    // The unhealthy verdict is reported, then at once the restart it causes (whose message
    // names the verdict): a poll of the board may see either.
    let sick = h
        .until("a", |s| {
            s.health() == Health::Unhealthy || s.message.starts_with("unhealthy")
        })
        .await;
    assert!(sick.message.contains("exit code 1"), "{sick:?}");
    fake.set_health_exit(0);
    let back = h
        .until("a", |s| {
            s.restart_count >= 1 && s.health() == Health::Healthy
        })
        .await;
    assert_eq!(state(&back), TaskState::Running);
    assert_eq!(back.container_id, sick.container_id, "restarted in place");
    // Healthy again, it stays up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later = h.board.get("a").unwrap();
    assert_eq!(
        (state(&later), later.restart_count),
        (TaskState::Running, back.restart_count)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_task_the_engine_cannot_run_fails_with_the_field_named() {
    let h = start(
        Arc::default(),
        set(&[("a", "image: busybox\nports: [\"80\"]\n")]),
    );
    let failed = h.until("a", |s| state(s) == TaskState::Failed).await;
    assert!(failed.message.contains("ports[0].published"), "{failed:?}");
    let fake = h.stop().await;
    assert!(fake.ops().is_empty());
}

#[tokio::test]
async fn ingress_ports_follow_the_healthy_running_tasks_and_are_set_only_on_change() {
    let yaml = "image: busybox
ports: [\"8080:80\", {target: 443, published: 8443, mode: host}]
healthcheck:
  test: [\"CMD\", \"check\"]
  interval: 20ms
  retries: 1
deploy:
  restart_policy:
    condition: none
";
    let fake: Arc<FakeEngine> = Arc::default();
    let h = start(fake.clone(), set(&[("a", yaml), ("b", yaml)]));
    let backends = |fake: &FakeEngine| -> Option<Vec<String>> {
        let last = fake.service_ports().last()?.clone();
        assert_eq!(last.len(), 1, "{last:?}");
        assert_eq!(
            (last[0].name.as_str(), last[0].published),
            ("dev/shop/web", 8080)
        );
        Some(last[0].backends.iter().map(|b| b.to_string()).collect())
    };
    let until = |want: &'static [&'static str]| {
        let fake = fake.clone();
        async move {
            for _ in 0..500 {
                if backends(&fake).is_some_and(|b| b == want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("wanted {want:?}: {:?}", fake.service_ports());
        }
    };
    // Published before any task is ready (refusing), then over both once they are healthy.
    until(&["10.0.0.1:80", "10.0.0.2:80"]).await;
    assert_eq!(fake.service_ports()[0][0].backends, []);
    // Unhealthy: out of the list (and stopped: the policy does not restart it).
    fake.set_health_exit(1);
    until(&[]).await;
    let fake = h.stop().await;
    let sets = fake.service_ports();
    assert!(
        sets.windows(2).all(|w| w[0] != w[1]),
        "set only on change: {sets:?}"
    );
}
