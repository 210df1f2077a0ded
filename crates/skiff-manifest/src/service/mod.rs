//! One service of a compose file → [`ServiceSpec`].
//!
//! This module holds the crate-facing API ([`ServiceContext`], [`Reference`], [`Decoded`],
//! [`decode`]) and the `environment` / `env_file` reading. The keys that name other resources
//! (networks, depends_on, secrets, configs, named volumes) are read in [`refs`]; the small
//! per-key readers (restart, healthcheck, ulimits, extra_hosts, dns, …) live in [`options`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use skiff_api::{Deploy, MountSpec, ServiceSpec, DEFAULT_STOP_GRACE_PERIOD, DEFAULT_STOP_SIGNAL};

use crate::decode::{index, join, Cx, Fields, Schema};
use crate::deploy::{self, Legacy};
use crate::names;
use crate::yaml::{Kind, Node, Span};
use crate::{dotenv, mounts, ports, Loader};

mod options;
mod refs;

use options::{absolute, dns, extra_hosts, flag, healthcheck, restart, ulimits};
use refs::{depends_on, grants, named_volume_source, networks};

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

/// What a service refers to by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    /// A network of the app.
    Network,
    /// A named volume of the app.
    Volume,
    /// A secret of the app.
    Secret,
    /// A config of the app.
    Config,
    /// Another service (`depends_on`).
    Service,
}

impl RefKind {
    /// The noun for messages: "network", "secret", …
    pub fn noun(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Secret => "secret",
            Self::Config => "config",
            Self::Service => "service",
        }
    }
}

/// A name a service refers to, with where it does so, for the cross-service checks.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    /// What it names: "network", "volume", "secret", "config" or "service".
    pub kind: RefKind,
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

/// `volumes` and `tmpfs`, in that order; named volumes are recorded as references.
fn service_mounts(
    cx: &mut Cx,
    f: &Fields,
    path: &str,
    scx: &ServiceContext,
    at: Span,
    refs: &mut Vec<Reference>,
) -> Vec<MountSpec> {
    let p = |k: &str| join(path, k);
    let mcx = mounts::MountContext {
        project_dir: dir_of(scx, at),
        home: scx.home,
    };
    let mut specs = f
        .get("volumes")
        .map(|n| mounts::volumes(cx, n, &p("volumes"), &mcx))
        .unwrap_or_default();
    if let Some(volumes) = f.get("volumes").and_then(Node::as_seq) {
        for (i, item) in volumes.iter().enumerate() {
            if let Some(name) = named_volume_source(item) {
                refs.push(Reference {
                    kind: RefKind::Volume,
                    name,
                    span: item.span,
                    path: index(&p("volumes"), i),
                });
            }
        }
    }
    if let Some(n) = f.get("tmpfs") {
        specs.extend(mounts::tmpfs(cx, n, &p("tmpfs")));
    }
    specs
}

/// `deploy`, with the legacy keys folded in and `restart` applied unless `deploy` has its own.
fn service_deploy(cx: &mut Cx, f: &Fields, path: &str) -> Option<Deploy> {
    let p = |k: &str| join(path, k);
    let legacy = Legacy::read(cx, f, path);
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
    Some(deploy)
}

/// Decodes `services.<name>`. Returns `None` when the service is too broken to describe (its
/// problems are recorded in `cx` either way).
pub(crate) fn decode(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    scx: &ServiceContext,
) -> Option<Decoded> {
    let f = cx.fields(node, path, &SERVICE)?;
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
    let secrets = grants(
        cx,
        f.get("secrets"),
        &p("secrets"),
        RefKind::Secret,
        &mut refs,
    );
    let configs = grants(
        cx,
        f.get("configs"),
        &p("configs"),
        RefKind::Config,
        &mut refs,
    );

    let mount_specs = service_mounts(cx, &f, path, scx, node.span, &mut refs);
    // A broken `deploy` is reported; the rest of the service is still read and checked.
    let deploy = service_deploy(cx, &f, path).unwrap_or_default();

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
            .unwrap_or_else(|| DEFAULT_STOP_SIGNAL.to_owned()),
        stop_grace_period: f
            .get("stop_grace_period")
            .and_then(|n| cx.duration(n, &p("stop_grace_period")))
            .unwrap_or(DEFAULT_STOP_GRACE_PERIOD),
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
    // Returned even when something was wrong, so that the checks across services still run
    // on it (every problem at once); the load fails on the errors recorded.
    Some(Decoded {
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
                cx.error(span, &join(&p, &key), format!("`{key}` is not a valid variable name (letters, digits, `_`, `.` and `-`, starting with a letter or `_`)"));
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
                    if !format.is_empty() {
                        // Compose's `raw` (values taken literally) is not implemented: refusing
                        // it beats reading the file in another syntax than the one asked for.
                        cx.error(
                            item.span,
                            &join(&p, "format"),
                            format!("env file format `{format}` is not supported; leave `format` out to read the file as a .env file"),
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
