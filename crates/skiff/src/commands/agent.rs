//! `skiff agent`: the node agent — registers the node, holds its session with the control plane
//! and runs its tasks; or, with `--simulate N`, N simulated nodes for the benchmark at scale.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use skiff_agent::reconcile::{LocalEngine, Reconciler, ReconcilerOptions};
use skiff_agent::session::{self, Capacity, Registration, Session, SessionConfig};
use skiff_agent::simulate::{self, SimStats, SimulateConfig};
use skiff_agent::{DesiredSet, Directory, StatusBoard};
use skiff_engine::image::registry::RegistryConfig;
use skiff_engine::{Engine, EngineOptions};
use tokio::sync::watch;

/// The port an agent serves logs and exec on unless `--address` says otherwise.
pub const DEFAULT_AGENT_PORT: u16 = 7410;

/// The arguments of `skiff agent`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The control plane's servers, `host:port`; comma-separated or repeated.
    #[arg(
        long = "server",
        env = "SKIFF_SERVER",
        value_name = "HOST:PORT",
        required = true
    )]
    servers: Vec<String>,
    /// The admin token the agent's calls carry.
    #[arg(
        long,
        env = "SKIFF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// Where the agent keeps its node id, pod subnet and engine data.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/skiff-agent")]
    data_dir: PathBuf,
    /// The node's name, for people [default: the host name].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The node's id (a DNS label) [default: the one in the data directory, or a new one].
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// Where this agent serves logs and exec, and its address on the overlay [default: the
    /// host's IPv4 address on its default route, port 7410].
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,
    /// A label of the node, for placement constraints; repeat for more.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// How often to send a heartbeat.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    heartbeat: skiff_api::Duration,
    /// A registry reached over plain HTTP (`host:port`); repeat for more.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,
    /// Run N simulated nodes (`sim-1` … `sim-N`) with a fake engine, for benchmarks.
    #[arg(long, value_name = "N")]
    simulate: Option<usize>,
    /// The simulated nodes' ids start with this (`PREFIX-1` …), so that several simulations
    /// can join one cluster.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "sim",
        requires = "simulate"
    )]
    simulate_prefix: String,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// Runs `skiff agent`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let servers: Vec<String> = args
        .servers
        .iter()
        .flat_map(|s| skiff_client::split_servers(s))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let shutdown = runtime.block_on(async { on_signal() })?;
    match args.simulate {
        Some(nodes) => runtime.block_on(run_simulation(args, servers, nodes, shutdown)),
        None => runtime.block_on(run_agent(args, servers, shutdown)),
    }
}

/// A watch that turns true at SIGINT or SIGTERM.
fn on_signal() -> anyhow::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("skiff agent: stopping");
        tx.send_replace(true);
        // Keep the sender: a dropped one would read as a stop too, and that is what it is.
        std::future::pending::<()>().await;
    });
    Ok(rx)
}

async fn run_simulation(
    args: &Args,
    servers: Vec<String>,
    nodes: usize,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let config = SimulateConfig {
        servers,
        token: args.token.clone(),
        nodes,
        prefix: args.simulate_prefix.clone(),
        labels: args.labels.iter().cloned().collect(),
        heartbeat_interval: args.heartbeat.to_std(),
    };
    let stats = Arc::new(SimStats::default());
    let progress = tokio::spawn(report_progress(stats.clone(), nodes));
    eprintln!("skiff agent: simulating {nodes} nodes");
    let result = simulate::simulate(config, stats, shutdown).await;
    progress.abort();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Prints how many simulated nodes registered and tasks run, every few seconds while it changes.
async fn report_progress(stats: Arc<SimStats>, nodes: usize) {
    let mut last = (usize::MAX, usize::MAX);
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = (
            stats.registered.load(Ordering::Relaxed),
            stats.running.load(Ordering::Relaxed),
        );
        if now != last {
            eprintln!(
                "skiff agent: {}/{nodes} nodes registered, {} tasks running",
                now.0, now.1
            );
            last = now;
        }
        if let Some(problem) = stats.take_problem() {
            eprintln!("skiff agent: last problem: {problem}");
        }
    }
}

async fn run_agent(
    args: &Args,
    servers: Vec<String>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let config = SessionConfig {
        servers,
        token: args.token.clone(),
        node_id: args.node_id.clone(),
        name: match &args.name {
            Some(name) => name.clone(),
            None => host_name()?,
        },
        address: match &args.address {
            Some(address) => address.clone(),
            None => format!("{}:{DEFAULT_AGENT_PORT}", host_address()?),
        },
        labels: args.labels.iter().cloned().collect::<BTreeMap<_, _>>(),
        capacity: Capacity::of_this_machine()?,
        heartbeat_interval: args.heartbeat.to_std(),
        data_dir: Some(args.data_dir.clone()),
        quiet: false,
    };
    run_node(config, engine_options(args)?, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs one node until `shutdown`: registers it, holds its session and reconciles the engine
/// `options` describe towards its tasks (`skiff agent`, and the agent half of `skiff dev`).
pub async fn run_node(
    config: SessionConfig,
    options: EngineOptions,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let local = config
        .address
        .rsplit_once(':')
        .and_then(|(host, _)| host.parse::<Ipv4Addr>().ok());
    let data_dir = options.data_dir.clone();
    let serve = NodeServe {
        address: config.address.clone(),
        token: config.token.clone(),
    };
    // The engine side is made before the node registers: a node that cannot run tasks must
    // not be offered any.
    let executor = executor(options, serve)?;
    let session = Session::new(config)?;
    eprintln!(
        "skiff agent: node {} (engine in {})",
        session.node_id(),
        data_dir.display()
    );
    let registration = match session.register(&mut shutdown).await {
        Err(session::SessionError::Stopped) => return Ok(()),
        other => other?,
    };
    let board = StatusBoard::new();
    let outputs = session::Outputs::new();
    let executed = executor(
        registration,
        local,
        Published {
            desired: outputs.desired.subscribe(),
            peers: outputs.peers.subscribe(),
            directory: outputs.directory.subscribe(),
        },
        board.clone(),
        shutdown.clone(),
    );
    let mut session_shutdown = shutdown.clone();
    let held = session.hold(&board, &outputs, &mut session_shutdown);
    let (held, executed) = tokio::join!(held, executed);
    held?;
    executed
}

/// What the session publishes, as the node's executor reads it.
struct Published {
    desired: watch::Receiver<DesiredSet>,
    peers: watch::Receiver<session::Peers>,
    directory: watch::Receiver<Directory>,
}

/// What runs the node's tasks: given the registration, what the session publishes, the status
/// board and the shutdown watch, a future that reconciles until shutdown.
type Executor = Box<
    dyn FnOnce(
            Registration,
            Option<Ipv4Addr>,
            Published,
            StatusBoard,
            watch::Receiver<bool>,
        ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send,
>;

/// Where and with which token the node serves logs and exec (the `Node` service).
struct NodeServe {
    /// `IP:PORT`, the node's `--address`.
    address: String,
    /// The token the agent holds its session with: the only one the service accepts.
    token: Option<String>,
}

impl NodeServe {
    /// Starts serving the `Node` service over `engine` until `shutdown`; a node that cannot
    /// (its address is not local, the port is taken) says so and runs its tasks all the same.
    fn start(self, engine: Arc<Engine>, shutdown: watch::Receiver<bool>) {
        let address: std::net::SocketAddr = match self.address.parse() {
            Ok(address) => address,
            Err(_) => {
                eprintln!(
                    "skiff agent: --address {} is not IP:PORT: no logs or exec on this node",
                    self.address
                );
                return;
            }
        };
        let service = skiff_agent::node_service::NodeService::new(engine, self.token);
        tokio::spawn(async move {
            if let Err(e) = skiff_agent::node_service::serve(service, address, shutdown).await {
                eprintln!("skiff agent: cannot serve logs and exec on {address}: {e}");
            }
        });
    }
}

/// The real executor: the engine in `--data-dir`/engine, opened again once the node's pod
/// subnet is known (its bridge network uses it), the reconciler over it, and the overlay kept
/// equal to the peer list. The engine is opened once before registering, so that a node whose
/// engine cannot open is never offered tasks.
fn executor(options: EngineOptions, serve: NodeServe) -> anyhow::Result<Executor> {
    Engine::open(options.clone()).map_err(|e| {
        anyhow::anyhow!("opening the engine in {}: {e}", options.data_dir.display())
    })?;
    Ok(Box::new(
        move |registration, local, published, board, shutdown| {
            Box::pin(async move {
                let Published {
                    desired,
                    peers,
                    directory,
                } = published;
                let mut options = options;
                options.network.subnet = registration.pod_subnet.parse().with_context(|| {
                    format!("the server gave pod subnet {:?}", registration.pod_subnet)
                })?;
                let subnet = options.network.subnet;
                let dns = start_dns(&options).await;
                options.network.gateway_dns = dns.is_some();
                let engine = Arc::new(Engine::open(options).map_err(|e| {
                    anyhow::anyhow!("opening the engine for pod subnet {subnet}: {e}")
                })?);
                // A server that does not say leaves isolation to the listed containers alone.
                let cluster = skiff_agent::services::Cluster {
                    pods: registration.pod_cidr.parse().into_iter().collect(),
                    subnet,
                    peers: peers.clone(),
                };
                tokio::spawn(skiff_agent::services::follow(
                    engine.clone(),
                    dns,
                    cluster,
                    directory,
                ));
                match local {
                    Some(address) => {
                        tokio::spawn(skiff_agent::overlay::follow(engine.clone(), address, peers));
                    }
                    None => eprintln!(
                        "skiff agent: the node's address is not IPv4: no overlay to other nodes"
                    ),
                }
                serve.start(engine.clone(), shutdown.clone());
                let node = Arc::new(LocalEngine::new(engine));
                // The routing mesh (services::follow) publishes the ingress ports.
                let options = ReconcilerOptions {
                    local_ingress: false,
                    drain: skiff_agent::reconcile::DEFAULT_DRAIN,
                    ..ReconcilerOptions::default()
                };
                let reconciler = Reconciler::new(node, board, options);
                let mut stop = shutdown;
                reconciler
                    .run(desired, async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                Ok(())
            })
        },
    ))
}

/// Starts the node's DNS server on its bridge's address (making the bridge if need be),
/// forwarding to the nameservers of /etc/resolv.conf; `None`, said on standard error, when it
/// cannot (containers then get the node's nameservers, and no service names).
async fn start_dns(options: &EngineOptions) -> Option<skiff_agent::dns::DnsServer> {
    use skiff_agent::dns::{upstreams_from_resolv_conf, DnsServer};
    let engine = Engine::open(options.clone()).ok()?;
    let gateway = match tokio::task::spawn_blocking(move || engine.ensure_bridge()).await {
        Ok(Ok(gateway)) => gateway,
        Ok(Err(e)) => {
            eprintln!("skiff agent: no service names: the bridge: {e}");
            return None;
        }
        Err(e) => {
            eprintln!("skiff agent: no service names: {e}");
            return None;
        }
    };
    let resolv = std::path::Path::new("/etc/resolv.conf");
    let upstreams = upstreams_from_resolv_conf(resolv).unwrap_or_else(|e| {
        eprintln!("skiff agent: service DNS forwards nothing: {e}");
        Vec::new()
    });
    let listen = std::net::SocketAddr::from((gateway, 53));
    match DnsServer::start(listen, upstreams).await {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!("skiff agent: no service names: {e}");
            None
        }
    }
}

/// The engine's options for `--data-dir`: its own directory under it, the registries of
/// /etc/skiff/registries.json (if any) and `--insecure-registry`.
fn engine_options(args: &Args) -> anyhow::Result<EngineOptions> {
    engine_options_in(&args.data_dir, &args.insecure_registries)
}

/// The engine's options for an agent whose data is in `data_dir`.
pub fn engine_options_in(
    data_dir: &std::path::Path,
    insecure_registries: &[String],
) -> anyhow::Result<EngineOptions> {
    let mut options = EngineOptions::new(data_dir.join("engine"));
    let config = std::path::Path::new(super::engine_args::DEFAULT_REGISTRY_CONFIG);
    if config.exists() {
        options.registry = RegistryConfig::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    options
        .registry
        .insecure
        .extend(insecure_registries.iter().cloned());
    Ok(options)
}

/// The host name, as the kernel has it.
fn host_name() -> anyhow::Result<String> {
    let path = "/proc/sys/kernel/hostname";
    let name = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "the host has no name: pass --name NAME");
    Ok(name.to_owned())
}

/// The IPv4 address the host sends from on its default route: the one other nodes most
/// likely reach it at. Found by connecting a UDP socket (which sends nothing) to an address of
/// TEST-NET-1 and reading the local address the kernel chose.
fn host_address() -> anyhow::Result<Ipv4Addr> {
    let hint = "pass --address HOST:PORT, where other nodes reach this agent";
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .with_context(|| format!("cannot tell this host's address: {hint}"))?;
    socket
        .connect((Ipv4Addr::new(192, 0, 2, 1), 9))
        .with_context(|| {
            format!("this host has no IPv4 route out, so no address to tell: {hint}")
        })?;
    match socket.local_addr()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Ok(ip),
        other => anyhow::bail!("this host's address on its default route is {other}: {hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_key_value() {
        assert_eq!(parse_label("zone=a"), Ok(("zone".into(), "a".into())));
        assert_eq!(parse_label("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_label("zone").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_label("=a").is_err());
    }
}
