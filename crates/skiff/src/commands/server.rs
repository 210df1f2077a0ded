//! `skiff server`: run one member of the control plane until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use skiff_server::{
    PodCidr, RaftTuning, Server, ServerConfig, ServiceCidr, Start, DEFAULT_BODY_LIMIT,
};

/// The arguments of `skiff server`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the server keeps its Raft log, state and bootstrap token.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The server's id in the cluster: unique, from 1, never reused.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// The address to listen on, for the HTTP API and Raft traffic alike.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7400")]
    listen: SocketAddr,
    /// The address other servers and clients reach this one at [default: --listen].
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Start a new one-member cluster (and print its admin token once).
    #[arg(long, conflicts_with = "join")]
    bootstrap: bool,
    /// Start a new one-member cluster holding the objects of this backup
    /// (`skiff cluster backup`); ignored when the data directory already holds a cluster.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["join", "bootstrap"])]
    restore: Option<PathBuf>,
    /// Join the cluster a member of which listens at ADDR (needs an admin token).
    #[arg(long, value_name = "ADDR")]
    join: Option<String>,
    /// The admin token for --join.
    #[arg(
        long,
        env = "SKIFF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// How often the leader sends heartbeats, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = RaftTuning::default().heartbeat_ms)]
    heartbeat_ms: u64,
    /// The shortest election timeout in milliseconds; the longest is twice that.
    #[arg(long, value_name = "MS", default_value_t = RaftTuning::default().election_timeout_ms.0)]
    election_timeout_ms: u64,
    /// Build a snapshot (and compact the log) every this many entries.
    #[arg(long, value_name = "N", default_value_t = RaftTuning::default().snapshot_every)]
    snapshot_every: u64,
    /// The range nodes' pod subnets (one /24 each) come from when they first register.
    #[arg(long, value_name = "CIDR", default_value_t = PodCidr::default())]
    pod_cidr: PodCidr,
    /// The range services' virtual IPs come from (every server of a cluster must be given
    /// the same; it must not overlap the pod CIDR).
    #[arg(long, value_name = "CIDR", default_value_t = ServiceCidr::default())]
    service_cidr: ServiceCidr,
    /// How long a node's agent may stay silent before its node is marked down and its tasks
    /// are replaced elsewhere (`500ms`, `5s`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = grace_period)]
    node_grace_period: std::time::Duration,
}

/// A grace period: a duration (`5s`) of at least 100 ms.
fn grace_period(text: &str) -> Result<std::time::Duration, String> {
    let parsed: skiff_api::Duration = text
        .parse()
        .map_err(|e| format!("{e}; write it like 5s or 500ms"))?;
    let grace = std::time::Duration::from_nanos(parsed.as_nanos());
    if grace < std::time::Duration::from_millis(100) {
        return Err(format!("{text} is too short: at least 100ms"));
    }
    Ok(grace)
}

/// Runs `skiff server`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let start = match (&args.join, args.bootstrap) {
        _ if args.restore.is_some() => Start::Restore {
            backup: args.restore.clone().expect("checked"),
        },
        (Some(addr), _) => Start::Join {
            addr: addr.clone(),
            token: args
                .token
                .clone()
                .context("--join needs an admin token: pass --token or set SKIFF_TOKEN")?,
        },
        (None, true) => Start::Bootstrap,
        (None, false) => Start::Wait,
    };
    let (pods, services) = (args.pod_cidr.net(), args.service_cidr.net());
    if pods.contains(&services.network()) || services.contains(&pods.network()) {
        anyhow::bail!(
            "--service-cidr {services} overlaps --pod-cidr {pods}: give ranges that do not overlap"
        );
    }
    let config = ServerConfig {
        id: args.id,
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        advertise: args.advertise.clone(),
        start,
        raft: RaftTuning {
            heartbeat_ms: args.heartbeat_ms,
            election_timeout_ms: (args.election_timeout_ms, args.election_timeout_ms * 2),
            snapshot_every: args.snapshot_every,
        },
        body_limit: DEFAULT_BODY_LIMIT,
        pod_cidr: args.pod_cidr,
        service_cidr: args.service_cidr,
        node_grace_period: args.node_grace_period,
        controllers: true,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServerConfig) -> anyhow::Result<ExitCode> {
    let data_dir = config.data_dir.clone();
    let server = Server::start(config).await?;
    eprintln!(
        "skiff server {} listening on {} (data in {})",
        server.control().id(),
        server.local_addr(),
        data_dir.display()
    );
    if let Some(token) = server.new_admin_token() {
        // Shown once; the file keeps it for the operator.
        println!("admin token: {token}");
        println!(
            "(also in {}, readable by root only)",
            data_dir.join(skiff_server::ADMIN_TOKEN_FILE).display()
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("skiff server: stopping");
    server.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn grace_periods_are_durations_of_at_least_100ms() {
        assert_eq!(super::grace_period("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(super::grace_period("100ms"), Ok(Duration::from_millis(100)));
        let short = super::grace_period("10ms").unwrap_err();
        assert!(short.contains("at least 100ms"), "{short}");
        let bad = super::grace_period("soon").unwrap_err();
        assert!(bad.contains("write it like 5s"), "{bad}");
    }
}
