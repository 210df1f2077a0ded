//! The node's embedded DNS server: containers ask it (on their bridge gateway) for service
//! names; it answers from a [`DnsTable`] the agent builds from the control plane's services
//! and endpoints, and forwards every other name to the node's resolvers.
//!
//! * [`table`] — the data: clients (container IP → env, app, networks), services, aliases;
//! * [`resolve`](DnsTable::resolve) — the naming rules, a pure function (table-tested);
//! * `wire` — bytes to decision and back, with hickory-proto;
//! * `forward` — the relay to upstream resolvers;
//! * [`DnsServer`] — the UDP and TCP sockets, limits, atomic table swaps.
//!
//! docs/dns.md describes names, scoping, forwarding, TTLs and limits.

mod forward;
mod resolv_conf;
pub mod resolve;
pub mod server;
pub mod table;
mod wire;

#[cfg(test)]
mod resolve_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod wire_tests;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use forward::MAX_UPSTREAMS;
pub use resolv_conf::{parse_resolv_conf, upstreams_from_resolv_conf};
pub use resolve::{Answer, CLUSTER_DOMAIN};
pub use server::{DnsLimits, DnsServer};
pub use table::{ClientScope, DnsTable, DnsTableBuilder, DnsTableError, Target, DEFAULT_TTL};
pub use wire::{MAX_QUERY_LEN, MAX_UDP_PAYLOAD};

/// What can go wrong starting the DNS server or reading its upstreams.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A socket could not be bound.
    #[error("cannot bind the DNS server to {addr} (UDP and TCP): {source}; is another DNS server listening there?")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The resolv.conf file could not be read.
    #[error("cannot read the upstream resolvers from {}: {source}", path.display())]
    ReadResolvConf {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A `nameserver` line does not hold an IP address.
    #[error("{}: line {line}: `nameserver {value}` is not an IP address; write e.g. `nameserver 192.0.2.53`", path.display())]
    BadNameserver {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The value found.
        value: String,
    },
}
