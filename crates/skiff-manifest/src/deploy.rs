//! A service's `deploy:` section (and the legacy service-level resource keys) → [`Deploy`].

use skiff_api::{
    ByteSize, Constraint, ConstraintOp, Cpus, Deploy, EndpointMode, FailureAction, Placement,
    ResourceLimits, ResourceReservations, Resources, RestartCondition, RestartPolicy, ServiceMode,
    SpreadPreference, UpdateConfig, UpdateOrder,
};

use crate::decode::{index, join, Cx, Fields, Schema};
use crate::yaml::{Node, Span};

/// Compose's older service-level spellings of deploy settings (`scale`, `cpus`, `mem_limit`, …),
/// each with where it was written.
#[derive(Debug, Default)]
pub(crate) struct Legacy {
    scale: Option<(u32, Span)>,
    cpus: Option<(Cpus, Span)>,
    mem_limit: Option<(ByteSize, Span)>,
    mem_reservation: Option<(ByteSize, Span)>,
    pids_limit: Option<(u64, Span)>,
}

impl Legacy {
    /// Reads them from a service's fields.
    pub fn read(cx: &mut Cx, f: &Fields, path: &str) -> Self {
        let at = |n: &Node| n.span;
        Self {
            scale: f
                .get("scale")
                .and_then(|n| cx.u32(n, &join(path, "scale")).map(|v| (v, at(n)))),
            cpus: f
                .get("cpus")
                .and_then(|n| positive_cpus(cx, n, &join(path, "cpus")).map(|v| (v, at(n)))),
            mem_limit: f
                .get("mem_limit")
                .and_then(|n| memory(cx, n, &join(path, "mem_limit")).map(|v| (v, at(n)))),
            mem_reservation: f.get("mem_reservation").and_then(|n| {
                cx.byte_size(n, &join(path, "mem_reservation"))
                    .map(|v| (v, at(n)))
            }),
            pids_limit: f.get("pids_limit").and_then(|n| {
                pids(cx, n, &join(path, "pids_limit"))
                    .flatten()
                    .map(|v| (v, at(n)))
            }),
        }
    }
}

const DEPLOY: Schema = Schema {
    known: &[
        "mode",
        "replicas",
        "resources",
        "restart_policy",
        "placement",
        "update_config",
        "rollback_config",
        "endpoint_mode",
        "labels",
    ],
    unsupported: &[],
};

/// Decodes `deploy` (absent: every default), folding in the legacy keys; a legacy key that
/// disagrees with its `deploy` twin is an error, as in Compose.
pub(crate) fn decode(
    cx: &mut Cx,
    node: Option<&Node>,
    path: &str,
    legacy: Legacy,
) -> Option<Deploy> {
    let empty = Node::new(Span::default(), crate::yaml::Kind::Null);
    let node = node.unwrap_or(&empty);
    let f = cx.fields(node, path, &DEPLOY)?;
    let p = |k: &str| join(path, k);

    let replicas = f.get("replicas").and_then(|n| cx.u32(n, &p("replicas")));
    let replicas = reconcile(cx, path, "replicas", replicas, legacy.scale, "scale");
    let mode = match f
        .get("mode")
        .and_then(|n| cx.string(n, &p("mode")).map(|m| (m, n.span)))
    {
        None => ServiceMode::Replicated {
            replicas: replicas.unwrap_or(1),
        },
        Some((m, _)) if m == "replicated" => ServiceMode::Replicated {
            replicas: replicas.unwrap_or(1),
        },
        Some((m, span)) if m == "global" => {
            if replicas.is_some() {
                cx.error(span, &p("mode"), "`replicas` does not apply to a global service (it runs one task per node); remove one of them");
            }
            ServiceMode::Global
        }
        Some((m, span)) if m.ends_with("-job") => {
            cx.error(span, &p("mode"), format!("`{m}`: jobs are not supported yet; run the work as a service with `restart: on-failure`"));
            ServiceMode::Replicated { replicas: 1 }
        }
        Some((m, span)) => {
            cx.error(
                span,
                &p("mode"),
                format!("unknown mode `{m}`; use replicated or global"),
            );
            ServiceMode::Replicated { replicas: 1 }
        }
    };

    let legacy_reservation = legacy.mem_reservation.map(|(_, span)| span);
    let mut resources = f
        .get("resources")
        .map(|n| resources(cx, n, &p("resources")))
        .unwrap_or_default();
    resources.limits.cpus = reconcile(
        cx,
        path,
        "resources.limits.cpus",
        resources.limits.cpus,
        legacy.cpus,
        "cpus",
    );
    resources.limits.memory = reconcile(
        cx,
        path,
        "resources.limits.memory",
        resources.limits.memory,
        legacy.mem_limit,
        "mem_limit",
    );
    resources.reservations.memory = reconcile(
        cx,
        path,
        "resources.reservations.memory",
        resources.reservations.memory,
        legacy.mem_reservation,
        "mem_reservation",
    );
    resources.limits.pids = reconcile(
        cx,
        path,
        "resources.limits.pids",
        resources.limits.pids,
        legacy.pids_limit,
        "pids_limit",
    );

    let reservations = node.get("resources").and_then(|r| r.get("reservations"));
    for (what, limit, reserve) in [
        (
            "cpus",
            resources.limits.cpus.map(|c| c.millis()),
            resources.reservations.cpus.map(|c| c.millis()),
        ),
        (
            "memory",
            resources.limits.memory.map(|m| m.0),
            resources.reservations.memory.map(|m| m.0),
        ),
    ] {
        if let (Some(l), Some(r)) = (limit, reserve) {
            if r > l {
                let at = reservations.and_then(|n| n.get(what));
                let (span, p) = match (at, what, &legacy_reservation) {
                    (Some(n), _, _) => (
                        n.span,
                        join(path, &format!("resources.reservations.{what}")),
                    ),
                    (None, "memory", Some(span)) => (
                        *span,
                        join(
                            path.rsplit_once('.').map_or("", |(p, _)| p),
                            "mem_reservation",
                        ),
                    ),
                    _ => (node.span, path.to_owned()),
                };
                cx.error(span, &p, format!("the {what} reservation is above the {what} limit; a task could never get what it reserves"));
            }
        }
    }

    Some(Deploy {
        mode,
        resources,
        restart_policy: f
            .get("restart_policy")
            .and_then(|n| restart_policy(cx, n, &p("restart_policy")))
            .unwrap_or_default(),
        placement: f
            .get("placement")
            .and_then(|n| placement(cx, n, &p("placement")))
            .unwrap_or_default(),
        update_config: f
            .get("update_config")
            .and_then(|n| update_config(cx, n, &p("update_config"), false))
            .unwrap_or_else(UpdateConfig::default_update),
        rollback_config: f
            .get("rollback_config")
            .and_then(|n| update_config(cx, n, &p("rollback_config"), true))
            .unwrap_or_else(UpdateConfig::default_rollback),
        endpoint_mode: match f
            .get("endpoint_mode")
            .and_then(|n| cx.string(n, &p("endpoint_mode")).map(|m| (m, n.span)))
        {
            None => EndpointMode::Vip,
            Some((m, _)) if m == "vip" => EndpointMode::Vip,
            Some((m, _)) if m == "dnsrr" => EndpointMode::Dnsrr,
            Some((m, span)) => {
                cx.error(
                    span,
                    &p("endpoint_mode"),
                    format!("unknown endpoint mode `{m}`; use vip or dnsrr"),
                );
                EndpointMode::Vip
            }
        },
        labels: f
            .get("labels")
            .and_then(|n| cx.string_map(n, &p("labels")))
            .unwrap_or_default(),
    })
}

/// The value of a deploy key and its legacy twin: either, or both when they agree.
fn reconcile<T: PartialEq + std::fmt::Display + Copy>(
    cx: &mut Cx,
    path: &str,
    key: &str,
    value: Option<T>,
    legacy: Option<(T, Span)>,
    legacy_key: &str,
) -> Option<T> {
    match (value, legacy) {
        (Some(v), Some((l, span))) if v != l => {
            let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
            cx.error(
                span,
                &join(parent, legacy_key),
                format!("`{legacy_key}: {l}` disagrees with `deploy.{key}: {v}`; keep only `deploy.{key}`"),
            );
            Some(v)
        }
        (Some(v), _) => Some(v),
        (None, l) => l.map(|(l, _)| l),
    }
}

fn resources(cx: &mut Cx, node: &Node, path: &str) -> Resources {
    const RES: Schema = Schema {
        known: &["limits", "reservations"],
        unsupported: &[],
    };
    const LIMITS: Schema = Schema {
        known: &["cpus", "memory", "pids"],
        unsupported: &[],
    };
    const RESERVATIONS: Schema = Schema {
        known: &["cpus", "memory"],
        unsupported: &[
            ("devices", "devices (GPUs and the like) cannot be reserved; Skiff does not pass devices to containers"),
            ("generic_resources", "generic resources are not supported"),
            ("pids", "processes can be limited (`limits.pids`) but not reserved"),
        ],
    };
    let mut out = Resources::default();
    let Some(f) = cx.fields(node, path, &RES) else {
        return out;
    };
    if let Some(n) = f.get("limits") {
        let lp = join(path, "limits");
        if let Some(l) = cx.fields(n, &lp, &LIMITS) {
            out.limits = ResourceLimits {
                cpus: l
                    .get("cpus")
                    .and_then(|n| positive_cpus(cx, n, &join(&lp, "cpus"))),
                memory: l
                    .get("memory")
                    .and_then(|n| memory(cx, n, &join(&lp, "memory"))),
                pids: l
                    .get("pids")
                    .and_then(|n| pids(cx, n, &join(&lp, "pids")))
                    .flatten(),
            };
        }
    }
    if let Some(n) = f.get("reservations") {
        let rp = join(path, "reservations");
        if let Some(r) = cx.fields(n, &rp, &RESERVATIONS) {
            out.reservations = ResourceReservations {
                cpus: r.get("cpus").and_then(|n| cx.cpus(n, &join(&rp, "cpus"))),
                memory: r
                    .get("memory")
                    .and_then(|n| cx.byte_size(n, &join(&rp, "memory"))),
            };
        }
    }
    out
}

/// Reads a process limit: a number, or -1 for none (Compose's spelling of "unlimited").
fn pids(cx: &mut Cx, node: &Node, path: &str) -> Option<Option<u64>> {
    if node.as_str().map(str::trim) == Some("-1") {
        return Some(None);
    }
    cx.uint(node, path, u64::MAX).map(Some)
}

fn positive_cpus(cx: &mut Cx, node: &Node, path: &str) -> Option<Cpus> {
    let c = cx.cpus(node, path)?;
    if c.millis() == 0 {
        cx.error(
            node.span,
            path,
            "a CPU limit of 0 would stop the container from running; leave it out for no limit",
        );
        return None;
    }
    Some(c)
}

fn memory(cx: &mut Cx, node: &Node, path: &str) -> Option<ByteSize> {
    let m = cx.byte_size(node, path)?;
    // The kernel refuses a memory cgroup limit this small; so does Docker (6 MiB minimum).
    if m.0 < 6 << 20 {
        cx.error(
            node.span,
            path,
            format!("{m} is below the minimum memory limit of 6MiB"),
        );
        return None;
    }
    Some(m)
}

fn restart_policy(cx: &mut Cx, node: &Node, path: &str) -> Option<RestartPolicy> {
    const RP: Schema = Schema {
        known: &["condition", "delay", "max_attempts", "window"],
        unsupported: &[],
    };
    let f = cx.fields(node, path, &RP)?;
    let p = |k: &str| join(path, k);
    let mut policy = RestartPolicy::default();
    if let Some(n) = f.get("condition") {
        policy.condition = match cx.string(n, &p("condition")).as_deref() {
            Some("none") => RestartCondition::None,
            Some("on-failure") => RestartCondition::OnFailure,
            Some("any") => RestartCondition::Any,
            Some(other) => {
                cx.error(
                    n.span,
                    &p("condition"),
                    format!("unknown condition `{other}`; use none, on-failure or any"),
                );
                policy.condition
            }
            None => policy.condition,
        };
    }
    if let Some(d) = f.get("delay").and_then(|n| cx.duration(n, &p("delay"))) {
        policy.delay = d;
    }
    policy.max_attempts = f
        .get("max_attempts")
        .and_then(|n| cx.u32(n, &p("max_attempts")));
    policy.window = f.get("window").and_then(|n| cx.duration(n, &p("window")));
    Some(policy)
}

fn placement(cx: &mut Cx, node: &Node, path: &str) -> Option<Placement> {
    const PL: Schema = Schema {
        known: &["constraints", "preferences", "max_replicas_per_node"],
        unsupported: &[],
    };
    const PREF: Schema = Schema {
        known: &["spread"],
        unsupported: &[],
    };
    let f = cx.fields(node, path, &PL)?;
    let mut out = Placement::default();
    if let Some(n) = f.get("constraints") {
        let cp = join(path, "constraints");
        for (i, item) in cx.seq(n, &cp).unwrap_or_default().iter().enumerate() {
            let ip = index(&cp, i);
            if let Some(text) = cx.string(item, &ip) {
                match parse_constraint(&text) {
                    Ok(c) => out.constraints.push(c),
                    Err(why) => cx.error(item.span, &ip, why),
                }
            }
        }
    }
    if let Some(n) = f.get("preferences") {
        let pp = join(path, "preferences");
        for (i, item) in cx.seq(n, &pp).unwrap_or_default().iter().enumerate() {
            let ip = index(&pp, i);
            let Some(pf) = cx.fields(item, &ip, &PREF) else {
                continue;
            };
            match pf.get("spread").and_then(|n| cx.non_empty(n, &join(&ip, "spread"))) {
                Some(attr) if is_node_attribute(&attr) => out.preferences.push(SpreadPreference { spread: attr }),
                Some(attr) => cx.error(item.span, &ip, format!("cannot spread over `{attr}`; use a node attribute such as node.labels.zone")),
                None => cx.error(item.span, &ip, "a preference needs `spread: <node attribute>`"),
            }
        }
    }
    out.max_replicas_per_node = f
        .get("max_replicas_per_node")
        .and_then(|n| cx.u32(n, &join(path, "max_replicas_per_node")));
    if let (Some(0), Some(n)) = (out.max_replicas_per_node, f.get("max_replicas_per_node")) {
        cx.error(
            n.span,
            &join(path, "max_replicas_per_node"),
            "0 would place nothing; use 1 or more, or leave it out",
        );
    }
    Some(out)
}

fn is_node_attribute(attr: &str) -> bool {
    matches!(
        attr,
        "node.id" | "node.hostname" | "node.role" | "node.platform.os" | "node.platform.arch"
    ) || attr
        .strip_prefix("node.labels.")
        .is_some_and(|l| !l.is_empty())
}

/// `node.labels.zone == east` → a [`Constraint`].
pub(crate) fn parse_constraint(text: &str) -> Result<Constraint, String> {
    let (attr, op, value) = if let Some((a, v)) = text.split_once("==") {
        (a, ConstraintOp::Eq, v)
    } else if let Some((a, v)) = text.split_once("!=") {
        (a, ConstraintOp::Ne, v)
    } else {
        return Err(format!("`{text}` is not a constraint; write `node.labels.zone == east` or `node.role != manager`"));
    };
    let (attr, value) = (attr.trim(), value.trim());
    if !is_node_attribute(attr) {
        return Err(format!(
            "unknown attribute `{attr}`; use node.id, node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<name>"
        ));
    }
    if value.is_empty() {
        return Err(format!("`{text}` has no value to compare with"));
    }
    Ok(Constraint {
        attribute: attr.to_owned(),
        operator: op,
        value: value.to_owned(),
    })
}

fn update_config(cx: &mut Cx, node: &Node, path: &str, rollback: bool) -> Option<UpdateConfig> {
    const UC: Schema = Schema {
        known: &[
            "parallelism",
            "delay",
            "order",
            "failure_action",
            "monitor",
            "max_failure_ratio",
        ],
        unsupported: &[],
    };
    let f = cx.fields(node, path, &UC)?;
    let p = |k: &str| join(path, k);
    let mut out = if rollback {
        UpdateConfig::default_rollback()
    } else {
        UpdateConfig::default_update()
    };
    if let Some(v) = f
        .get("parallelism")
        .and_then(|n| cx.u32(n, &p("parallelism")))
    {
        out.parallelism = v;
    }
    if let Some(v) = f.get("delay").and_then(|n| cx.duration(n, &p("delay"))) {
        out.delay = v;
    }
    if let Some(v) = f.get("monitor").and_then(|n| cx.duration(n, &p("monitor"))) {
        out.monitor = v;
    }
    if let Some(n) = f.get("order") {
        match cx.string(n, &p("order")).as_deref() {
            Some("stop-first") => out.order = UpdateOrder::StopFirst,
            Some("start-first") => out.order = UpdateOrder::StartFirst,
            Some(o) => cx.error(
                n.span,
                &p("order"),
                format!("unknown order `{o}`; use stop-first or start-first"),
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("failure_action") {
        match cx.string(n, &p("failure_action")).as_deref() {
            Some("pause") => out.failure_action = FailureAction::Pause,
            Some("continue") => out.failure_action = FailureAction::Continue,
            Some("rollback") if !rollback => out.failure_action = FailureAction::Rollback,
            Some("rollback") => cx.error(
                n.span,
                &p("failure_action"),
                "a rollback cannot itself roll back; use pause or continue",
            ),
            Some(a) => cx.error(
                n.span,
                &p("failure_action"),
                format!("unknown action `{a}`; use pause, continue or rollback"),
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("max_failure_ratio") {
        if let Some(text) = cx.string(n, &p("max_failure_ratio")) {
            match text.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => out.max_failure_ratio = r,
                _ => cx.error(
                    n.span,
                    &p("max_failure_ratio"),
                    format!("`{text}` is not a ratio between 0 and 1 (such as 0.1)"),
                ),
            }
        }
    }
    Some(out)
}
