//! One service of a compose file → [`ServiceSpec`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use skiff_api::{
    Dependency, DependencyCondition, Duration, FileGrant, HealthTest, Healthcheck,
    RestartCondition, RestartPolicy, ServiceNetwork, ServiceSpec, Ulimit,
};

use crate::decode::{index, join, Cx, Fields, Schema};
use crate::deploy::{self, Legacy};
use crate::names;
use crate::yaml::{Kind, Node, Span};
use crate::{dotenv, mounts, ports, Loader};

/// What decoding a service needs beyond its node.
pub(crate) struct ServiceContext<'a> {
    /// Variables for `environment: [KEY]` entries without a value and for env files.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Reads `env_file` files.
    pub loader: &'a dyn Loader,
    /// The project directory of each file, by file id: relative paths resolve against it.
    pub dirs: &'a [PathBuf],
    /// `$HOME`, for `~` in bind sources.
    pub home: Option<&'a str>,
}

/// A name a service refers to, with where it does so, for the cross-service checks.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    /// What it names: "network", "volume", "secret", "config" or "service".
    pub kind: &'static str,
    /// The name.
    pub name: String,
    /// Where.
    pub span: Span,
    /// Its key path.
    pub path: String,
}

/// A decoded service and the names it refers to.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The spec.
    pub spec: ServiceSpec,
    /// Its references to networks, volumes, secrets, configs and other services.
    pub refs: Vec<Reference>,
    /// Compose profiles it belongs to (empty: always enabled).
    pub profiles: Vec<String>,
}

const SERVICE: Schema = Schema {
    known: &[
        "image",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "ports",
        "expose",
        "volumes",
        "networks",
        "hostname",
        "user",
        "working_dir",
        "labels",
        "healthcheck",
        "restart",
        "container_name",
        "platform",
        "depends_on",
        "cap_add",
        "cap_drop",
        "read_only",
        "tmpfs",
        "ulimits",
        "sysctls",
        "stop_signal",
        "stop_grace_period",
        "secrets",
        "configs",
        "init",
        "deploy",
        "tty",
        "stdin_open",
        "extra_hosts",
        "dns",
        "dns_search",
        "profiles",
        "scale",
        "cpus",
        "mem_limit",
        "mem_reservation",
        "pids_limit",
    ],
    unsupported: crate::unsupported::SERVICE_KEYS,
};

/// Decodes `services.<name>`. Returns `None` when the service is too broken to describe (its
/// problems are recorded in `cx` either way).
pub(crate) fn decode(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    scx: &ServiceContext,
) -> Option<Decoded> {
    let f = cx.fields(node, path, &SERVICE)?;
    let errors_before = cx.error_count();
    let mut refs = Vec::new();
    let p = |k: &str| join(path, k);

    let image = match f.get("image") {
        Some(n) => cx
            .non_empty(n, &p("image"))
            .filter(|i| names::check_image(cx, n, &p("image"), i)),
        None => {
            cx.error(
                node.span,
                path,
                "no `image`: every service runs an image (Skiff does not build images)",
            );
            None
        }
    };
    let environment = environment(cx, &f, path, scx);
    let networks = networks(cx, &f, path, &mut refs);
    let (depends_on, dep_refs) = depends_on(cx, &f, path);
    refs.extend(dep_refs);
    let secrets = grants(cx, f.get("secrets"), &p("secrets"), "secret", &mut refs);
    let configs = grants(cx, f.get("configs"), &p("configs"), "config", &mut refs);

    let mcx = mounts::MountContext {
        project_dir: dir_of(scx, node.span),
        home: scx.home,
    };
    let mut mount_specs = f
        .get("volumes")
        .map(|n| mounts::volumes(cx, n, &p("volumes"), &mcx))
        .unwrap_or_default();
    if let Some(volumes) = f.get("volumes").and_then(Node::as_seq) {
        for (i, item) in volumes.iter().enumerate() {
            if let Some(name) = named_volume_source(item) {
                refs.push(Reference {
                    kind: "volume",
                    name,
                    span: item.span,
                    path: index(&p("volumes"), i),
                });
            }
        }
    }
    if let Some(n) = f.get("tmpfs") {
        mount_specs.extend(mounts::tmpfs(cx, n, &p("tmpfs")));
    }

    let legacy = Legacy::read(cx, &f, path);
    let deploy = deploy::decode(cx, f.get("deploy"), &p("deploy"), legacy);
    let restart = f.get("restart").and_then(|n| restart(cx, n, &p("restart")));
    let mut deploy = deploy?;
    if let Some(policy) = restart {
        // `deploy.restart_policy` is the Swarm-era spelling and wins when both are given.
        if f.get("deploy")
            .and_then(|d| d.get("restart_policy"))
            .is_none_or(|n| n.kind == Kind::Null)
        {
            deploy.restart_policy = policy;
        }
    }

    let spec = ServiceSpec {
        image: image.unwrap_or_default(),
        entrypoint: f
            .get("entrypoint")
            .and_then(|n| cx.command(n, &p("entrypoint"))),
        command: f.get("command").and_then(|n| cx.command(n, &p("command"))),
        environment,
        ports: f
            .get("ports")
            .map(|n| ports::ports(cx, n, &p("ports")))
            .unwrap_or_default(),
        expose: f
            .get("expose")
            .map(|n| ports::expose(cx, n, &p("expose")))
            .unwrap_or_default(),
        mounts: mount_specs,
        networks,
        hostname: f
            .get("hostname")
            .and_then(|n| names::hostname(cx, n, &p("hostname"))),
        user: f.get("user").and_then(|n| cx.non_empty(n, &p("user"))),
        working_dir: f
            .get("working_dir")
            .and_then(|n| absolute(cx, n, &p("working_dir"))),
        labels: f
            .get("labels")
            .and_then(|n| cx.string_map(n, &p("labels")))
            .unwrap_or_default(),
        healthcheck: f
            .get("healthcheck")
            .and_then(|n| healthcheck(cx, n, &p("healthcheck"))),
        container_name: f
            .get("container_name")
            .and_then(|n| names::container_name(cx, n, &p("container_name"))),
        platform: f
            .get("platform")
            .and_then(|n| names::platform(cx, n, &p("platform"))),
        depends_on,
        cap_add: f
            .get("cap_add")
            .map(|n| names::capabilities(cx, n, &p("cap_add"), true))
            .unwrap_or_default(),
        cap_drop: f
            .get("cap_drop")
            .map(|n| names::capabilities(cx, n, &p("cap_drop"), false))
            .unwrap_or_default(),
        read_only: flag(cx, &f, path, "read_only"),
        ulimits: f
            .get("ulimits")
            .map(|n| ulimits(cx, n, &p("ulimits")))
            .unwrap_or_default(),
        sysctls: f
            .get("sysctls")
            .map(|n| names::sysctls(cx, n, &p("sysctls")))
            .unwrap_or_default(),
        stop_signal: f
            .get("stop_signal")
            .and_then(|n| names::signal(cx, n, &p("stop_signal")))
            .unwrap_or_else(|| "SIGTERM".to_owned()),
        stop_grace_period: f
            .get("stop_grace_period")
            .and_then(|n| cx.duration(n, &p("stop_grace_period")))
            .unwrap_or(Duration::from_secs(10)),
        secrets,
        configs,
        init: flag(cx, &f, path, "init"),
        tty: flag(cx, &f, path, "tty"),
        stdin_open: flag(cx, &f, path, "stdin_open"),
        extra_hosts: f
            .get("extra_hosts")
            .map(|n| extra_hosts(cx, n, &p("extra_hosts")))
            .unwrap_or_default(),
        dns: f
            .get("dns")
            .map(|n| dns(cx, n, &p("dns")))
            .unwrap_or_default(),
        dns_search: f
            .get("dns_search")
            .and_then(|n| cx.one_or_many(n, &p("dns_search")))
            .unwrap_or_default(),
        deploy,
    };
    let profiles = f
        .get("profiles")
        .and_then(|n| cx.string_list(n, &p("profiles")))
        .unwrap_or_default();
    let ok = cx.error_count() == errors_before;
    ok.then_some(Decoded {
        spec,
        refs,
        profiles,
    })
}

fn dir_of<'a>(scx: &'a ServiceContext, span: Span) -> &'a std::path::Path {
    scx.dirs
        .get(span.file as usize)
        .map(PathBuf::as_path)
        .unwrap_or(std::path::Path::new("."))
}

fn flag(cx: &mut Cx, f: &Fields, path: &str, key: &str) -> bool {
    f.get(key)
        .and_then(|n| cx.bool(n, &join(path, key)))
        .unwrap_or(false)
}

fn absolute(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let dir = cx.non_empty(node, path)?;
    if !dir.starts_with('/') {
        cx.error(
            node.span,
            path,
            format!("`{dir}` is not an absolute path in the container; start it with `/`"),
        );
        return None;
    }
    Some(dir)
}

/// The named volume a `volumes:` entry mounts, if any (for the reference check).
fn named_volume_source(item: &Node) -> Option<String> {
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

/// `environment` over `env_file`: env files first, in order, then the `environment` entries.
fn environment(
    cx: &mut Cx,
    f: &Fields,
    path: &str,
    scx: &ServiceContext,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(n) = f.get("env_file") {
        env_files(cx, n, &join(path, "env_file"), scx, &mut env);
    }
    if let Some(n) = f.get("environment") {
        let p = join(path, "environment");
        for (key, value, span) in cx.dict(n, &p).unwrap_or_default() {
            if !names::is_env_name(&key) {
                cx.error(span, &join(&p, &key), format!("`{key}` is not a valid variable name (letters, digits and `_`, not starting with a digit)"));
                continue;
            }
            // A name without a value passes the variable through from the applying shell; when
            // the shell has none it adds nothing (an env_file's value stays), as Compose does.
            if let Some(v) = value.or_else(|| (scx.lookup)(&key)) {
                env.insert(key, v);
            }
        }
    }
    env
}

fn env_files(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    scx: &ServiceContext,
    env: &mut BTreeMap<String, String>,
) {
    let items: Vec<(Node, String)> = match &node.kind {
        Kind::Scalar(_) => vec![(node.clone(), path.to_owned())],
        _ => cx
            .seq(node, path)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), index(path, i)))
            .collect(),
    };
    const ENV_FILE: Schema = Schema {
        known: &["path", "required", "format"],
        unsupported: &[],
    };
    for (item, p) in items {
        let (file, required) = match &item.kind {
            Kind::Map(_) => {
                let Some(f) = cx.fields(&item, &p, &ENV_FILE) else {
                    continue;
                };
                if let Some(format) = f
                    .get("format")
                    .and_then(|n| cx.string(n, &join(&p, "format")))
                {
                    if format != "raw" && !format.is_empty() {
                        cx.error(
                            item.span,
                            &join(&p, "format"),
                            format!(
                                "unknown env file format `{format}`; leave it out or use `raw`"
                            ),
                        );
                    }
                }
                let required = f
                    .get("required")
                    .and_then(|n| cx.bool(n, &join(&p, "required")))
                    .unwrap_or(true);
                match f
                    .get("path")
                    .and_then(|n| cx.non_empty(n, &join(&p, "path")))
                {
                    Some(file) => (file, required),
                    None => {
                        cx.error(item.span, &p, "an env_file entry needs a `path`");
                        continue;
                    }
                }
            }
            _ => match cx.non_empty(&item, &p) {
                Some(file) => (file, true),
                None => continue,
            },
        };
        let full = crate::load::resolve(dir_of(scx, item.span), &file);
        match scx.loader.read(&full) {
            Ok(text) => {
                let (pairs, errors) = dotenv::parse_dotenv(&text, scx.lookup);
                for e in errors {
                    cx.error(
                        item.span,
                        &p,
                        format!("{}: line {}: {}", full.display(), e.line, e.message),
                    );
                }
                env.extend(pairs);
            }
            Err(crate::LoadError::NotFound) if !required => {}
            Err(e) => cx.error(
                item.span,
                &p,
                format!("cannot read env file {}: {e}", full.display()),
            ),
        }
    }
}

fn networks(
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
            kind: "network",
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
            for name in list_references(cx, items, &p, "network", refs) {
                out.insert(name, ServiceNetwork::default());
            }
        }
        _ => {
            for e in cx.map(node, &p).unwrap_or_default() {
                let np = join(&p, &e.key);
                refs.push(Reference {
                    kind: "network",
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
    kind: &'static str,
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

fn depends_on(
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
            for name in list_references(cx, items, &p, "service", &mut refs) {
                out.insert(name, started);
            }
        }
        _ => {
            for e in cx.map(node, &p).unwrap_or_default() {
                let dp = join(&p, &e.key);
                refs.push(Reference {
                    kind: "service",
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
fn grants(
    cx: &mut Cx,
    node: Option<&Node>,
    path: &str,
    kind: &'static str,
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
                        format!("a {kind} entry needs a `source` naming one of the app's {kind}s"),
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
            ("secret", Some(t)) if !t.starts_with('/') => format!("/run/secrets/{t}"),
            ("secret", None) => format!("/run/secrets/{source}"),
            (_, Some(t)) if !t.starts_with('/') => format!("/{t}"),
            (_, Some(t)) => t,
            (_, None) => format!("/{source}"),
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

fn restart(cx: &mut Cx, node: &Node, path: &str) -> Option<RestartPolicy> {
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

fn healthcheck(cx: &mut Cx, node: &Node, path: &str) -> Option<Healthcheck> {
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

fn ulimits(cx: &mut Cx, node: &Node, path: &str) -> BTreeMap<String, Ulimit> {
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

fn extra_hosts(cx: &mut Cx, node: &Node, path: &str) -> BTreeMap<String, IpAddr> {
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

fn dns(cx: &mut Cx, node: &Node, path: &str) -> Vec<IpAddr> {
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
