//! Name resolution as a pure function of the table, the asking client and the question:
//! no sockets, no clock, so every rule is table-tested (`resolve_tests.rs`).
//!
//! The rules (docs/dns.md has the user's view):
//!
//! * names are compared in lower case; one trailing dot is ignored;
//! * `svc` — a service (or app alias) of the client's app, else a network alias on one of
//!   the client's networks;
//! * `svc.app` — a service (or app alias) of `app` in the client's environment;
//! * `svc.app.env` — the same, only when `env` is the client's environment;
//! * any of these may end in the cluster domain [`CLUSTER_DOMAIN`]; such names are always
//!   answered here and never forwarded;
//! * a name is *ours* when it is found, or when its app part names an app of the environment it
//!   designates (`x.app`, `x.app.env`): ours but not found, or found in another environment,
//!   is NXDOMAIN; everything else is forwarded to the node's resolvers;
//! * a client IP the table does not know has no scope: it is told nothing about any
//!   environment (cluster-domain names are NXDOMAIN) and everything else is forwarded.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::RecordType;

use super::table::{ClientScope, DnsTable, Target};

/// The cluster domain: `web.shop.dev.skiff.internal`. `.internal` is reserved for private use
/// (ICANN, 2024), so it never collides with a public name.
pub const CLUSTER_DOMAIN: &str = "skiff.internal";

/// What to do with a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name is ours and has these IPv4 addresses (never empty).
    Addresses {
        /// The addresses, in table order (the server rotates them per query).
        addrs: Vec<Ipv4Addr>,
        /// Seconds a client may cache them.
        ttl: u32,
    },
    /// The name is ours but has no record of the asked type (AAAA, MX, …, or a dnsrr
    /// service with no healthy task right now): NOERROR with no answer.
    NoData,
    /// The name is ours and does not exist for this client.
    NxDomain,
    /// Not ours: ask the node's resolvers.
    Forward,
}

/// How a name splits once normalised.
struct Parsed<'a> {
    labels: Vec<&'a str>,
    /// It ended in the cluster domain (which is stripped from `labels`).
    in_domain: bool,
}

/// Normalises `qname` (lower case, no trailing dot) into `buf` and splits it.
fn parse<'a>(qname: &str, buf: &'a mut String) -> Option<Parsed<'a>> {
    buf.clear();
    buf.push_str(qname.strip_suffix('.').unwrap_or(qname));
    buf.make_ascii_lowercase();
    let (rest, in_domain) = if buf.as_str() == CLUSTER_DOMAIN {
        ("", true)
    } else {
        match buf
            .strip_suffix(CLUSTER_DOMAIN)
            .and_then(|r| r.strip_suffix('.'))
        {
            Some(rest) => (rest, true),
            None => (buf.as_str(), false),
        }
    };
    if rest.is_empty() {
        // The root, or the cluster domain itself.
        return in_domain.then_some(Parsed {
            labels: Vec::new(),
            in_domain,
        });
    }
    Some(Parsed {
        labels: rest.split('.').collect(),
        in_domain,
    })
}

impl DnsTable {
    /// Answers `qname`/`qtype` asked by the container at `client`.
    pub fn resolve(&self, client: IpAddr, qname: &str, qtype: RecordType) -> Answer {
        let mut buf = String::with_capacity(qname.len());
        let Some(name) = parse(qname, &mut buf) else {
            return Answer::Forward;
        };
        let outcome = match self.client(client) {
            Some(scope) => self.lookup(scope, &name.labels),
            None => Lookup::NotOurs,
        };
        match (outcome, name.in_domain) {
            (Lookup::Found(target), _) => self.records(target, qtype),
            (Lookup::Apex, _) => Answer::NoData,
            (Lookup::Missing, _) | (Lookup::NotOurs, true) => Answer::NxDomain,
            (Lookup::NotOurs, false) => Answer::Forward,
        }
    }

    fn lookup<'t>(&'t self, scope: &ClientScope, labels: &[&str]) -> Lookup<'t> {
        let env = scope.env.as_str();
        if labels.iter().any(|l| l.is_empty()) {
            return Lookup::NotOurs;
        }
        match *labels {
            [] => Lookup::Apex,
            [name] => self
                .app_name(env, &scope.app, name)
                .or_else(|| self.network_alias(env, &scope.networks, name))
                .map_or(Lookup::NotOurs, Lookup::Found),
            [name, app] => self.in_app(env, app, name),
            [name, app, named_env] if named_env == env => self.in_app(env, app, name),
            // Another environment's name: refused in the same way as a missing one, so that
            // a client learns nothing about environments other than its own.
            [_, app, named_env] if self.has_app(named_env, app) => Lookup::Missing,
            _ => Lookup::NotOurs,
        }
    }

    fn in_app<'t>(&'t self, env: &str, app: &str, name: &str) -> Lookup<'t> {
        match self.app_name(env, app, name) {
            Some(target) => Lookup::Found(target),
            None if self.has_app(env, app) => Lookup::Missing,
            None => Lookup::NotOurs,
        }
    }

    fn records(&self, target: &Target, qtype: RecordType) -> Answer {
        let addrs = target.addrs();
        match qtype {
            RecordType::A | RecordType::ANY if !addrs.is_empty() => Answer::Addresses {
                addrs: addrs.to_vec(),
                ttl: self.ttl,
            },
            _ => Answer::NoData,
        }
    }
}

/// The outcome of looking a name up for a known client.
enum Lookup<'t> {
    Found(&'t Target),
    /// The cluster domain itself.
    Apex,
    /// Ours, but absent for this client.
    Missing,
    /// Not a name of the cluster.
    NotOurs,
}
