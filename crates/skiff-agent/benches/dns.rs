//! Query latency of the embedded DNS server for a local answer, and of dnsmasq serving the
//! same name from a hosts file when it is installed (Debian's `dnsmasq-base`), both on
//! 127.0.0.1; then of a query forwarded by the embedded server to that dnsmasq. Sequential
//! queries from one client socket; prints p50/p99/mean.
//!
//! Run: `cargo bench -p skiff-agent --bench dns` (release build; `DNS_BENCH_QUERIES=N` to change
//! the count, 10000 by default).

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use skiff_agent::dns::{ClientScope, DnsServer, DnsTable, Target};

fn query(id: u16) -> Vec<u8> {
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    msg.add_query(Query::query(
        Name::from_ascii("web.").unwrap(),
        RecordType::A,
    ));
    msg.to_vec().unwrap()
}

/// Asks `server` for `web.` `count` times in a row; the round trip of each, sorted.
fn measure(server: SocketAddr, count: usize) -> Vec<Duration> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut times = Vec::with_capacity(count);
    for i in 0..count + 500 {
        let q = query(i as u16);
        let start = Instant::now();
        socket.send(&q).unwrap();
        let n = socket.recv(&mut buf).expect("an answer within 2 s");
        let elapsed = start.elapsed();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.answers().len(), 1, "web. resolves");
        // The first 500 warm caches and the branch predictor up.
        if i >= 500 {
            times.push(elapsed);
        }
    }
    times.sort();
    times
}

fn report(name: &str, times: &[Duration]) {
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{name:<24} {} queries  p50 {:>6.1} µs  p99 {:>6.1} µs  mean {:>6.1} µs",
        times.len(),
        pct(50).as_secs_f64() * 1e6,
        pct(99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
    );
}

/// A free port on 127.0.0.1 for dnsmasq (racy, good enough for a benchmark).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// dnsmasq on 127.0.0.1 answering `web` from a hosts file, no upstream, no cache of its own
/// beyond the hosts file; `None` if it is not installed.
fn start_dnsmasq(dir: &std::path::Path) -> Option<(Child, SocketAddr)> {
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "10.96.0.1 web\n").unwrap();
    let port = free_port();
    let child = Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
        ])
        .arg(format!("--addn-hosts={}", hosts.display()))
        .args([
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--local-ttl=0",
            "--pid-file=",
        ])
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    for _ in 0..50 {
        let _ = probe.send_to(&query(1), addr);
        if probe.recv(&mut [0u8; 512]).is_ok() {
            return Some((child, addr));
        }
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn main() {
    let count: usize = std::env::var("DNS_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // One worker: the server's answers are computed on the receiving task, as in the agent.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let server = DnsServer::start("127.0.0.1:0".parse().unwrap(), vec![])
            .await
            .unwrap();
        let table = DnsTable::builder()
            .client(
                "127.0.0.1".parse().unwrap(),
                ClientScope::new("dev", "shop"),
            )
            .service(
                "dev",
                "shop",
                "web",
                Target::Vip("10.96.0.1".parse().unwrap()),
            )
            .build()
            .unwrap();
        server.set_table(table);
        server
    });
    report("skiff embedded DNS", &measure(server.local_addr(), count));

    let dir = tempfile::tempdir().unwrap();
    match start_dnsmasq(dir.path()) {
        Some((mut child, addr)) => {
            report("dnsmasq (hosts file)", &measure(addr, count));
            // A second server with an empty table forwards everything to dnsmasq.
            let forwarder = rt.block_on(async {
                DnsServer::start("127.0.0.1:0".parse().unwrap(), vec![addr])
                    .await
                    .unwrap()
            });
            report(
                "skiff → dnsmasq (fwd)",
                &measure(forwarder.local_addr(), count),
            );
            rt.block_on(forwarder.shutdown());
            let _ = child.kill();
            let _ = child.wait();
        }
        None => println!("dnsmasq not installed (apt install dnsmasq-base): no comparison"),
    }
    rt.block_on(server.shutdown());
}
