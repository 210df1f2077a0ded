//! The data the DNS server answers from: who asks (client IP → environment, app, networks) and
//! what each name points at (a service's virtual IP or its healthy task IPs). Built from plain
//! data with [`DnsTable::builder`]; names are stored in lower case so lookups ignore case.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

/// Where a querying container lives: its environment, its app, and the networks it is
/// attached to (network names are scoped to the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientScope {
    /// The environment of the container (`dev`, `prod`, …).
    pub env: String,
    /// The app (stack) the container belongs to.
    pub app: String,
    /// The networks the container is attached to; their aliases resolve by short name.
    pub networks: Vec<String>,
}

impl ClientScope {
    /// A client of `app` in `env`, attached to no extra network.
    pub fn new(env: impl Into<String>, app: impl Into<String>) -> Self {
        Self {
            env: env.into(),
            app: app.into(),
            networks: Vec::new(),
        }
    }

    /// The same client, also attached to `network`.
    pub fn network(mut self, network: impl Into<String>) -> Self {
        self.networks.push(network.into());
        self
    }
}

/// What a name answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The service's virtual IP (the default `endpoint_mode: vip`).
    Vip(Ipv4Addr),
    /// The IPs of the healthy tasks (`endpoint_mode: dnsrr`, and network aliases of
    /// containers). Empty means the name exists but has no address right now.
    Tasks(Vec<Ipv4Addr>),
}

impl Target {
    /// The addresses to answer with, in table order.
    pub fn addrs(&self) -> &[Ipv4Addr] {
        match self {
            Target::Vip(ip) => std::slice::from_ref(ip),
            Target::Tasks(ips) => ips,
        }
    }
}

/// A table entry the builder could not accept; the table is not built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsTableError {
    /// A name is not a DNS label.
    #[error(
        "{field} `{value}` is not a DNS label: use 1 to 63 letters, digits, `-` or `_`, no dots"
    )]
    InvalidLabel {
        /// Which part of the entry (`env`, `app`, `service`, `network`, `alias`).
        field: &'static str,
        /// The name as given.
        value: String,
    },
    /// Two clients with the same IP but different scopes.
    #[error("client {ip} is given twice with different scopes; an IP belongs to one container")]
    DuplicateClient {
        /// The client IP.
        ip: IpAddr,
    },
    /// The same service twice.
    #[error("service `{service}` of app `{app}` in env `{env}` is given twice")]
    DuplicateService {
        /// Environment.
        env: String,
        /// App.
        app: String,
        /// Service.
        service: String,
    },
    /// An alias given twice where one of the entries is a virtual IP (task lists are merged).
    #[error("alias `{alias}` in {scope} of env `{env}` is given twice and one is a virtual IP")]
    AliasConflict {
        /// Environment.
        env: String,
        /// `app NAME` or `network NAME`.
        scope: String,
        /// The alias.
        alias: String,
    },
}

/// The names of one app: its services and its app-wide aliases.
#[derive(Debug, Default, Clone)]
struct AppZone {
    services: HashMap<String, Target>,
    aliases: HashMap<String, Target>,
}

/// The names of one environment.
#[derive(Debug, Default, Clone)]
struct EnvZone {
    apps: HashMap<String, AppZone>,
    /// Network name → alias → target.
    networks: HashMap<String, HashMap<String, Target>>,
}

/// Everything the server answers from. Cheap to read concurrently; replace it whole with
/// `DnsServer::set_table` when services or tasks change.
#[derive(Debug, Clone, Default)]
pub struct DnsTable {
    pub(super) clients: HashMap<IpAddr, ClientScope>,
    envs: HashMap<String, EnvZone>,
    pub(super) ttl: u32,
}

/// The TTL of local answers when the builder is not told otherwise: 0 s, so that no client
/// cache keeps an address after its task is gone (answers are local and cheap).
pub const DEFAULT_TTL: u32 = 0;

impl DnsTable {
    /// Starts an empty table (TTL [`DEFAULT_TTL`]).
    pub fn builder() -> DnsTableBuilder {
        DnsTableBuilder::default()
    }

    /// The scope of the container with this IP, if the table knows it.
    pub fn client(&self, ip: IpAddr) -> Option<&ClientScope> {
        self.clients.get(&ip.to_canonical())
    }

    /// The TTL of local answers, in seconds.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// Whether `env` has an app called `app` (names in lower case).
    pub(super) fn has_app(&self, env: &str, app: &str) -> bool {
        self.envs.get(env).is_some_and(|e| e.apps.contains_key(app))
    }

    /// A service, or else an app alias, of `app` in `env`.
    pub(super) fn app_name(&self, env: &str, app: &str, name: &str) -> Option<&Target> {
        let zone = self.envs.get(env)?.apps.get(app)?;
        zone.services.get(name).or_else(|| zone.aliases.get(name))
    }

    /// An alias on one of `networks` of `env`: the first network in name order that has it.
    pub(super) fn network_alias(
        &self,
        env: &str,
        networks: &[String],
        name: &str,
    ) -> Option<&Target> {
        let zone = self.envs.get(env)?;
        networks
            .iter()
            .filter_map(|n| zone.networks.get(n)?.get(name))
            .next()
    }
}

/// Collects entries for a [`DnsTable`]; [`DnsTableBuilder::build`] checks them.
#[derive(Debug, Default, Clone)]
pub struct DnsTableBuilder {
    ttl: Option<u32>,
    clients: Vec<(IpAddr, ClientScope)>,
    services: Vec<(String, String, String, Target)>,
    aliases: Vec<(String, AliasOwner, String, Target)>,
}

#[derive(Debug, Clone)]
enum AliasOwner {
    App(String),
    Network(String),
}

impl DnsTableBuilder {
    /// Sets the TTL of local answers, in seconds.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Adds a container: queries from `ip` are answered within `scope`.
    pub fn client(mut self, ip: IpAddr, scope: ClientScope) -> Self {
        self.clients.push((ip.to_canonical(), scope));
        self
    }

    /// Adds service `service` of `app` in `env`.
    pub fn service(
        mut self,
        env: impl Into<String>,
        app: impl Into<String>,
        service: impl Into<String>,
        target: Target,
    ) -> Self {
        let entry = (env.into(), app.into(), service.into(), target);
        self.services.push(entry);
        self
    }

    /// Adds an alias valid in the whole of `app` (short name there, `alias.app` in `env`).
    pub fn app_alias(
        mut self,
        env: impl Into<String>,
        app: impl Into<String>,
        alias: impl Into<String>,
        target: Target,
    ) -> Self {
        let owner = AliasOwner::App(app.into());
        self.aliases.push((env.into(), owner, alias.into(), target));
        self
    }

    /// Adds a network alias: a short name for the clients attached to `network` of `env`.
    /// Several entries for the same alias with task lists are merged (several containers
    /// sharing an alias answer together).
    pub fn network_alias(
        mut self,
        env: impl Into<String>,
        network: impl Into<String>,
        alias: impl Into<String>,
        target: Target,
    ) -> Self {
        let owner = AliasOwner::Network(network.into());
        self.aliases.push((env.into(), owner, alias.into(), target));
        self
    }

    /// Checks every name and builds the table.
    pub fn build(self) -> Result<DnsTable, DnsTableError> {
        let mut table = DnsTable {
            ttl: self.ttl.unwrap_or(DEFAULT_TTL),
            ..DnsTable::default()
        };
        for (ip, scope) in self.clients {
            let mut networks = Vec::with_capacity(scope.networks.len());
            for n in &scope.networks {
                networks.push(label("network", n)?);
            }
            // Sorted so that an alias on two networks resolves the same way every time.
            networks.sort();
            networks.dedup();
            let scope = ClientScope {
                env: label("env", &scope.env)?,
                app: label("app", &scope.app)?,
                networks,
            };
            match table.clients.get(&ip) {
                Some(old) if *old != scope => return Err(DnsTableError::DuplicateClient { ip }),
                _ => table.clients.insert(ip, scope),
            };
        }
        for (env, app, service, target) in self.services {
            let (env, app, service) = (
                label("env", &env)?,
                label("app", &app)?,
                label("service", &service)?,
            );
            let zone = table.envs.entry(env.clone()).or_default();
            let services = &mut zone.apps.entry(app.clone()).or_default().services;
            if services.contains_key(&service) {
                return Err(DnsTableError::DuplicateService { env, app, service });
            }
            services.insert(service, target);
        }
        for (env, owner, alias, target) in self.aliases {
            let (env, alias) = (label("env", &env)?, label("alias", &alias)?);
            let zone = table.envs.entry(env.clone()).or_default();
            let (scope, map) = match owner {
                AliasOwner::App(app) => {
                    let app = label("app", &app)?;
                    (
                        format!("app {app}"),
                        &mut zone.apps.entry(app).or_default().aliases,
                    )
                }
                AliasOwner::Network(net) => {
                    let net = label("network", &net)?;
                    (
                        format!("network {net}"),
                        zone.networks.entry(net).or_default(),
                    )
                }
            };
            merge_alias(map, alias, target).map_err(|alias| DnsTableError::AliasConflict {
                env,
                scope,
                alias,
            })?;
        }
        Ok(table)
    }
}

/// Adds `target` under `alias`, merging task lists; a virtual IP cannot be merged.
fn merge_alias(
    map: &mut HashMap<String, Target>,
    alias: String,
    target: Target,
) -> Result<(), String> {
    match (map.get_mut(&alias), target) {
        (None, target) => {
            map.insert(alias, target);
        }
        (Some(Target::Tasks(old)), Target::Tasks(new)) => {
            let mut seen: HashSet<Ipv4Addr> = old.iter().copied().collect();
            old.extend(new.into_iter().filter(|ip| seen.insert(*ip)));
        }
        (Some(_), _) => return Err(alias),
    }
    Ok(())
}

/// `value` in lower case if it is one DNS label (letters, digits, `-`, `_`; 1 to 63 bytes).
fn label(field: &'static str, value: &str) -> Result<String, DnsTableError> {
    let ok = (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(DnsTableError::InvalidLabel {
            field,
            value: value.to_string(),
        })
    }
}
