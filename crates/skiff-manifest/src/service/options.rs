//! The small per-key readers of a service: flags, absolute paths, `restart`, `healthcheck`,
//! `ulimits`, `extra_hosts` and `dns`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use skiff_api::{Duration, HealthTest, Healthcheck, RestartCondition, RestartPolicy, Ulimit};

use crate::decode::{index, join, Cx, Fields, Schema};
use crate::names;
use crate::yaml::{Kind, Node, Span};

pub(super) fn flag(cx: &mut Cx, f: &Fields, path: &str, key: &str) -> bool {
    f.get(key)
        .and_then(|n| cx.bool(n, &join(path, key)))
        .unwrap_or(false)
}

pub(super) fn absolute(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let dir = cx.non_empty(node, path)?;
    if !dir.starts_with('/') || dir.split('/').any(|c| c == "..") {
        let message = format!("`{dir}` is not an absolute path in the container without `..`; write one such as `/srv`");
        cx.error(node.span, path, message);
        return None;
    }
    Some(crate::mounts::clean(&dir))
}

pub(super) fn restart(cx: &mut Cx, node: &Node, path: &str) -> Option<RestartPolicy> {
    let text = cx.string(node, path)?;
    let base = RestartPolicy::default();
    let policy = match text.as_str() {
        "no" | "false" => RestartPolicy {
            condition: RestartCondition::None,
            ..base
        },
        // In a cluster nothing stops a task but the operator, so unless-stopped is always.
        "always" | "unless-stopped" => RestartPolicy {
            condition: RestartCondition::Any,
            ..base
        },
        "on-failure" => RestartPolicy {
            condition: RestartCondition::OnFailure,
            ..base
        },
        t if t.starts_with("on-failure:") => {
            let n = &t["on-failure:".len()..];
            match n.parse::<u32>() {
                Ok(max) => RestartPolicy {
                    condition: RestartCondition::OnFailure,
                    max_attempts: Some(max),
                    ..base
                },
                Err(_) => {
                    cx.error(
                        node.span,
                        path,
                        format!(
                            "`{t}`: the retry count after `on-failure:` must be a whole number"
                        ),
                    );
                    return None;
                }
            }
        }
        other => {
            cx.error(node.span, path, format!("unknown restart policy `{other}`; use \"no\", always, on-failure[:N] or unless-stopped"));
            return None;
        }
    };
    Some(policy)
}

pub(super) fn healthcheck(cx: &mut Cx, node: &Node, path: &str) -> Option<Healthcheck> {
    const HC: Schema = Schema {
        known: &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
        unsupported: &[],
    };
    let f = cx.fields(node, path, &HC)?;
    let p = |k: &str| join(path, k);
    let duration = |cx: &mut Cx, key: &str, default: u64| {
        f.get(key)
            .and_then(|n| cx.duration(n, &p(key)))
            .unwrap_or(Duration::from_secs(default))
    };
    let mut hc = Healthcheck {
        test: HealthTest::Inherit,
        interval: duration(cx, "interval", 30),
        timeout: duration(cx, "timeout", 30),
        retries: f
            .get("retries")
            .and_then(|n| cx.u32(n, &p("retries")))
            .unwrap_or(3),
        start_period: duration(cx, "start_period", 0),
        start_interval: duration(cx, "start_interval", 5),
    };
    for (key, value) in [("interval", hc.interval), ("timeout", hc.timeout)] {
        if value.as_nanos() < 1_000_000 {
            if let Some(n) = f.get(key) {
                cx.error(n.span, &p(key), "must be at least 1ms");
            }
        }
    }
    if let Some(test) = f.get("test") {
        hc.test = health_test(cx, test, &p("test"))?;
    }
    if f.get("disable").and_then(|n| cx.bool(n, &p("disable"))) == Some(true) {
        hc.test = HealthTest::Disabled;
    }
    Some(hc)
}

fn health_test(cx: &mut Cx, node: &Node, path: &str) -> Option<HealthTest> {
    if let Kind::Scalar(s) = &node.kind {
        return Some(HealthTest::Shell(s.text.clone()));
    }
    let words = cx.string_list(node, path)?;
    match words.split_first() {
        Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
            Some(HealthTest::Exec(rest.to_vec()))
        }
        Some((first, rest)) if first == "CMD-SHELL" && rest.len() == 1 => {
            Some(HealthTest::Shell(rest[0].clone()))
        }
        Some((first, [])) if first == "NONE" => Some(HealthTest::Disabled),
        _ => {
            cx.error(node.span, path, "a test list starts with CMD (then the command and its arguments), CMD-SHELL (then one shell command) or NONE");
            None
        }
    }
}

pub(super) fn ulimits(cx: &mut Cx, node: &Node, path: &str) -> BTreeMap<String, Ulimit> {
    const LIMIT: Schema = Schema {
        known: &["soft", "hard"],
        unsupported: &[],
    };
    let mut out = BTreeMap::new();
    for e in cx.map(node, path).unwrap_or_default() {
        let p = join(path, &e.key);
        if !names::ULIMITS.contains(&e.key.as_str()) {
            cx.error(
                e.key_span,
                &p,
                format!(
                    "unknown ulimit `{}` (known: {})",
                    e.key,
                    names::ULIMITS.join(", ")
                ),
            );
            continue;
        }
        let limit = match &e.value.kind {
            Kind::Map(_) => {
                let Some(f) = cx.fields(&e.value, &p, &LIMIT) else {
                    continue;
                };
                let soft = f
                    .get("soft")
                    .and_then(|n| cx.uint(n, &join(&p, "soft"), u64::MAX));
                let hard = f
                    .get("hard")
                    .and_then(|n| cx.uint(n, &join(&p, "hard"), u64::MAX));
                let (Some(soft), Some(hard)) = (soft, hard) else {
                    cx.error(
                        e.value.span,
                        &p,
                        "give both `soft` and `hard`, or a single number for both",
                    );
                    continue;
                };
                if soft > hard {
                    cx.error(
                        e.value.span,
                        &p,
                        format!("soft limit {soft} is above hard limit {hard}"),
                    );
                    continue;
                }
                Ulimit { soft, hard }
            }
            _ => match cx.uint(&e.value, &p, u64::MAX) {
                Some(v) => Ulimit { soft: v, hard: v },
                None => continue,
            },
        };
        out.insert(e.key.clone(), limit);
    }
    out
}

pub(super) fn extra_hosts(cx: &mut Cx, node: &Node, path: &str) -> BTreeMap<String, IpAddr> {
    let mut out = BTreeMap::new();
    let pairs: Vec<(String, String, Span, String)> = match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let p = index(path, i);
                let text = cx.string(item, &p)?;
                // `host=ip` or `host:ip` (the address may hold colons itself: IPv6).
                let (h, ip) = text
                    .split_once('=')
                    .or_else(|| text.split_once(':'))
                    .unwrap_or((&text, ""));
                Some((
                    h.to_owned(),
                    ip.trim_matches(['[', ']']).to_owned(),
                    item.span,
                    p,
                ))
            })
            .collect(),
        _ => cx
            .dict(node, path)
            .unwrap_or_default()
            .into_iter()
            .map(|(h, ip, span)| {
                let p = join(path, &h);
                (h, ip.unwrap_or_default(), span, p)
            })
            .collect(),
    };
    for (host, ip, span, p) in pairs {
        match ip.parse::<IpAddr>() {
            Ok(addr) => {
                out.insert(host, addr);
            }
            Err(_) => cx.error(
                span,
                &p,
                format!(
                    "`{host}`: `{ip}` is not an IP address; write `host:1.2.3.4` or `host=1.2.3.4`"
                ),
            ),
        }
    }
    out
}

pub(super) fn dns(cx: &mut Cx, node: &Node, path: &str) -> Vec<IpAddr> {
    let items: Vec<(&Node, String)> = match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (n, index(path, i)))
            .collect(),
        _ => vec![(node, path.to_owned())],
    };
    let mut out = Vec::new();
    for (item, p) in items {
        let Some(text) = cx.string(item, &p) else {
            continue;
        };
        match text.parse() {
            Ok(ip) => out.push(ip),
            Err(_) => cx.error(
                item.span,
                &p,
                format!("`{text}` is not an IP address of a DNS server"),
            ),
        }
    }
    out
}
