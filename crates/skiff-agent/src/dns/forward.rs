//! Relays a query to the node's resolvers as it came (only the id changes) and returns their
//! reply with the client's id restored. UDP queries go out over UDP (a truncated reply is
//! relayed as is, so the client retries over TCP), TCP queries over TCP.
//!
//! Each attempt uses a fresh socket connected to the upstream and a random id, and accepts
//! only a reply carrying that id and the same question; upstreams are tried in order, each
//! within the timeout.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

use super::wire::Transport;

/// At most this many upstreams are tried for one query (glibc's `MAXNS`).
pub const MAX_UPSTREAMS: usize = 3;

/// Sends `query` to `upstreams` in turn; `None` when none answered within `timeout` each.
pub(crate) async fn forward(
    query: &[u8],
    upstreams: &[SocketAddr],
    timeout: Duration,
    transport: Transport,
) -> Option<Vec<u8>> {
    let asked = Message::from_vec(query).ok()?;
    for upstream in upstreams.iter().take(MAX_UPSTREAMS) {
        let id = random_id();
        let mut out = query.to_vec();
        out[..2].copy_from_slice(&id.to_be_bytes());
        let deadline = Instant::now() + timeout;
        let reply = match transport {
            Transport::Udp => udp_exchange(&out, *upstream, id, &asked, deadline).await,
            Transport::Tcp => tcp_exchange(&out, *upstream, id, &asked, deadline).await,
        };
        if let Some(mut reply) = reply {
            reply[..2].copy_from_slice(&query[..2]);
            return Some(reply);
        }
    }
    None
}

/// A local address to send from: loopback for a loopback upstream (so that nothing but the
/// loopback interface is ever bound for it), else any address of the upstream's family.
fn local_for(upstream: SocketAddr) -> SocketAddr {
    let ip = match (upstream.is_ipv4(), upstream.ip().is_loopback()) {
        (true, true) => Ipv4Addr::LOCALHOST.into(),
        (true, false) => Ipv4Addr::UNSPECIFIED.into(),
        (false, true) => Ipv6Addr::LOCALHOST.into(),
        (false, false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 0)
}

async fn udp_exchange(
    out: &[u8],
    upstream: SocketAddr,
    id: u16,
    asked: &Message,
    deadline: Instant,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(local_for(upstream)).await.ok()?;
    socket.connect(upstream).await.ok()?;
    socket.send(out).await.ok()?;
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        // A connected socket only receives from the upstream; a reply with the wrong id or
        // question (late, or spoofed) is skipped and the wait goes on until the deadline.
        let n = timeout_at(deadline, socket.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        if matches(&buf[..n], id, asked) {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

async fn tcp_exchange(
    out: &[u8],
    upstream: SocketAddr,
    id: u16,
    asked: &Message,
    deadline: Instant,
) -> Option<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await.ok()?;
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&u16::try_from(out.len()).ok()?.to_be_bytes());
        framed.extend_from_slice(out);
        stream.write_all(&framed).await.ok()?;
        let len = stream.read_u16().await.ok()?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.ok()?;
        matches(&buf, id, asked).then_some(buf)
    };
    timeout_at(deadline, exchange).await.ok()?
}

/// Whether `reply` answers the query we sent: a response with our id and the same question.
fn matches(reply: &[u8], id: u16, asked: &Message) -> bool {
    if reply.len() < 12 || reply[..2] != id.to_be_bytes() || reply[2] & 0x80 == 0 {
        return false;
    }
    Message::from_vec(reply).is_ok_and(|m| m.queries() == asked.queries())
}

/// A random query id, so that an off-path host cannot guess it (with the random source port
/// the kernel picks for each fresh socket).
fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // getrandom fails only if the OS has no randomness source at all; a fixed id then still
    // works, it is only easier to spoof.
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}
