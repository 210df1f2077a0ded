//! Checks that span services: references to networks, volumes, secrets, configs and other
//! services; dependency cycles; published ports used twice; fixed names and addresses that
//! cannot hold with several replicas.

use std::collections::{BTreeMap, BTreeSet};

use skiff_api::{AppSpec, NetworkSpec, PortMode, ServiceMode};

use crate::decode::{join, Cx};
use crate::service::{Decoded, RefKind};
use crate::yaml::{Node, Span};

/// Most undefined references per load that get a "did you mean".
const MAX_SUGGESTIONS: usize = 32;

/// Runs every check, adding the implicit `default` network when services use it.
pub(crate) fn check(
    cx: &mut Cx,
    root: &Node,
    spec: &mut AppSpec,
    services: &BTreeMap<String, Decoded>,
    disabled: &BTreeMap<String, Vec<String>>,
) {
    let uses_default = services.values().any(|d| {
        d.refs
            .iter()
            .any(|r| r.kind == RefKind::Network && r.name == "default")
    });
    if uses_default && !spec.networks.contains_key("default") {
        let network = NetworkSpec {
            name: format!("{}_default", spec.name),
            external: false,
            internal: false,
            attachable: false,
            subnets: Vec::new(),
            labels: BTreeMap::new(),
        };
        spec.networks.insert("default".to_owned(), network);
    }
    references(cx, spec, services, disabled);
    cycles(cx, root, services);
    published_ports(cx, root, services);
    fixed_identities(cx, root, services);
}

fn references(
    cx: &mut Cx,
    spec: &AppSpec,
    services: &BTreeMap<String, Decoded>,
    disabled: &BTreeMap<String, Vec<String>>,
) {
    let mut suggestions = 0;
    for (name, d) in services {
        for r in &d.refs {
            let is_declared = match r.kind {
                RefKind::Network => spec.networks.contains_key(&r.name),
                RefKind::Volume => spec.volumes.contains_key(&r.name),
                RefKind::Secret => spec.secrets.contains_key(&r.name),
                RefKind::Config => spec.configs.contains_key(&r.name),
                RefKind::Service => services.contains_key(&r.name),
            };
            if is_declared {
                if r.kind == RefKind::Service && r.name == *name {
                    cx.error(
                        r.span,
                        &r.path,
                        format!("service `{name}` cannot depend on itself"),
                    );
                }
                continue;
            }
            if r.kind == RefKind::Service {
                if let Some(profiles) = disabled.get(&r.name) {
                    let required = d
                        .spec
                        .depends_on
                        .get(&r.name)
                        .is_none_or(|dep| dep.required);
                    if required {
                        cx.error(r.span, &r.path, format!(
                            "depends on `{}`, which is only enabled with profile {}; enable it with --profile or set `required: false`",
                            r.name,
                            profiles.join(", ")
                        ));
                    }
                    continue;
                }
            }
            let section = if r.kind == RefKind::Service {
                "services".to_owned()
            } else {
                format!("{}s", r.kind.noun())
            };
            // Suggestions cost a comparison with every declared name: a few are enough.
            suggestions += 1;
            let declared: Vec<&str> = match r.kind {
                _ if suggestions > MAX_SUGGESTIONS => Vec::new(),
                RefKind::Network => spec.networks.keys().map(String::as_str).collect(),
                RefKind::Volume => spec.volumes.keys().map(String::as_str).collect(),
                RefKind::Secret => spec.secrets.keys().map(String::as_str).collect(),
                RefKind::Config => spec.configs.keys().map(String::as_str).collect(),
                RefKind::Service => services.keys().map(String::as_str).collect(),
            };
            let hint = crate::diag::did_you_mean(&r.name, declared)
                .map(|near| format!("did you mean `{near}`?"))
                .unwrap_or_else(|| format!("declare it under the top-level `{section}:`"));
            cx.error(
                r.span,
                &r.path,
                format!("{} `{}` is not defined; {hint}", r.kind.noun(), r.name),
            );
        }
    }
}

/// Reports each dependency cycle once, at the dependency that closes it.
fn cycles(cx: &mut Cx, root: &Node, services: &BTreeMap<String, Decoded>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> =
        services.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut reported = BTreeSet::new();
    let deps_of: BTreeMap<&str, Vec<&str>> = services
        .iter()
        .map(|(name, d)| {
            (
                name.as_str(),
                d.spec.depends_on.keys().map(String::as_str).collect(),
            )
        })
        .collect();
    for start in services.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (service, index of the next dependency to visit).
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Active);
        while let Some((node, next)) = stack.last().copied() {
            let deps = &deps_of[node];
            if next >= deps.len() {
                marks.insert(node, Mark::Done);
                stack.pop();
                continue;
            }
            stack.last_mut().expect("non-empty").1 += 1;
            let dep = deps[next];
            match marks.get(dep).copied() {
                Some(Mark::New) => {
                    marks.insert(dep, Mark::Active);
                    stack.push((dep, 0));
                }
                Some(Mark::Active) if dep != node => {
                    let from = stack
                        .iter()
                        .position(|(s, _)| *s == dep)
                        .expect("active is on the stack");
                    let mut cycle: Vec<&str> = stack[from..].iter().map(|(s, _)| *s).collect();
                    let key: BTreeSet<&str> = cycle.iter().copied().collect();
                    if reported.insert(key.into_iter().collect::<Vec<_>>().join(",")) {
                        cycle.push(dep);
                        let (span, path) = dependency_entry(root, node, dep);
                        cx.error(
                            span,
                            &path,
                            format!(
                                "dependency cycle: {}; remove one of these dependencies",
                                cycle.join(" → ")
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Where `service` names `dep` under `depends_on`, and that entry's key path.
fn dependency_entry(root: &Node, service: &str, dep: &str) -> (Span, String) {
    let list_path = join(&join("services", service), "depends_on");
    let Some(deps) = root
        .get("services")
        .and_then(|s| s.get(service))
        .and_then(|s| s.get("depends_on"))
    else {
        return (Span::default(), list_path);
    };
    if let Some(e) = deps
        .as_map()
        .and_then(|entries| entries.iter().find(|e| e.key == dep))
    {
        return (e.key_span, join(&list_path, dep));
    }
    if let Some((i, item)) = deps.as_seq().and_then(|items| {
        items
            .iter()
            .enumerate()
            .find(|(_, i)| i.as_str() == Some(dep))
    }) {
        return (item.span, crate::decode::index(&list_path, i));
    }
    (deps.span, list_path)
}

fn ports_span(root: &Node, service: &str) -> Span {
    root.get("services")
        .and_then(|s| s.get(service))
        .and_then(|s| s.get("ports"))
        .map_or(Span::default(), |n| n.span)
}

/// The `ports` entry of `service` that publishes `port` (with its index), or the list itself.
fn port_entry(root: &Node, service: &str, port: u16, protocol: &str) -> (Span, String) {
    let list_path = join(&join("services", service), "ports");
    let items = root
        .get("services")
        .and_then(|s| s.get(service))
        .and_then(|s| s.get("ports"));
    let Some(entries) = items.and_then(Node::as_seq) else {
        return (ports_span(root, service), list_path);
    };
    for (i, item) in entries.iter().enumerate() {
        let publishes = match item.as_str() {
            // Short syntax: the published part is before the last `:`; it may be a range.
            Some(text) => text.rsplit_once(':').is_some_and(|(front, back)| {
                let proto = back.split_once('/').map_or("tcp", |(_, p)| p);
                if !proto.eq_ignore_ascii_case(protocol) {
                    return false;
                }
                let published = front.rsplit(':').next().unwrap_or("");
                match published.split_once('-') {
                    Some((lo, hi)) => {
                        lo.parse::<u16>().ok() <= Some(port) && Some(port) <= hi.parse::<u16>().ok()
                    }
                    None => published.parse::<u16>().ok() == Some(port),
                }
            }),
            None => {
                let proto = item.get("protocol").and_then(Node::as_str).unwrap_or("tcp");
                proto.eq_ignore_ascii_case(protocol)
                    && item
                        .get("published")
                        .and_then(Node::as_str)
                        .and_then(|p| p.parse::<u16>().ok())
                        == Some(port)
            }
        };
        if publishes {
            return (item.span, crate::decode::index(&list_path, i));
        }
    }
    (ports_span(root, service), list_path)
}

/// A published port answers on every node (ingress) or on the task's node (host); either way two
/// services cannot both have it.
fn published_ports(cx: &mut Cx, root: &Node, services: &BTreeMap<String, Decoded>) {
    let mut owners: BTreeMap<(u16, &str, Option<std::net::IpAddr>), &str> = BTreeMap::new();
    // One clash per pair of services is enough to act on (ranges would repeat it per port).
    let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (name, d) in services {
        let mut warned = false;
        for port in &d.spec.ports {
            let Some(published) = port.published else {
                continue;
            };
            let key = (published, port.protocol.as_str(), port.host_ip);
            match owners.get(&key) {
                Some(owner) if owner != name => {
                    if !reported.insert((name.as_str(), owner)) {
                        continue;
                    }
                    let (span, path) = port_entry(root, name, published, port.protocol.as_str());
                    cx.error(
                        span,
                        &path,
                        format!(
                            "published port {published}/{} is already published by service `{owner}`; pick another port",
                            port.protocol.as_str()
                        ),
                    );
                }
                _ => {
                    owners.insert(key, name);
                }
            }
            if !warned
                && port.mode == PortMode::Host
                && matches!(d.spec.deploy.mode, ServiceMode::Replicated { replicas } if replicas > 1)
                && d.spec.deploy.placement.max_replicas_per_node != Some(1)
            {
                cx.warning(
                    ports_span(root, name),
                    &join(&join("services", name), "ports"),
                    format!("host-mode port {published} with several replicas: two replicas on one node would clash; set `deploy.placement.max_replicas_per_node: 1`"),
                );
                warned = true;
            }
        }
    }
}

/// `container_name` and fixed addresses name one container: they need exactly one replica.
fn fixed_identities(cx: &mut Cx, root: &Node, services: &BTreeMap<String, Decoded>) {
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, d) in services {
        let single = matches!(
            d.spec.deploy.mode,
            ServiceMode::Replicated { replicas: 0 | 1 }
        );
        // Found only when there is something to report: a lookup by name is a linear scan.
        let service = || root.get("services").and_then(|s| s.get(name));
        if let Some(cn) = &d.spec.container_name {
            let span = service()
                .and_then(|s| s.get("container_name"))
                .map_or(Span::default(), |n| n.span);
            let path = join(&join("services", name), "container_name");
            if !single {
                cx.error(span, &path, "`container_name` names one container, but the service has several replicas (or is global); remove it or set `replicas: 1`");
            }
            if let Some(other) = names.insert(cn, name) {
                cx.error(
                    span,
                    &path,
                    format!("container name `{cn}` is also used by service `{other}`"),
                );
            }
        }
        if !single && d.spec.networks.values().any(|n| n.ipv4_address.is_some()) {
            let span = service()
                .and_then(|s| s.get("networks"))
                .map_or(Span::default(), |n| n.span);
            cx.error(
                span,
                &join(&join("services", name), "networks"),
                "a fixed `ipv4_address` needs a service with one replica",
            );
        }
    }
}
