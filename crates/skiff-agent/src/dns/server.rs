//! The sockets: one UDP socket and one TCP listener on the same address, answering from the
//! current [`DnsTable`] and forwarding the rest. Local answers are computed inline on the
//! receiving task (microseconds); forwarded queries run as tasks, at most
//! [`DnsLimits::max_forwarded`] at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::forward::forward;
use super::table::DnsTable;
use super::wire::{handle, Decision, Transport, MAX_QUERY_LEN};
use super::DnsError;

/// Bounds on the work one server does, so that a flood of queries costs bounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsLimits {
    /// How long one upstream may take to answer before the next is tried; when all fail the
    /// client gets SERVFAIL.
    pub forward_timeout: Duration,
    /// Forwarded queries in flight at once; beyond it a query is answered SERVFAIL at once.
    pub max_forwarded: usize,
    /// TCP connections open at once; beyond it new connections are closed.
    pub max_tcp_connections: usize,
    /// A TCP connection with no complete query for this long is closed.
    pub tcp_idle_timeout: Duration,
}

impl Default for DnsLimits {
    fn default() -> Self {
        Self {
            // glibc waits 5 s per attempt: two upstreams fit in one client attempt.
            forward_timeout: Duration::from_secs(2),
            max_forwarded: 256,
            max_tcp_connections: 64,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// What the socket tasks share.
#[derive(Debug)]
struct Shared {
    table: RwLock<Arc<DnsTable>>,
    upstreams: RwLock<Arc<Vec<SocketAddr>>>,
    limits: DnsLimits,
    forward_slots: Arc<Semaphore>,
    turn: AtomicUsize,
}

impl Shared {
    fn table(&self) -> Arc<DnsTable> {
        // A poisoned lock only means a writer panicked between two whole tables.
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn upstreams(&self) -> Arc<Vec<SocketAddr>> {
        self.upstreams
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn decide(&self, bytes: &[u8], peer: SocketAddr, transport: Transport) -> Decision {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        handle(bytes, peer.ip(), &self.table(), turn, transport)
    }

    /// A forwarding slot, if one is free.
    fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.forward_slots.clone().try_acquire_owned().ok()
    }

    /// Forwards `query` while holding `_slot`; SERVFAIL when every upstream fails.
    async fn forward(
        &self,
        _slot: OwnedSemaphorePermit,
        query: &[u8],
        servfail: Vec<u8>,
        transport: Transport,
    ) -> Vec<u8> {
        let upstreams = self.upstreams();
        forward(query, &upstreams, self.limits.forward_timeout, transport)
            .await
            .unwrap_or(servfail)
    }
}

/// The node's DNS server. Stops when dropped or on [`DnsServer::shutdown`].
#[derive(Debug)]
pub struct DnsServer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves UDP and TCP on `listen` (port 0 picks a free port, the same for both), with an
    /// empty table, forwarding other names to `upstreams` with the default limits. Call it
    /// within a tokio runtime: the sockets are served by tasks spawned on it.
    pub async fn start(listen: SocketAddr, upstreams: Vec<SocketAddr>) -> Result<Self, DnsError> {
        Self::start_with(listen, upstreams, DnsLimits::default()).await
    }

    /// [`DnsServer::start`] with explicit limits.
    pub async fn start_with(
        listen: SocketAddr,
        upstreams: Vec<SocketAddr>,
        limits: DnsLimits,
    ) -> Result<Self, DnsError> {
        let (udp, tcp) = bind_both(listen).await?;
        let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
            addr: listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            table: RwLock::new(Arc::new(DnsTable::default())),
            upstreams: RwLock::new(Arc::new(Vec::new())),
            forward_slots: Arc::new(Semaphore::new(limits.max_forwarded)),
            limits,
            turn: AtomicUsize::new(0),
        });
        let server = Self {
            tasks: vec![
                tokio::spawn(serve_udp(Arc::new(udp), shared.clone())),
                tokio::spawn(serve_tcp(tcp, shared.clone())),
            ],
            shared,
            local_addr,
        };
        server.set_upstreams(upstreams);
        Ok(server)
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Replaces the table; the next query is answered from it.
    pub fn set_table(&self, table: DnsTable) {
        *self.shared.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }

    /// Replaces the upstream resolvers (e.g. after resolv.conf changed). The server's own
    /// address is left out (and, when it listens on the unspecified address, loopback on its
    /// port), so that it never forwards to itself.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        let upstreams = without_self(upstreams, self.local_addr);
        *self
            .shared
            .upstreams
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(upstreams);
    }

    /// Stops serving and waits until both sockets are closed.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// `upstreams` less the ones that would be this server at `me`.
fn without_self(mut upstreams: Vec<SocketAddr>, me: SocketAddr) -> Vec<SocketAddr> {
    upstreams.retain(|u| {
        let via_loopback = me.ip().is_unspecified() && u.ip().is_loopback();
        *u != me && !(via_loopback && u.port() == me.port())
    });
    upstreams
}

/// Binds UDP on `listen`, then TCP on the port UDP got. With port 0 the TCP port may be taken
/// by someone else; a few fresh tries then find a port free for both.
async fn bind_both(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let bind_err = |source| DnsError::Bind {
        addr: listen,
        source,
    };
    let mut tries = if listen.port() == 0 { 8 } else { 1 };
    loop {
        let udp = UdpSocket::bind(listen).await.map_err(bind_err)?;
        let addr = udp.local_addr().map_err(bind_err)?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if tries <= 1 => return Err(bind_err(e)),
            Err(_) => tries -= 1,
        }
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    // One byte more than the largest accepted query, so that an oversized datagram is seen
    // as oversized (the kernel truncates it to the buffer) and refused.
    let mut buf = vec![0u8; MAX_QUERY_LEN + 1];
    // Dropping the set (when this task is aborted) aborts the forwards in flight.
    let mut forwards = JoinSet::new();
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                // Errors of an unconnected UDP socket concern one datagram; go on.
                let Ok((n, peer)) = received else { continue };
                match shared.decide(&buf[..n], peer, Transport::Udp) {
                    Decision::Reply(reply) => {
                        let _ = socket.send_to(&reply, peer).await;
                    }
                    Decision::Forward { servfail } => {
                        // Without a free slot the answer is SERVFAIL at once, with no task.
                        let Some(slot) = shared.slot() else {
                            let _ = socket.send_to(&servfail, peer).await;
                            continue;
                        };
                        let (query, socket, shared) = (buf[..n].to_vec(), socket.clone(), shared.clone());
                        forwards.spawn(async move {
                            let reply = shared.forward(slot, &query, servfail, Transport::Udp).await;
                            let _ = socket.send_to(&reply, peer).await;
                        });
                    }
                    Decision::Drop => {}
                }
            }
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
        }
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_tcp_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of descriptors, most likely: let some connections finish first.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                // Over the limit the connection is dropped (closed) at once.
                let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    serve_connection(stream, peer, &shared).await;
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Answers length-prefixed queries on one connection in order, until the client closes it,
/// idles, or sends something that is not a query.
async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let idle = shared.limits.tcp_idle_timeout;
    let mut buf = vec![0u8; MAX_QUERY_LEN];
    loop {
        let read = async {
            let len = usize::from(stream.read_u16().await.ok()?);
            if !(12..=MAX_QUERY_LEN).contains(&len) {
                return None;
            }
            stream.read_exact(&mut buf[..len]).await.ok()?;
            Some(len)
        };
        let Ok(Some(len)) = tokio::time::timeout(idle, read).await else {
            return;
        };
        let reply = match shared.decide(&buf[..len], peer, Transport::Tcp) {
            Decision::Reply(reply) => reply,
            Decision::Forward { servfail } => match shared.slot() {
                Some(slot) => {
                    let query = &buf[..len];
                    shared.forward(slot, query, servfail, Transport::Tcp).await
                }
                None => servfail,
            },
            Decision::Drop => return,
        };
        let Ok(prefix) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&prefix.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_never_its_own_upstream() {
        let addrs = |list: &[&str]| -> Vec<SocketAddr> {
            list.iter().map(|s| s.parse().unwrap()).collect()
        };
        let all = addrs(&[
            "10.87.0.1:53",
            "127.0.0.1:53",
            "127.0.0.53:53",
            "192.0.2.1:53",
        ]);
        let cases = [
            (
                "10.87.0.1:53",
                addrs(&["127.0.0.1:53", "127.0.0.53:53", "192.0.2.1:53"]),
            ),
            ("0.0.0.0:53", addrs(&["10.87.0.1:53", "192.0.2.1:53"])),
            ("0.0.0.0:5353", all.clone()),
        ];
        for (me, want) in cases {
            assert_eq!(without_self(all.clone(), me.parse().unwrap()), want, "{me}");
        }
    }
}
