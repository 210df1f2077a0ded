//! The load: closed-loop clients, each with one write in flight at a time over a keep-alive
//! HTTP/1.1 connection of its own, writing its own keys round-robin. Client `i` starts on
//! member `i % 3`; after a failed write it moves to the next member and tries again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::task::JoinHandle;

use super::Api;

/// How long a client waits after a failed write before it tries again (on the next member).
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// The shape of the load.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Concurrent clients.
    pub clients: usize,
    /// Distinct keys each client writes, round-robin.
    pub keys_per_client: usize,
    /// Bytes of each value.
    pub value_bytes: usize,
    /// The longest a write is waited for before it counts as failed and the client moves on.
    /// Client `i` of `n` waits `timeout × (n + i) / 2n`: clients stuck at the same moment (on a
    /// member that lost their writes) then retry at different moments, not in step.
    pub timeout: Duration,
    /// Latencies are recorded for writes acknowledged in this window, measured from the start.
    pub window: Option<(Duration, Duration)>,
}

/// What the clients share with the benchmark while they run.
#[derive(Debug)]
struct Shared {
    epoch: Instant,
    stop: AtomicBool,
    /// When a member was killed, in ns since `epoch` (`u64::MAX`: not yet).
    killed_at: AtomicU64,
    /// When the first write sent after the kill was acknowledged, in ns since `epoch`.
    first_ok_after_kill: AtomicU64,
}

impl Shared {
    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct ClientResult {
    latencies: Vec<Duration>,
    window_errors: u64,
    acked: u64,
    errors: u64,
}

/// What a load run gave.
#[derive(Debug, Default)]
pub struct Summary {
    /// Latencies of the writes acknowledged in the window, sorted.
    pub latencies: Vec<Duration>,
    /// Failed writes (error status, refused connection, timeout) that ended in the window.
    pub window_errors: u64,
    /// Writes acknowledged over the whole run.
    pub acked: u64,
    /// Failed writes over the whole run.
    pub errors: u64,
}

impl Summary {
    /// The latency at percentile `p` (nearest rank), zero without writes.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies[rank.clamp(1, n) - 1]
    }
}

/// A running load.
#[derive(Debug)]
pub struct Load {
    shared: Arc<Shared>,
    clients: Vec<JoinHandle<ClientResult>>,
}

impl Load {
    /// Starts `config.clients` clients against `api`'s members.
    pub fn start(api: Api, config: &LoadConfig) -> Load {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
            killed_at: AtomicU64::new(u64::MAX),
            first_ok_after_kill: AtomicU64::new(u64::MAX),
        });
        let api = Arc::new(api);
        let value: Vec<u8> = (0..config.value_bytes)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let value = Arc::new(BASE64.encode(value));
        let clients = (0..config.clients)
            .map(|id| {
                let client = Client {
                    id,
                    api: api.clone(),
                    shared: shared.clone(),
                    config: config.clone(),
                    value: value.clone(),
                };
                tokio::spawn(client.run())
            })
            .collect();
        Load { shared, clients }
    }

    /// Tells the clients a member was killed at `at`: from then on, the first acknowledged
    /// write that was sent after `at` is noted.
    pub fn killed_at(&self, at: Instant) {
        let at = self.shared.nanos(at);
        self.shared.killed_at.store(at, Ordering::SeqCst);
    }

    /// Waits (up to `limit`) for a write sent after the kill to be acknowledged, and returns how
    /// long after the kill that was.
    pub async fn recovery(&self, limit: Duration) -> Option<Duration> {
        let killed = self.shared.killed_at.load(Ordering::SeqCst);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let ok = self.shared.first_ok_after_kill.load(Ordering::SeqCst);
            if ok != u64::MAX {
                return Some(Duration::from_nanos(ok.saturating_sub(killed)));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        None
    }

    /// Stops the clients (each ends after its write in flight) and gathers what they saw.
    pub async fn stop(self) -> Summary {
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut summary = Summary::default();
        for client in self.clients {
            let r = client.await.expect("a load client panicked");
            summary.latencies.extend(r.latencies);
            summary.window_errors += r.window_errors;
            summary.acked += r.acked;
            summary.errors += r.errors;
        }
        summary.latencies.sort_unstable();
        summary
    }
}

/// One closed-loop client.
struct Client {
    id: usize,
    api: Arc<Api>,
    shared: Arc<Shared>,
    config: LoadConfig,
    value: Arc<String>,
}

impl Client {
    fn timeout(&self) -> Duration {
        let n = self.config.clients.max(1) as u32;
        self.config.timeout * (n + self.id as u32) / (2 * n)
    }

    async fn run(self) -> ClientResult {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .timeout(self.timeout())
            .build()
            .expect("build an HTTP client");
        let keys: Vec<String> = (0..self.config.keys_per_client.max(1))
            .map(|slot| self.api.key(self.id, slot))
            .collect();
        let window = self.config.window.map(|(from, until)| {
            let ns = |d: Duration| d.as_nanos() as u64;
            (ns(from), ns(until))
        });
        let mut member = self.id % self.api.urls.len();
        let mut slot = 0;
        let mut result = ClientResult::default();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let sent = Instant::now();
            let request = self.api.write(&http, member, &keys[slot], &self.value);
            let ok = match request.send().await {
                // Read the whole answer, so the connection is reused for the next write.
                Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                Err(_) => false,
            };
            let done = Instant::now();
            let (sent_ns, done_ns) = (self.shared.nanos(sent), self.shared.nanos(done));
            let in_window = window.is_some_and(|(from, until)| (from..until).contains(&done_ns));
            if ok {
                result.acked += 1;
                if in_window {
                    result.latencies.push(done - sent);
                }
                if sent_ns >= self.shared.killed_at.load(Ordering::SeqCst) {
                    self.shared
                        .first_ok_after_kill
                        .fetch_min(done_ns, Ordering::SeqCst);
                }
                slot = (slot + 1) % keys.len();
            } else {
                result.errors += 1;
                result.window_errors += u64::from(in_window);
                member = (member + 1) % self.api.urls.len();
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
        result
    }
}
