//! `skiff dev`: the embedded default — one process that is a one-member control plane and the
//! agent of the one node, with everything under one data directory; it applies the files it is
//! given and says how to reach what they publish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use skiff_agent::session::{Capacity, SessionConfig};
use skiff_api::v1::CreateEnvironment;
use skiff_client::Client;
use skiff_server::{RaftTuning, Server, ServerConfig, Start, DEFAULT_BODY_LIMIT};
use tokio::sync::watch;

use super::agent::{engine_options_in, run_node};
use super::manifest::{self, ManifestArgs};
use super::remote::{api_error, dev_dir};
use super::wait;

/// The arguments of `skiff dev`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the control plane, the agent and the engine keep their data [default:
    /// /var/lib/skiff-dev, or SKIFF_DEV_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The address of the API (and of the agent's session with it).
    #[arg(long, value_name = "ADDR", default_value = skiff_client::DEFAULT_SERVER)]
    listen: SocketAddr,
    /// The environment the files are applied to (created if missing).
    #[arg(long = "env", value_name = "ENV", default_value = skiff_manifest::DEFAULT_ENVIRONMENT)]
    environment: String,
    #[command(flatten)]
    manifest: ManifestArgs,
}

/// Runs `skiff dev` until SIGINT or SIGTERM. Containers keep running when it stops and are
/// adopted again at the next start, as with a real agent.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let dir = args.data_dir.clone().unwrap_or_else(dev_dir);
    let loaded = if args.manifest.has_files() {
        match manifest::load(&args.manifest, &args.environment)? {
            Some(loaded) => Some(loaded),
            None => return Ok(ExitCode::FAILURE),
        }
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let config = ServerConfig {
            id: 1,
            data_dir: dir.join("server"),
            listen: args.listen,
            advertise: None,
            start: Start::Bootstrap,
            raft: RaftTuning::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            pod_cidr: skiff_server::PodCidr::default(),
            service_cidr: skiff_server::ServiceCidr::default(),
            node_grace_period: skiff_server::DEFAULT_NODE_GRACE_PERIOD,
            controllers: true,
        };
        let server = Server::start(config).await?;
        let addr = server.local_addr().to_string();
        let token_file = dir.join("server").join(skiff_server::ADMIN_TOKEN_FILE);
        let token = match server.new_admin_token() {
            Some(token) => token.to_owned(),
            None => std::fs::read_to_string(&token_file)
                .with_context(|| format!("reading the admin token in {}", token_file.display()))?
                .trim()
                .to_owned(),
        };
        eprintln!(
            "skiff dev: control plane on {addr} (data in {})",
            dir.display()
        );
        let (stop_tx, shutdown) = watch::channel(false);
        let session = SessionConfig {
            servers: vec![addr.clone()],
            token: Some(token.clone()),
            node_id: Some("dev".into()),
            name: "dev".into(),
            address: "127.0.0.1:7410".into(),
            labels: Default::default(),
            capacity: Capacity::of_this_machine()?,
            heartbeat_interval: Duration::from_secs(1),
            data_dir: Some(dir.join("agent")),
            quiet: false,
        };
        let options = engine_options_in(&dir.join("agent"), &[])?;
        let node = tokio::spawn(run_node(session, options, shutdown));
        let client = Client::new(vec![addr.clone()], Some(token)).map_err(api_error)?;
        if let Some(loaded) = loaded {
            if let Err(e) = apply(&client, &args.environment, &loaded.spec).await {
                // Stop the agent and the server cleanly (Raft's data flushed) before saying why.
                stop_tx.send_replace(true);
                let _ = server.shutdown().await;
                return Err(e);
            }
        }
        if !token_file_is_default(&dir) {
            eprintln!(
                "skiff dev: point the CLI at it with SKIFF_DEV_DIR={} (or SKIFF_SERVER={addr} \
                 and SKIFF_TOKEN from {})",
                dir.display(),
                token_file.display()
            );
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            done = node => {
                done.context("the agent panicked")??;
                anyhow::bail!("the agent stopped");
            }
        }
        eprintln!("skiff dev: stopping (containers keep running; the next start adopts them)");
        stop_tx.send_replace(true);
        server.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn token_file_is_default(dir: &std::path::Path) -> bool {
    std::env::var_os("SKIFF_DEV_DIR").is_none()
        && dir == std::path::Path::new(super::remote::DEFAULT_DEV_DIR)
}

/// Creates the environment if needed, applies the app, then waits until its tasks run,
/// saying what it waits for, and prints where its published ports answer.
async fn apply(client: &Client, env: &str, spec: &skiff_api::AppSpec) -> anyhow::Result<()> {
    let create = CreateEnvironment {
        name: env.to_owned(),
        ..Default::default()
    };
    if let Err(e) = client.create_env(&create).await {
        if e.code() != Some("revision_conflict") {
            return Err(api_error(e));
        }
    }
    let result = client
        .apply_app(env, spec, false)
        .await
        .map_err(api_error)?;
    eprint!("{}", result.diff);
    let timeout = Duration::from_secs(120);
    let applied = result.revision.map(|_| result.diff.to_revision);
    let running = wait::until_running(client, env, &spec.name, applied, timeout)
        .await
        .map_err(api_error)?;
    if !running {
        eprintln!(
            "skiff dev: still waiting for {}; `skiff ps` shows why",
            spec.name
        );
    }
    for (name, service) in &spec.services {
        for port in &service.ports {
            if let Some(published) = port.published {
                eprintln!(
                    "skiff dev: {}/{name} answers on port {published}: curl http://127.0.0.1:{published}/",
                    spec.name
                );
            }
        }
    }
    eprintln!("skiff dev: `skiff ps` lists the tasks; Ctrl-C stops the control plane and agent");
    Ok(())
}
