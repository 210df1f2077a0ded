//! The keys of a service that name other resources: `networks`, `depends_on`, `secrets`,
//! `configs` and named volume sources. Each name is recorded as a [`Reference`] for the
//! cross-service checks.

use std::collections::BTreeMap;

use skiff_api::{Dependency, DependencyCondition, FileGrant, ServiceNetwork};

use super::{RefKind, Reference};
use crate::decode::{index, join, Cx, Fields, Schema};
use crate::names;
use crate::yaml::{Kind, Node, Span};

/// The named volume a `volumes:` entry mounts, if any (for the reference check).
pub(super) fn named_volume_source(item: &Node) -> Option<String> {
    let source = match &item.kind {
        Kind::Scalar(s) => {
            let parts: Vec<&str> = s.text.split(':').collect();
            (parts.len() >= 2).then(|| parts[0].to_owned())?
        }
        Kind::Map(_) => {
            let kind = item.get("type").and_then(Node::as_str).unwrap_or("volume");
            if kind != "volume" {
                return None;
            }
            item.get("source").and_then(Node::as_str)?.to_owned()
        }
        _ => return None,
    };
    let is_path = source.starts_with(['/', '.', '~']);
    (!source.is_empty() && !is_path).then_some(source)
}

pub(super) fn networks(
    cx: &mut Cx,
    f: &Fields,
    path: &str,
    refs: &mut Vec<Reference>,
) -> BTreeMap<String, ServiceNetwork> {
    let p = join(path, "networks");
    let mut out = BTreeMap::new();
    let Some(node) = f.get("networks") else {
        out.insert("default".to_owned(), ServiceNetwork::default());
        refs.push(Reference {
            kind: RefKind::Network,
            name: "default".into(),
            span: Span::default(),
            path: p,
        });
        return out;
    };
    const NET: Schema = Schema {
        known: &["aliases", "ipv4_address", "priority"],
        unsupported: &[
            ("ipv6_address", "Skiff's networks are IPv4 only"),
            ("link_local_ips", "link-local addresses are not supported"),
            ("mac_address", "containers get generated MAC addresses"),
            (
                "driver_opts",
                "per-attachment driver options are not supported",
            ),
            (
                "interface_name",
                "the container's interface is always `eth0`, `eth1`, …",
            ),
            (
                "gw_priority",
                "the first network listed is the default route",
            ),
        ],
    };
    match &node.kind {
        Kind::Seq(items) => {
            for name in list_references(cx, items, &p, RefKind::Network, refs) {
                out.insert(name, ServiceNetwork::default());
            }
        }
        _ => {
            for e in cx.map(node, &p).unwrap_or_default() {
                let np = join(&p, &e.key);
                refs.push(Reference {
                    kind: RefKind::Network,
                    name: e.key.clone(),
                    span: e.key_span,
                    path: np.clone(),
                });
                let mut net = ServiceNetwork::default();
                if let Some(nf) = cx.fields(&e.value, &np, &NET) {
                    if let Some(a) = nf.get("aliases") {
                        net.aliases = cx.string_list(a, &join(&np, "aliases")).unwrap_or_default();
                        for alias in &net.aliases {
                            if !names::is_dns_name(alias) {
                                cx.error(a.span, &join(&np, "aliases"), format!("alias `{alias}` is not a valid DNS name (lower-case letters, digits, `-` and `.`)"));
                            }
                        }
                    }
                    if let Some(a) = nf.get("ipv4_address") {
                        let ap = join(&np, "ipv4_address");
                        if let Some(text) = cx.string(a, &ap) {
                            match text.parse() {
                                Ok(ip) => net.ipv4_address = Some(ip),
                                Err(_) => cx.error(
                                    a.span,
                                    &ap,
                                    format!("`{text}` is not an IPv4 address"),
                                ),
                            }
                        }
                    }
                    if let Some(pr) = nf.get("priority") {
                        cx.uint(pr, &join(&np, "priority"), i32::MAX as u64);
                    }
                }
                out.insert(e.key.clone(), net);
            }
        }
    }
    if out.is_empty() {
        cx.error(node.span, &p, "a service needs at least one network; leave `networks` out to use the app's default network");
    }
    out
}

/// The names in a list form (`networks: [a, b]`, `depends_on: [db]`), each recorded as a
/// reference to check.
fn list_references(
    cx: &mut Cx,
    items: &[Node],
    path: &str,
    kind: RefKind,
    refs: &mut Vec<Reference>,
) -> Vec<String> {
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = index(path, i);
        if let Some(name) = cx.non_empty(item, &ip) {
            refs.push(Reference {
                kind,
                name: name.clone(),
                span: item.span,
                path: ip,
            });
            names.push(name);
        }
    }
    names
}

pub(super) fn depends_on(
    cx: &mut Cx,
    f: &Fields,
    path: &str,
) -> (BTreeMap<String, Dependency>, Vec<Reference>) {
    let p = join(path, "depends_on");
    let mut out = BTreeMap::new();
    let mut refs = Vec::new();
    let Some(node) = f.get("depends_on") else {
        return (out, refs);
    };
    let started = Dependency {
        condition: DependencyCondition::ServiceStarted,
        restart: false,
        required: true,
    };
    const DEP: Schema = Schema {
        known: &["condition", "restart", "required"],
        unsupported: &[],
    };
    match &node.kind {
        Kind::Seq(items) => {
            for name in list_references(cx, items, &p, RefKind::Service, &mut refs) {
                out.insert(name, started);
            }
        }
        _ => {
            for e in cx.map(node, &p).unwrap_or_default() {
                let dp = join(&p, &e.key);
                refs.push(Reference {
                    kind: RefKind::Service,
                    name: e.key.clone(),
                    span: e.key_span,
                    path: dp.clone(),
                });
                let Some(df) = cx.fields(&e.value, &dp, &DEP) else {
                    continue;
                };
                let mut dep = started;
                if let Some(c) = df.get("condition") {
                    let cp = join(&dp, "condition");
                    dep.condition = match cx.string(c, &cp).as_deref() {
                        Some("service_started") => DependencyCondition::ServiceStarted,
                        Some("service_healthy") => DependencyCondition::ServiceHealthy,
                        Some("service_completed_successfully") => {
                            DependencyCondition::ServiceCompletedSuccessfully
                        }
                        Some(other) => {
                            cx.error(c.span, &cp, format!("unknown condition `{other}`; use service_started, service_healthy or service_completed_successfully"));
                            dep.condition
                        }
                        None => dep.condition,
                    };
                }
                dep.restart = df
                    .get("restart")
                    .and_then(|n| cx.bool(n, &join(&dp, "restart")))
                    .unwrap_or(false);
                dep.required = df
                    .get("required")
                    .and_then(|n| cx.bool(n, &join(&dp, "required")))
                    .unwrap_or(true);
                out.insert(e.key.clone(), dep);
            }
        }
    }
    (out, refs)
}

/// `secrets:` / `configs:` of a service: names or `{source, target, uid, gid, mode}`.
pub(super) fn grants(
    cx: &mut Cx,
    node: Option<&Node>,
    path: &str,
    kind: RefKind,
    refs: &mut Vec<Reference>,
) -> Vec<FileGrant> {
    let Some(node) = node else { return Vec::new() };
    const GRANT: Schema = Schema {
        known: &["source", "target", "uid", "gid", "mode"],
        unsupported: &[],
    };
    // Target → index of the entry that has it: lists of thousands must not be quadratic.
    let mut targets: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<FileGrant> = Vec::new();
    for (i, item) in cx.seq(node, path).unwrap_or_default().iter().enumerate() {
        let ip = index(path, i);
        let (source, target, uid, gid, mode) = match &item.kind {
            Kind::Map(_) => {
                let Some(g) = cx.fields(item, &ip, &GRANT) else {
                    continue;
                };
                let Some(source) = g
                    .get("source")
                    .and_then(|n| cx.non_empty(n, &join(&ip, "source")))
                else {
                    cx.error(
                        item.span,
                        &ip,
                        format!(
                            "a {0} entry needs a `source` naming one of the app's {0}s",
                            kind.noun()
                        ),
                    );
                    continue;
                };
                let target = g
                    .get("target")
                    .and_then(|n| cx.non_empty(n, &join(&ip, "target")));
                let id =
                    |cx: &mut Cx, key: &str| g.get(key).and_then(|n| cx.u32(n, &join(&ip, key)));
                let (uid, gid) = (id(cx, "uid"), id(cx, "gid"));
                let mode = g.get("mode").and_then(|n| cx.mode(n, &join(&ip, "mode")));
                (source, target, uid, gid, mode)
            }
            _ => match cx.non_empty(item, &ip) {
                Some(source) => (source, None, None, None, None),
                None => continue,
            },
        };
        refs.push(Reference {
            kind,
            name: source.clone(),
            span: item.span,
            path: ip.clone(),
        });
        // Secrets land under /run/secrets (a relative target too); configs at /<name>, as Compose.
        let target = match (kind, target) {
            (RefKind::Secret, Some(t)) if !t.starts_with('/') => format!("/run/secrets/{t}"),
            (RefKind::Secret, None) => format!("/run/secrets/{source}"),
            (_, Some(t)) if !t.starts_with('/') => format!("/{t}"),
            (_, Some(t)) => t,
            (_, None) => format!("/{source}"),
        };
        // The target is where a file is written in the container: no way out of its directory.
        let target = match crate::mounts::container_path(&target) {
            Ok(t) => t,
            Err(why) => {
                cx.error(item.span, &ip, why);
                continue;
            }
        };
        if let Some(first) = targets.get(&target) {
            cx.error(
                item.span,
                &ip,
                format!(
                    "`{target}` is already the target of {}",
                    index(path, *first)
                ),
            );
            continue;
        }
        targets.insert(target.clone(), i);
        out.push(FileGrant {
            source,
            target,
            uid,
            gid,
            mode: mode.unwrap_or(0o444),
        });
    }
    out
}
