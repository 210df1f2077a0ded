//! The merged compose tree → [`AppSpec`]: top-level resources here, services in `service`,
//! cross-service checks in `validate`.

use std::collections::BTreeMap;

use skiff_api::{AppSpec, NetworkSpec, PayloadSource, PayloadSpec, Subnet, VolumeSpec};

use crate::decode::{index, join, Cx, Fields, Schema};
use crate::service::{self, ServiceContext};
use crate::yaml::{Kind, Node};
use crate::{names, validate};

/// What the top level needs besides the tree.
pub(crate) struct AppContext<'a> {
    /// The app's name (already checked).
    pub name: &'a str,
    /// The environment (already checked).
    pub environment: &'a str,
    /// Enabled Compose profiles.
    pub profiles: &'a [String],
    /// For services.
    pub services: ServiceContext<'a>,
}

/// The keys of a compose file's top level.
pub(crate) const TOP: Schema = Schema {
    known: &[
        "name", "services", "networks", "volumes", "secrets", "configs", "include", "version",
    ],
    unsupported: crate::unsupported::TOP_KEYS,
};

/// Decodes the whole app; `None` if anything was wrong (all of it recorded in `cx`).
pub(crate) fn decode_app(cx: &mut Cx, root: &Node, acx: &AppContext) -> Option<AppSpec> {
    let errors_before = cx.error_count();
    let f = cx.fields(root, "", &TOP)?;
    let mut spec = AppSpec {
        name: acx.name.to_owned(),
        environment: acx.environment.to_owned(),
        services: BTreeMap::new(),
        networks: f
            .get("networks")
            .map(|n| networks(cx, n, acx))
            .unwrap_or_default(),
        volumes: f
            .get("volumes")
            .map(|n| volumes(cx, n, acx))
            .unwrap_or_default(),
        secrets: f
            .get("secrets")
            .map(|n| payloads(cx, n, "secrets", acx))
            .unwrap_or_default(),
        configs: f
            .get("configs")
            .map(|n| payloads(cx, n, "configs", acx))
            .unwrap_or_default(),
    };
    let mut decoded = BTreeMap::new();
    let mut disabled = BTreeMap::new();
    match f.get("services") {
        None => cx.error(
            root.span,
            "services",
            "the app has no services; define at least one under `services:`",
        ),
        Some(node) => {
            for e in cx.map(node, "services").unwrap_or_default() {
                let path = join("services", &e.key);
                if !names::check_label(cx, e.key_span, &path, "service", &e.key) {
                    continue;
                }
                if let Some(d) = service::decode(cx, &e.value, &path, &acx.services) {
                    let enabled = d.profiles.is_empty()
                        || d.profiles.iter().any(|p| acx.profiles.contains(p));
                    if enabled {
                        decoded.insert(e.key.clone(), d);
                    } else {
                        disabled.insert(e.key.clone(), d.profiles);
                    }
                }
            }
            if decoded.is_empty() && disabled.is_empty() && cx.error_count() == errors_before {
                cx.error(
                    node.span,
                    "services",
                    "the app has no services; define at least one under `services:`",
                );
            } else if decoded.is_empty() && cx.error_count() == errors_before {
                cx.error(
                    node.span,
                    "services",
                    "every service is in a profile that is not enabled; enable one with --profile",
                );
            }
        }
    }
    validate::check(cx, root, &mut spec, &decoded, &disabled);
    // An optional dependency on a service whose profile is off is no dependency at all.
    spec.services = decoded
        .into_iter()
        .map(|(k, mut d)| {
            d.spec
                .depends_on
                .retain(|dep, _| !disabled.contains_key(dep));
            (k, d.spec)
        })
        .collect();
    (cx.error_count() == errors_before).then_some(spec)
}

fn networks(cx: &mut Cx, node: &Node, acx: &AppContext) -> BTreeMap<String, NetworkSpec> {
    const NET: Schema = Schema {
        known: &[
            "driver",
            "attachable",
            "internal",
            "labels",
            "external",
            "name",
            "ipam",
            "enable_ipv6",
            "enable_ipv4",
        ],
        unsupported: &[("driver_opts", "Skiff's networks take no driver options")],
    };
    let mut out = BTreeMap::new();
    for e in cx.map(node, "networks").unwrap_or_default() {
        let p = join("networks", &e.key);
        let Some(f) = cx.fields(&e.value, &p, &NET) else {
            continue;
        };
        let common = common(cx, &f, &p, &e.key, acx.name);
        let mut net = NetworkSpec {
            name: common.name,
            external: common.external,
            internal: f
                .get("internal")
                .and_then(|n| cx.bool(n, &join(&p, "internal")))
                .unwrap_or(false),
            attachable: f
                .get("attachable")
                .and_then(|n| cx.bool(n, &join(&p, "attachable")))
                .unwrap_or(false),
            subnets: Vec::new(),
            labels: common.labels,
        };
        if let Some(d) = f.get("driver") {
            match cx.string(d, &join(&p, "driver")).as_deref() {
                Some("bridge" | "overlay" | "default") | None => {}
                Some(other) => cx.error(d.span, &join(&p, "driver"), format!("driver `{other}` is not supported: Skiff's networks span the cluster's nodes (bridge and overlay both mean that); leave `driver` out")),
            }
        }
        if f.get("enable_ipv6")
            .and_then(|n| cx.bool(n, &join(&p, "enable_ipv6")))
            == Some(true)
        {
            cx.error(
                e.value.span,
                &join(&p, "enable_ipv6"),
                "Skiff's networks are IPv4 only",
            );
        }
        if f.get("enable_ipv4")
            .and_then(|n| cx.bool(n, &join(&p, "enable_ipv4")))
            == Some(false)
        {
            cx.error(
                e.value.span,
                &join(&p, "enable_ipv4"),
                "Skiff's networks are IPv4 only; IPv4 cannot be disabled",
            );
        }
        if let Some(ipam) = f.get("ipam") {
            net.subnets = self::ipam(cx, ipam, &join(&p, "ipam"));
        }
        out.insert(e.key.clone(), net);
    }
    out
}

/// A network's `ipam`: the default driver only, and its address pools.
fn ipam(cx: &mut Cx, node: &Node, path: &str) -> Vec<Subnet> {
    const IPAM: Schema = Schema {
        known: &["driver", "config"],
        unsupported: &[("options", "IPAM options are not supported")],
    };
    const POOL: Schema = Schema {
        known: &["subnet", "gateway"],
        unsupported: &[
            ("ip_range", "containers get addresses from the whole subnet"),
            ("aux_addresses", "auxiliary addresses are not supported"),
        ],
    };
    let mut subnets = Vec::new();
    let Some(i) = cx.fields(node, path, &IPAM) else {
        return subnets;
    };
    if let Some(d) = i
        .get("driver")
        .and_then(|n| cx.string(n, &join(path, "driver")))
    {
        if d != "default" {
            cx.error(
                node.span,
                &join(path, "driver"),
                format!("IPAM driver `{d}` is not supported; leave it out"),
            );
        }
    }
    let cp = join(path, "config");
    for (k, pool) in i
        .get("config")
        .and_then(|n| cx.seq(n, &cp))
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let pp = index(&cp, k);
        let Some(pf) = cx.fields(pool, &pp, &POOL) else {
            continue;
        };
        let Some(subnet) = pf
            .get("subnet")
            .and_then(|n| cx.string(n, &join(&pp, "subnet")))
        else {
            cx.error(
                pool.span,
                &pp,
                "an address pool needs a `subnet` such as 10.20.0.0/24",
            );
            continue;
        };
        if !is_ipv4_cidr(&subnet) {
            cx.error(
                pool.span,
                &join(&pp, "subnet"),
                format!("`{subnet}` is not an IPv4 CIDR such as 10.20.0.0/24"),
            );
            continue;
        }
        let gateway = pf.get("gateway").and_then(|n| {
            let text = cx.string(n, &join(&pp, "gateway"))?;
            let parsed = text.parse().ok();
            if parsed.is_none() {
                cx.error(
                    n.span,
                    &join(&pp, "gateway"),
                    format!("`{text}` is not an IP address"),
                );
            }
            parsed
        });
        subnets.push(Subnet { subnet, gateway });
    }
    subnets
}

fn is_ipv4_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(addr, len)| {
        addr.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
    })
}

/// What networks, volumes, secrets and configs all have.
struct Common {
    /// The name in the environment: `name`, else `<app>_<key>` (or `<key>` when external).
    name: String,
    external: bool,
    labels: BTreeMap<String, String>,
}

fn common(cx: &mut Cx, f: &Fields, path: &str, key: &str, app: &str) -> Common {
    let (external, ext_name) = external(cx, f.get("external"), &join(path, "external"));
    let name = f
        .get("name")
        .and_then(|n| cx.non_empty(n, &join(path, "name")))
        .or(ext_name);
    Common {
        name: name.unwrap_or_else(|| {
            if external {
                key.to_owned()
            } else {
                format!("{app}_{key}")
            }
        }),
        external,
        labels: f
            .get("labels")
            .and_then(|n| cx.string_map(n, &join(path, "labels")))
            .unwrap_or_default(),
    }
}

/// `external: true` or the legacy `external: {name: x}`.
fn external(cx: &mut Cx, node: Option<&Node>, path: &str) -> (bool, Option<String>) {
    match node {
        None => (false, None),
        Some(n) if matches!(n.kind, Kind::Map(_)) => {
            const EXT: Schema = Schema {
                known: &["name"],
                unsupported: &[],
            };
            let name = cx
                .fields(n, path, &EXT)
                .and_then(|f| f.get("name"))
                .and_then(|v| cx.non_empty(v, &join(path, "name")));
            cx.warning(
                n.span,
                path,
                "`external: {name: …}` is deprecated; write `external: true` and `name: …`",
            );
            (true, name)
        }
        Some(n) => (cx.bool(n, path).unwrap_or(false), None),
    }
}

fn volumes(cx: &mut Cx, node: &Node, acx: &AppContext) -> BTreeMap<String, VolumeSpec> {
    const VOL: Schema = Schema {
        known: &["driver", "external", "labels", "name"],
        unsupported: &[(
            "driver_opts",
            "volumes are directories on each node's disk; driver options are not supported",
        )],
    };
    let mut out = BTreeMap::new();
    for e in cx.map(node, "volumes").unwrap_or_default() {
        let p = join("volumes", &e.key);
        if !valid_volume_name(&e.key) {
            cx.error(
                e.key_span,
                &p,
                format!(
                    "`{}` is not a valid volume name (letters, digits, `_`, `.`, `-`)",
                    e.key
                ),
            );
            continue;
        }
        let Some(f) = cx.fields(&e.value, &p, &VOL) else {
            continue;
        };
        if let Some(d) = f
            .get("driver")
            .and_then(|n| cx.string(n, &join(&p, "driver")).map(|s| (s, n.span)))
        {
            if d.0 != "local" {
                cx.error(
                    d.1,
                    &join(&p, "driver"),
                    format!(
                        "volume driver `{}` is not supported; volumes are local to each node",
                        d.0
                    ),
                );
            }
        }
        let common = common(cx, &f, &p, &e.key, acx.name);
        let volume = VolumeSpec {
            name: common.name,
            external: common.external,
            labels: common.labels,
        };
        out.insert(e.key.clone(), volume);
    }
    out
}

fn valid_volume_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

/// Top-level `secrets` or `configs`.
fn payloads(
    cx: &mut Cx,
    node: &Node,
    section: &str,
    acx: &AppContext,
) -> BTreeMap<String, PayloadSpec> {
    const SECRET: Schema = Schema {
        known: &["file", "environment", "external", "name", "labels"],
        unsupported: &[
            (
                "content",
                "inline content is for configs; keep a secret in a file or an environment variable",
            ),
            ("driver", "secret drivers are not supported"),
            ("driver_opts", "secret drivers are not supported"),
            ("template_driver", "templated secrets are not supported"),
        ],
    };
    const CONFIG: Schema = Schema {
        known: &[
            "file",
            "environment",
            "content",
            "external",
            "name",
            "labels",
        ],
        unsupported: &[("template_driver", "templated configs are not supported")],
    };
    let is_secret = section == "secrets";
    let mut out = BTreeMap::new();
    for e in cx.map(node, section).unwrap_or_default() {
        let p = join(section, &e.key);
        let Some(f) = cx.fields(&e.value, &p, if is_secret { &SECRET } else { &CONFIG }) else {
            continue;
        };
        let common = common(cx, &f, &p, &e.key, acx.name);
        let external = common.external;
        let mut sources = Vec::new();
        if let Some(n) = f.get("file") {
            if let Some(file) = cx.non_empty(n, &join(&p, "file")) {
                let dir = acx
                    .services
                    .dirs
                    .get(n.span.file as usize)
                    .cloned()
                    .unwrap_or_default();
                sources.push(PayloadSource::File(
                    crate::load::resolve(&dir, &file)
                        .to_string_lossy()
                        .into_owned(),
                ));
            }
        }
        if let Some(n) = f.get("environment") {
            if let Some(var) = cx.non_empty(n, &join(&p, "environment")) {
                if cx.checks_environment && (acx.services.lookup)(&var).is_none() {
                    cx.error(n.span, &join(&p, "environment"), format!("environment variable `{var}` is not set; set it in the shell or in .env"));
                }
                sources.push(PayloadSource::Environment(var));
            }
        }
        if let Some(n) = f.get_raw("content") {
            sources.push(PayloadSource::Content(
                cx.string(n, &join(&p, "content")).unwrap_or_default(),
            ));
        }
        if external {
            sources.push(PayloadSource::External);
        }
        let what = if is_secret { "secret" } else { "config" };
        let source = match sources.len() {
            1 => sources.pop().expect("one"),
            0 => {
                let from = if is_secret {
                    "`file`, `environment` or `external: true`"
                } else {
                    "`file`, `environment`, `content` or `external: true`"
                };
                cx.error(
                    e.key_span,
                    &p,
                    format!("say where the {what}'s content comes from: {from}"),
                );
                continue;
            }
            _ => {
                cx.error(e.key_span, &p, format!("give only one source for the {what} (file, environment, content or external)"));
                continue;
            }
        };
        let payload = PayloadSpec {
            name: common.name,
            source,
            labels: common.labels,
        };
        out.insert(e.key.clone(), payload);
    }
    out
}
