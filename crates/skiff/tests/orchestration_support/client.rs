//! A client that fetches `http://ADDR/` over and over from inside a test host's network
//! namespace, noting the wall-clock time and the outcome of each request: what the service
//! tests and benchmarks measure traffic with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One request: when it ended (ms since the epoch) and the body's last line, or `None` when
/// it failed (refused, timed out, cut).
pub type Outcome = (u64, Option<String>);

/// Milliseconds since the epoch, as the agents stamp their reports.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A running client; dropping it stops it.
pub struct Client {
    /// Every request so far, in order.
    pub outcomes: Arc<Mutex<Vec<Outcome>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// Starts fetching `http://target/` in the network namespace `netns` (a name under
    /// /run/netns), each request with `timeout`.
    pub fn start(netns: &str, target: SocketAddr, timeout: Duration) -> Client {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let path = format!("/run/netns/{netns}");
        let thread = std::thread::spawn({
            let (outcomes, stop) = (outcomes.clone(), stop.clone());
            move || {
                let file = std::fs::File::open(&path).expect("the host's namespace");
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                while !stop.load(Ordering::Relaxed) {
                    let body = fetch(target, timeout);
                    let failed = body.is_none();
                    outcomes.lock().unwrap().push((now_ms(), body));
                    if failed {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        });
        Client {
            outcomes,
            stop,
            thread: Some(thread),
        }
    }

    /// The requests that ended at or after `since` (ms since the epoch).
    pub fn since(&self, since: u64) -> Vec<Outcome> {
        let all = self.outcomes.lock().unwrap();
        all.iter().filter(|(at, _)| *at >= since).cloned().collect()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `GET /` on `target`: the body's last line, or nothing when it failed.
fn fetch(target: SocketAddr, timeout: Duration) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&target, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines().last().map(|l| l.trim().to_owned())
}
