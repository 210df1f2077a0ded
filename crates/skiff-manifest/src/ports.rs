//! A service's `ports:` and `expose:`, read in Compose's short and long syntaxes and expanded to
//! one entry per port, so that the scheduler and the network layer never see a range.
//!
//! The short syntax is docker/go-connections' `ParsePortSpec`:
//! `[[IP:][PUBLISHED]:]TARGET[/PROTOCOL]`, where PUBLISHED and TARGET may be ranges
//! (`8000-8010`) and an IPv6 address is written in brackets (`[::1]:8080:80`). Where Skiff is
//! stricter than Docker, it is on purpose:
//!
//! * a published range maps onto a target range of the same length, port for port. Docker reads
//!   `"8000-8010:80"` as "publish 80 on any free port of the range"; Skiff publishes every port
//!   exactly, so that a service's ports are known before it is placed.
//! * one entry expands to at most [`MAX_PORTS_PER_ENTRY`] ports, so that a slip such as
//!   `1-65535` is caught rather than published;
//! * `80/` (a slash and no protocol) is an error where Docker reads TCP;
//! * the long syntax's `published` is a single port: ranges belong to the short syntax.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use skiff_api::{ExposedPort, PortMode, PortSpec, Protocol};

use crate::decode::{index, join, last_key, optional, start, Cx, Schema};
use crate::yaml::{Kind, Node};

/// Most ports one entry may expand to.
pub const MAX_PORTS_PER_ENTRY: u32 = 1000;

/// The keys of a long-syntax port.
const LONG_SYNTAX: Schema = Schema {
    known: &[
        "target",
        "published",
        "host_ip",
        "protocol",
        "mode",
        "name",
        "app_protocol",
    ],
    unsupported: &[],
};

/// An inclusive range of ports; a single port is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    /// The first port.
    start: u16,
    /// The last port, `start` or more.
    end: u16,
}

impl Range {
    /// How many ports it holds.
    fn len(self) -> u32 {
        u32::from(self.end - self.start) + 1
    }
}

impl fmt::Display for Range {
    /// `80` or `8000-8010`, as written in a manifest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Reads a service's `ports:` list, one [`PortSpec`] per published port, in file order.
///
/// Two entries publishing the same port, protocol and address would clash on every node, so the
/// second is refused here; clashes between services are checked once the whole app is read.
pub(crate) fn ports(cx: &mut Cx, node: &Node, path: &str) -> Vec<PortSpec> {
    let Some(items) = cx.seq(node, path) else {
        return Vec::new();
    };
    let list = last_key(path);
    let mut out = Vec::new();
    // The entry that first published each (port, protocol, address).
    let mut used: BTreeMap<(u16, Protocol, Option<IpAddr>), usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let specs = match &item.kind {
            Kind::Scalar(s) => short_port(&s.text).unwrap_or_else(|errors| {
                for e in errors {
                    cx.error(item.span, &p, e);
                }
                Vec::new()
            }),
            Kind::Map(_) => long_port(cx, item, &p).into_iter().collect(),
            _ => {
                cx.error(
                    item.span,
                    &p,
                    format!(
                        "expected a port such as `\"8080:80\"` or a mapping with `target:`, found {}",
                        item.describe()
                    ),
                );
                continue;
            }
        };
        // One error per entry: a clashing range would otherwise repeat it for every port.
        let clash = specs.iter().find_map(|s| {
            let first = used.get(&(s.published?, s.protocol, s.host_ip))?;
            Some((s, *first))
        });
        if let Some((s, first)) = clash {
            cx.error(
                start(item),
                &p,
                format!(
                    "published port {} is already used by {}",
                    published_name(s),
                    index(list, first)
                ),
            );
            continue;
        }
        for s in &specs {
            if let Some(port) = s.published {
                used.entry((port, s.protocol, s.host_ip)).or_insert(i);
            }
        }
        out.extend(specs);
    }
    out
}

/// Reads a service's `expose:` list: container ports (`3000`, `8000-8010`, `53/udp`), expanded.
/// A port listed twice is kept once, as Compose does when it merges the list.
pub(crate) fn expose(cx: &mut Cx, node: &Node, path: &str) -> Vec<ExposedPort> {
    let Some(items) = cx.seq(node, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let Kind::Scalar(s) = &item.kind else {
            cx.error(
                item.span,
                &p,
                format!(
                    "expected a port such as `3000` or `53/udp`, found {}",
                    item.describe()
                ),
            );
            continue;
        };
        match exposed(&s.text) {
            Ok(ports) => {
                let fresh = ports
                    .into_iter()
                    .filter(|e| seen.insert((e.port, e.protocol)));
                out.extend(fresh);
            }
            Err(errors) => {
                for e in errors {
                    cx.error(item.span, &p, e);
                }
            }
        }
    }
    out
}

/// Parses one port in Compose's short syntax, `[[IP:][PUBLISHED]:]TARGET[/PROTOCOL]`, with
/// ranges expanded one port per entry (at most [`MAX_PORTS_PER_ENTRY`]) and every problem
/// found in it returned. `skiff container run -p` reads its values with it, so a port is
/// written the same way on the command line and in a manifest.
pub fn parse_short_port(text: &str) -> Result<Vec<PortSpec>, Vec<String>> {
    short_port(text)
}

/// Parses one short-syntax `ports:` entry, returning every problem found in it.
fn short_port(text: &str) -> Result<Vec<PortSpec>, Vec<String>> {
    if text.is_empty() {
        return Err(vec![
            "empty port entry: write a port such as `80` or `8080:80`".to_owned(),
        ]);
    }
    let mut errors = Vec::new();
    let (address, protocol) = split_protocol(text, &mut errors);
    let (ip, published, target) = match split_address(address) {
        Ok(parts) => parts,
        Err(e) => {
            errors.push(e);
            return Err(errors);
        }
    };
    let host_ip = ip
        .filter(|ip| !ip.is_empty())
        .and_then(|ip| keep(&mut errors, parse_ip(ip)));
    let published = published
        .filter(|p| !p.is_empty())
        .and_then(|p| keep(&mut errors, range(p)));
    let target = if target.is_empty() {
        errors.push(format!(
            "`{text}` has no container port: write `TARGET`, `PUBLISHED:TARGET` or \
             `IP:PUBLISHED:TARGET`, such as `8080:80`"
        ));
        None
    } else {
        keep(&mut errors, range(target))
    };
    let (Some(protocol), Some(target), true) = (protocol, target, errors.is_empty()) else {
        return Err(errors);
    };
    if let Some(published) = published {
        pair(published, target).map_err(|e| vec![e])?;
    }
    within_cap(text, target).map_err(|e| vec![e])?;
    Ok((0..target.len())
        .map(|k| PortSpec {
            target: target.start + k as u16,
            published: published.map(|p| p.start + k as u16),
            protocol,
            host_ip,
            mode: PortMode::Ingress,
            name: None,
            app_protocol: None,
        })
        .collect())
}

/// Parses one `expose:` entry.
fn exposed(text: &str) -> Result<Vec<ExposedPort>, Vec<String>> {
    let mut errors = Vec::new();
    let (ports, protocol) = split_protocol(text, &mut errors);
    if ports.contains(':') {
        return Err(vec![format!(
            "`expose` takes container ports only, such as `3000` or `53/udp`: \
             publish `{text}` under `ports:` instead"
        )]);
    }
    let ports = keep(&mut errors, range(ports));
    let (Some(protocol), Some(ports)) = (protocol, ports) else {
        return Err(errors);
    };
    within_cap(text, ports).map_err(|e| vec![e])?;
    Ok((0..ports.len())
        .map(|k| ExposedPort {
            port: ports.start + k as u16,
            protocol,
        })
        .collect())
}

/// Reads a long-syntax `ports:` entry.
fn long_port(cx: &mut Cx, item: &Node, p: &str) -> Option<PortSpec> {
    let f = cx.fields(item, p, &LONG_SYNTAX)?;
    let mut ok = true;
    let target = match f.get("target") {
        Some(n) => single_port(cx, n, &join(p, "target")),
        None => {
            cx.error(
                start(item),
                p,
                "`target` is required: the container's port, such as `target: 80`",
            );
            None
        }
    };
    // An empty `published` (often `${PORT}` unset) leaves the choice to the cluster, as in Compose.
    let published = f.get("published").filter(|n| n.as_str() != Some(""));
    let published = optional(
        &mut ok,
        published.map(|n| single_port(cx, n, &join(p, "published"))),
    );
    let host_ip = optional(
        &mut ok,
        f.get("host_ip").map(|n| {
            let hp = join(p, "host_ip");
            let text = cx.string(n, &hp)?;
            parse_ip(&text).map_err(|e| cx.error(n.span, &hp, e)).ok()
        }),
    );
    let protocol = optional(
        &mut ok,
        f.get("protocol").map(|n| {
            let pp = join(p, "protocol");
            let text = cx.non_empty(n, &pp)?;
            parse_protocol(&text)
                .map_err(|e| cx.error(n.span, &pp, e))
                .ok()
        }),
    );
    let mode = optional(
        &mut ok,
        f.get("mode").map(|n| mode(cx, n, &join(p, "mode"))),
    );
    let name = optional(
        &mut ok,
        f.get("name").map(|n| cx.non_empty(n, &join(p, "name"))),
    );
    let app_protocol = optional(
        &mut ok,
        f.get("app_protocol")
            .map(|n| cx.non_empty(n, &join(p, "app_protocol"))),
    );
    let target = target.filter(|_| ok)?;
    Some(PortSpec {
        target,
        published,
        protocol: protocol.unwrap_or(Protocol::Tcp),
        host_ip,
        mode: mode.unwrap_or_default(),
        name,
        app_protocol,
    })
}

/// Reads a single port (an integer or a string) in the long syntax, refusing a range.
fn single_port(cx: &mut Cx, node: &Node, path: &str) -> Option<u16> {
    let text = cx.string(node, path)?;
    match range(&text) {
        Ok(r) if r.len() == 1 => Some(r.start),
        Ok(_) => {
            cx.error(
                node.span,
                path,
                format!(
                    "`{text}` is a range, but the long syntax takes a single port: write one \
                     entry per port, or a short-syntax entry such as `\"8080-8081:80-81\"`"
                ),
            );
            None
        }
        Err(e) => {
            cx.error(node.span, path, e);
            None
        }
    }
}

/// Reads a long-syntax `mode`.
fn mode(cx: &mut Cx, node: &Node, path: &str) -> Option<PortMode> {
    let text = cx.string(node, path)?;
    match text.as_str() {
        "ingress" => Some(PortMode::Ingress),
        "host" => Some(PortMode::Host),
        _ => {
            cx.error(
                node.span,
                path,
                format!(
                    "unknown mode `{text}`: use `ingress` (published on every node) or `host` \
                     (only on the nodes running a task)"
                ),
            );
            None
        }
    }
}

/// Keeps a parsed value, or moves its error to `errors`.
fn keep<T>(errors: &mut Vec<String>, parsed: Result<T, String>) -> Option<T> {
    parsed.map_err(|e| errors.push(e)).ok()
}

/// Splits `8080:80/udp` into `8080:80` and its protocol (TCP when none is written).
fn split_protocol<'t>(text: &'t str, errors: &mut Vec<String>) -> (&'t str, Option<Protocol>) {
    match text.rsplit_once('/') {
        Some((rest, proto)) => (rest, keep(errors, parse_protocol(proto))),
        None => (text, Some(Protocol::Tcp)),
    }
}

/// Splits `IP:PUBLISHED:TARGET` into its parts, from the right as Docker does, so that an
/// unbracketed IPv6 address (`::1:8080:80`) keeps its colons.
fn split_address(text: &str) -> Result<(Option<&str>, Option<&str>, &str), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let parts = rest
            .split_once("]:")
            .and_then(|(ip, ports)| Some((ip, ports.split_once(':')?)));
        return match parts {
            Some((ip, (published, target))) => Ok((Some(ip), Some(published), target)),
            None => Err(format!(
                "`{text}` does not read as `[IP]:PUBLISHED:TARGET`: write `[::1]:8080:80`, or \
                 `[::1]::80` to let the cluster pick the published port"
            )),
        };
    }
    let mut parts = text.rsplitn(3, ':');
    let target = parts.next().unwrap_or_default();
    let published = parts.next();
    Ok((parts.next(), published, target))
}

/// Reads `tcp`, `udp` or `sctp`, in any case as Docker does.
fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        "" => Err("a `/` must be followed by a protocol: tcp, udp or sctp".to_owned()),
        _ => Err(format!("unknown protocol `{text}`: use tcp, udp or sctp")),
    }
}

/// Reads a host address, with or without IPv6 brackets.
fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().map_err(|_| {
        format!("`{text}` is not an IP address: write one such as `127.0.0.1`, or `::1` for IPv6")
    })
}

/// Reads `80` or `8000-8010`.
fn range(text: &str) -> Result<Range, String> {
    let Some((a, b)) = text.split_once('-') else {
        return port(text).map(|p| Range { start: p, end: p });
    };
    if a.is_empty() || b.is_empty() {
        return Err(format!(
            "`{text}` is not a port range: write `START-END`, such as `8000-8010`"
        ));
    }
    let (start, end) = (port(a)?, port(b)?);
    if start > end {
        return Err(format!(
            "range `{text}` ends before it starts: write `{end}-{start}`"
        ));
    }
    Ok(Range { start, end })
}

/// Reads one port number, 1 to 65535.
fn port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a port number: write a number from 1 to 65535, or a range such as \
             `8000-8010`"
        ));
    }
    match text.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("port {text} is out of range 1-65535")),
    }
}

/// Checks that a published range and its target range have the same length.
fn pair(published: Range, target: Range) -> Result<(), String> {
    if published.len() == target.len() {
        return Ok(());
    }
    if target.len() == 1 {
        return Err(format!(
            "published range `{published}` maps onto the single target port `{target}`: Skiff \
             publishes ports one to one, so write a target range of the same length, or publish \
             one port such as `{}:{target}`",
            published.start
        ));
    }
    Err(format!(
        "published `{published}` is {} but target `{target}` is {}: give both sides the same \
         number of ports",
        count(published.len()),
        count(target.len())
    ))
}

/// Refuses an entry that expands to more than [`MAX_PORTS_PER_ENTRY`] ports.
fn within_cap(text: &str, ports: Range) -> Result<(), String> {
    if ports.len() <= MAX_PORTS_PER_ENTRY {
        return Ok(());
    }
    Err(format!(
        "`{text}` expands to {} ports; Skiff takes at most {MAX_PORTS_PER_ENTRY} from one entry: \
         split the range over several entries",
        ports.len()
    ))
}

/// `1 port`, `11 ports`.
fn count(n: u32) -> String {
    if n == 1 {
        "1 port".to_owned()
    } else {
        format!("{n} ports")
    }
}

/// `8080/tcp`, `127.0.0.1:8080/tcp`, `[::1]:8080/udp`: how a clash names the published port.
fn published_name(s: &PortSpec) -> String {
    let port = s.published.unwrap_or_default();
    let proto = s.protocol.as_str();
    match s.host_ip {
        None => format!("{port}/{proto}"),
        Some(IpAddr::V4(ip)) => format!("{ip}:{port}/{proto}"),
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{port}/{proto}"),
    }
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;
