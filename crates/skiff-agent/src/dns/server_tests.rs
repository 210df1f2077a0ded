//! The server on real sockets, all on 127.0.0.1: local answers over UDP and TCP, forwarding to
//! a fake upstream (also on 127.0.0.1), timeouts, limits, table swaps and hostile packets.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::server::{DnsLimits, DnsServer};
use super::table::{ClientScope, DnsTable, Target};

const LOOPBACK: &str = "127.0.0.1:0";

fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, d)
}

/// Queries in these tests come from 127.0.0.1, so that is the client of `dev`/`shop`.
fn table(web: Target) -> DnsTable {
    DnsTable::builder()
        .client(
            "127.0.0.1".parse().unwrap(),
            ClientScope::new("dev", "shop"),
        )
        .service("dev", "shop", "web", web)
        .build()
        .unwrap()
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    msg.to_vec().unwrap()
}

async fn udp_raw(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(LOOPBACK).await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    buf.truncate(n);
    Some(buf)
}

async fn udp_ask(server: SocketAddr, id: u16, name: &str) -> Message {
    let bytes = udp_raw(server, &query(id, name), Duration::from_secs(5))
        .await
        .expect("an answer over UDP");
    Message::from_vec(&bytes).unwrap()
}

async fn tcp_ask(server: SocketAddr, id: u16, name: &str) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let q = query(id, name);
    stream
        .write_all(&(q.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&q).await.unwrap();
    let len = stream.read_u16().await.unwrap();
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn addrs(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// A fake upstream on 127.0.0.1: answers every query with `10.53.0.1` over UDP and
/// `10.53.0.2` over TCP, and counts the queries it got.
struct Upstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

fn answer(query: &[u8], last: u8) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let mut r = Message::new();
    r.set_id(q.id()).set_message_type(MessageType::Response);
    r.add_queries(q.queries().iter().cloned());
    let name = q.queries()[0].name().clone();
    r.add_answer(Record::from_rdata(
        name,
        60,
        RData::A(A::new(10, 53, 0, last)),
    ));
    r.to_vec().unwrap()
}

async fn upstream() -> Upstream {
    let udp = UdpSocket::bind(LOOPBACK).await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let count = queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = udp.send_to(&answer(&buf[..n], 1), peer).await;
        }
    });
    let count = queries.clone();
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let len = s.read_u16().await.unwrap();
            let mut buf = vec![0u8; len as usize];
            s.read_exact(&mut buf).await.unwrap();
            let r = answer(&buf, 2);
            s.write_all(&(r.len() as u16).to_be_bytes()).await.unwrap();
            s.write_all(&r).await.unwrap();
        }
    });
    Upstream {
        addr,
        queries,
        tasks: vec![udp_task, tcp_task],
    }
}

fn quick() -> DnsLimits {
    DnsLimits {
        forward_timeout: Duration::from_millis(200),
        ..DnsLimits::default()
    }
}

#[tokio::test]
async fn local_names_are_answered_over_udp_and_tcp() {
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(server.local_addr().ip().to_string(), "127.0.0.1");
    server.set_table(table(Target::Vip(ip(9))));
    let addr = server.local_addr();
    for m in [
        udp_ask(addr, 7, "web.").await,
        tcp_ask(addr, 8, "WEB.shop.dev.").await,
    ] {
        assert!(m.id() == 7 || m.id() == 8);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.authoritative());
        assert_eq!(addrs(&m), vec![ip(9)]);
    }
    // No environment `prod` here: the name is not ours, and with no upstream it fails.
    let m = udp_ask(addr, 9, "web.shop.prod.").await;
    assert_eq!(m.response_code(), ResponseCode::ServFail);
}

#[tokio::test]
async fn other_names_are_forwarded_over_the_clients_transport() {
    let up = upstream().await;
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![up.addr])
        .await
        .unwrap();
    server.set_table(table(Target::Vip(ip(9))));
    let addr = server.local_addr();
    let m = udp_ask(addr, 0x1111, "example.com.").await;
    assert_eq!(
        (m.id(), addrs(&m)),
        (0x1111, vec![Ipv4Addr::new(10, 53, 0, 1)])
    );
    let m = tcp_ask(addr, 0x2222, "example.com.").await;
    assert_eq!(
        (m.id(), addrs(&m)),
        (0x2222, vec![Ipv4Addr::new(10, 53, 0, 2)])
    );
    assert_eq!(up.queries.load(Ordering::SeqCst), 2);

    // Names of the cluster domain never leave the node, nor do known names.
    let m = udp_ask(addr, 3, "nothing.shop.dev.skiff.internal.").await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    let m = udp_ask(addr, 4, "web.").await;
    assert_eq!(addrs(&m), vec![ip(9)]);
    assert_eq!(up.queries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_silent_upstream_gives_servfail_and_the_next_upstream_is_tried() {
    // Bound but never read: queries to it go unanswered.
    let silent = UdpSocket::bind(LOOPBACK).await.unwrap();
    let up = upstream().await;
    let silent_addr = silent.local_addr().unwrap();
    let server = DnsServer::start_with(LOOPBACK.parse().unwrap(), vec![silent_addr], quick())
        .await
        .unwrap();
    let started = Instant::now();
    let m = udp_ask(server.local_addr(), 5, "example.com.").await;
    assert_eq!((m.id(), m.response_code()), (5, ResponseCode::ServFail));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    server.set_upstreams(vec![silent_addr, up.addr]);
    let m = udp_ask(server.local_addr(), 6, "example.com.").await;
    assert_eq!(addrs(&m), vec![Ipv4Addr::new(10, 53, 0, 1)]);

    // No upstream at all, or only the server itself: SERVFAIL, no loop.
    server.set_upstreams(vec![server.local_addr()]);
    let m = udp_ask(server.local_addr(), 7, "example.com.").await;
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    drop(silent);
}

#[tokio::test]
async fn set_table_changes_answers_for_the_next_query_and_rr_rotates() {
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
        .await
        .unwrap();
    let addr = server.local_addr();
    server.set_table(table(Target::Tasks(vec![ip(1), ip(2)])));
    let a = addrs(&udp_ask(addr, 1, "web.").await);
    let b = addrs(&udp_ask(addr, 2, "web.").await);
    assert_eq!(a.len(), 2);
    assert_ne!(a[0], b[0], "consecutive answers start with different tasks");

    server.set_table(table(Target::Tasks(vec![ip(2)])));
    assert_eq!(addrs(&udp_ask(addr, 3, "web.").await), vec![ip(2)]);
    server.set_table(table(Target::Tasks(vec![])));
    let m = udp_ask(addr, 4, "web.").await;
    assert_eq!(
        (m.response_code(), m.answers().len()),
        (ResponseCode::NoError, 0)
    );
}

#[tokio::test]
async fn malformed_packets_do_not_stop_the_server() {
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
        .await
        .unwrap();
    server.set_table(table(Target::Vip(ip(9))));
    let addr = server.local_addr();
    let short = Duration::from_millis(200);
    assert_eq!(udp_raw(addr, b"\x01", short).await, None);
    let mut garbage = query(0x5151, "web.");
    garbage.truncate(15);
    let r = udp_raw(addr, &garbage, short).await.expect("FORMERR");
    assert_eq!((&r[..2], r[3] & 0x0f), (&[0x51, 0x51][..], 1));
    let r = udp_raw(addr, &vec![0u8; 4000], short)
        .await
        .expect("REFUSED");
    assert_eq!(r[3] & 0x0f, 5);

    // TCP: an oversized length prefix closes the connection; so does a half-sent query.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    let mut buf = [0u8; 16];
    // Closed with unread bytes in the socket, the kernel resets the connection.
    let closed = s.read(&mut buf).await;
    assert!(matches!(closed, Ok(0)) || closed.is_err(), "{closed:?}");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 40, 1]).await.unwrap();
    drop(s);

    assert_eq!(addrs(&udp_ask(addr, 1, "web.").await), vec![ip(9)]);
    assert_eq!(addrs(&tcp_ask(addr, 2, "web.").await), vec![ip(9)]);
}

#[tokio::test]
async fn forwarded_queries_beyond_the_limit_get_servfail_at_once() {
    let silent = UdpSocket::bind(LOOPBACK).await.unwrap();
    let limits = DnsLimits {
        forward_timeout: Duration::from_secs(3),
        max_forwarded: 1,
        ..DnsLimits::default()
    };
    let server = DnsServer::start_with(
        LOOPBACK.parse().unwrap(),
        vec![silent.local_addr().unwrap()],
        limits,
    )
    .await
    .unwrap();
    server.set_table(table(Target::Vip(ip(9))));
    let addr = server.local_addr();
    // The first query holds the only slot for 3 s.
    let first = tokio::spawn(async move {
        udp_raw(addr, &query(1, "a.example."), Duration::from_secs(5)).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let m = udp_ask(addr, 2, "b.example.").await;
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Local answers do not wait for the slot.
    assert_eq!(addrs(&udp_ask(addr, 3, "web.").await), vec![ip(9)]);
    let m = Message::from_vec(&first.await.unwrap().expect("SERVFAIL")).unwrap();
    assert_eq!(m.response_code(), ResponseCode::ServFail);
}

#[tokio::test]
async fn a_stopped_server_answers_nothing() {
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
        .await
        .unwrap();
    server.set_table(table(Target::Vip(ip(9))));
    let addr = server.local_addr();
    assert_eq!(addrs(&udp_ask(addr, 1, "web.").await), vec![ip(9)]);
    server.shutdown().await;
    let none = udp_raw(addr, &query(2, "web."), Duration::from_millis(300)).await;
    assert_eq!(none, None);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn an_address_in_use_is_a_clear_error() {
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
        .await
        .unwrap();
    let err = DnsServer::start(server.local_addr(), vec![])
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&server.local_addr().to_string()), "{msg}");
}

#[tokio::test]
async fn upstream_replies_with_another_id_or_question_are_ignored() {
    // Sends a reply with a wrong id, then one for another question, then the right one.
    let udp = UdpSocket::bind(LOOPBACK).await.unwrap();
    let up = udp.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            let mut wrong_id = answer(&buf[..n], 7);
            wrong_id[1] ^= 1;
            let mut q = Message::from_vec(&buf[..n]).unwrap();
            q.queries_mut()[0].set_name(Name::from_ascii("evil.example.").unwrap());
            let wrong_question = answer(&q.to_vec().unwrap(), 8);
            for reply in [wrong_id, wrong_question, answer(&buf[..n], 3)] {
                let _ = udp.send_to(&reply, peer).await;
            }
        }
    });
    let server = DnsServer::start_with(LOOPBACK.parse().unwrap(), vec![up], quick())
        .await
        .unwrap();
    let m = udp_ask(server.local_addr(), 0x0a0b, "example.com.").await;
    assert_eq!(
        (m.id(), addrs(&m)),
        (0x0a0b, vec![Ipv4Addr::new(10, 53, 0, 3)])
    );
    task.abort();
}

#[tokio::test]
async fn a_dropped_server_closes_its_sockets() {
    let server = DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
        .await
        .unwrap();
    let addr = server.local_addr();
    assert!(TcpStream::connect(addr).await.is_ok());
    drop(server);
    // The aborted tasks are dropped, with their sockets, the next time the runtime runs.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
    let none = udp_raw(addr, &query(2, "web."), Duration::from_millis(200)).await;
    assert_eq!(none, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_during_table_swaps_get_one_table_or_the_other() {
    let server = Arc::new(
        DnsServer::start(LOOPBACK.parse().unwrap(), vec![])
            .await
            .unwrap(),
    );
    server.set_table(table(Target::Vip(ip(1))));
    let addr = server.local_addr();
    let swapper = {
        let server = server.clone();
        tokio::spawn(async move {
            for i in 0..200u8 {
                server.set_table(table(Target::Vip(ip(1 + i % 2))));
                tokio::task::yield_now().await;
            }
        })
    };
    let askers: Vec<_> = (0..100u16)
        .map(|id| tokio::spawn(async move { addrs(&udp_ask(addr, id, "web.").await) }))
        .collect();
    for asker in askers {
        let got = asker.await.unwrap();
        assert!(got == vec![ip(1)] || got == vec![ip(2)], "{got:?}");
    }
    swapper.await.unwrap();
}
