//! `skiff network`: the local node's network — the VXLAN overlay to the other nodes
//! (`overlay`), the service ports (`service-ports`, node-local ingress), virtual IPs
//! (`vips`) and the isolation between containers (`isolation`) — the agent sets these —
//! and the bridge, addresses and overlay as they are (`inspect`).

use std::io::Read as _;
use std::process::ExitCode;

use clap::Subcommand;
use skiff_engine::network::isolation::{Isolation, Member};
use skiff_engine::network::overlay::{Overlay, Peer, DEFAULT_PORT, DEFAULT_VNI};
use skiff_engine::network::service::ServicePort;
use skiff_engine::network::vip::ServiceVip;
use skiff_engine::network::NetworkStatus;
use skiff_engine::Engine;

use super::engine_args::EngineArgs;
use super::human;
use super::listing::{self, or_dash, row, Format};

/// The arguments of `skiff network`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    engine: EngineArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Set this node's VXLAN overlay to exactly the given peers (none without --peer), or
    /// remove it (--remove). This node's own subnet is --subnet.
    Overlay(OverlayArgs),
    /// Set this node's service ports (node-local ingress) to exactly the JSON list in FILE
    /// (`-`: standard input; `[]` removes them all), as the agent does: each item is
    /// {"name", "protocol", "host_ip" (optional), "published", "backends": ["IP:PORT", …]}.
    ServicePorts {
        /// The file holding the list.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Set this node's service virtual IPs to exactly the JSON list in FILE (`-`: standard
    /// input; `[]` removes them all), as the agent does: each item is {"name", "vip",
    /// "backends": ["IP", …]}.
    Vips {
        /// The file holding the list.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Set this node's isolation between containers to exactly the JSON list in FILE (`-`:
    /// standard input; `[]` removes it), as the agent does: each item is a container
    /// {"address", "networks": ["ENV/NETWORK", …]}; a new connection between two listed
    /// containers passes only if they share a network.
    Isolation {
        /// The file holding the list.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// A range container addresses come from (the cluster's pod CIDR; repeatable): an
        /// address of it that is not listed is a container on no network, kept apart from the
        /// listed ones.
        #[arg(long = "pods", value_name = "CIDR")]
        pods: Vec<ipnet::Ipv4Net>,
        /// A node's own address inside those ranges (repeatable): its connections are left
        /// alone.
        #[arg(long = "node", value_name = "IP")]
        nodes: Vec<std::net::Ipv4Addr>,
    },
    /// Show the bridge, the node subnet, the container addresses and the overlay as they are.
    #[command(visible_alias = "ls")]
    Inspect {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
}

#[derive(clap::Args, Debug)]
struct OverlayArgs {
    /// This node's address on the underlay (the one the other nodes reach it at).
    #[arg(long, value_name = "ADDR", required_unless_present = "remove")]
    local: Option<std::net::Ipv4Addr>,
    /// The VXLAN network identifier, the same on every node.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_VNI)]
    vni: u32,
    /// The UDP port, the same on every node.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Another node: its underlay address and its node subnet; repeatable.
    #[arg(long = "peer", value_name = "ADDR=SUBNET")]
    peers: Vec<Peer>,
    /// Remove the overlay (the VXLAN device, and with it every peer).
    #[arg(long, conflicts_with_all = ["local", "peers"])]
    remove: bool,
    /// Print only failures.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `skiff network`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let engine = args.engine.open(None)?;
    match &args.command {
        Cmd::Overlay(o) => overlay(&engine, o),
        Cmd::ServicePorts { file } => {
            let list: Vec<ServicePort> = read_list(file, "service ports")?;
            engine.set_service_ports(&list)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Vips { file } => {
            let list: Vec<ServiceVip> = read_list(file, "virtual IPs")?;
            engine.set_service_vips(&list)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Isolation { file, pods, nodes } => {
            let members: Vec<Member> = read_list(file, "isolation members")?;
            engine.set_isolation(&Isolation {
                members,
                pods: pods.clone(),
                nodes: nodes.clone(),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Inspect { output } => inspect(&engine, *output),
    }
}

fn overlay(engine: &Engine, args: &OverlayArgs) -> anyhow::Result<ExitCode> {
    if args.remove {
        let removed = engine.remove_overlay()?;
        if !args.quiet {
            println!(
                "{}",
                if removed {
                    "overlay removed"
                } else {
                    "no overlay"
                }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let local = args.local.expect("clap requires --local without --remove");
    let overlay = Overlay {
        local,
        vni: args.vni,
        port: args.port,
        peers: args.peers.clone(),
    };
    let changes = engine.set_overlay(&overlay)?;
    if !args.quiet {
        for change in &changes {
            println!("{change}");
        }
        println!(
            "overlay: {} peer(s), {} change(s)",
            overlay.peers.len(),
            changes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON list in `file` (`-`: standard input) of `what`.
fn read_list<T: serde::de::DeserializeOwned>(
    file: &std::path::Path,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    use anyhow::Context as _;
    let text = if file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin().take(16 << 20))
            .context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{}: not a list of {what}", file.display()))
}

fn inspect(engine: &Engine, output: Format) -> anyhow::Result<ExitCode> {
    let status = engine.network_status()?;
    if output != Format::Table {
        listing::print(output, &status, Vec::new())?;
        return Ok(ExitCode::SUCCESS);
    }
    listing::write_stdout(&text(&status))?;
    Ok(ExitCode::SUCCESS)
}

/// `skiff network inspect` for people: a summary, the addresses, the peers.
fn text(s: &NetworkStatus) -> String {
    let b = &s.bridge;
    let bridge = if b.exists {
        let addresses: Vec<String> = b.addresses.iter().map(|a| a.to_string()).collect();
        format!(
            "{} ({}, mtu {})",
            b.name,
            addresses.join(" "),
            or_dash(b.mtu)
        )
    } else {
        format!(
            "{} (not created yet: made with the first container)",
            b.name
        )
    };
    let overlay = match &s.overlay {
        Some(o) => format!(
            "{} vni {} port {} local {} mtu {} mac {}{}",
            o.device,
            or_dash(o.vni),
            or_dash(o.port),
            or_dash(o.local),
            o.mtu,
            or_dash(o.mac),
            if o.up { "" } else { " (down)" }
        ),
        None => "none".to_string(),
    };
    let mut summary = vec![
        row!["bridge", bridge],
        row!["subnet", s.subnet],
        row!["addresses", format!("{} allocated", s.allocations.len())],
        row!["overlay", overlay],
    ];
    if s.allocated_subnet.is_some_and(|a| a != s.subnet) {
        summary.push(row![
            "note",
            format!(
                "addresses were given in {} (containers keep them until removed)",
                or_dash(s.allocated_subnet)
            )
        ]);
    }
    let mut out = human::table(&summary);
    if !s.allocations.is_empty() {
        let mut rows = vec![row!["ADDRESS", "CONTAINER"]];
        for (ip, id) in &s.allocations {
            rows.push(row![ip, id.get(..12).unwrap_or(id)]);
        }
        out.push('\n');
        out.push_str(&human::table(&rows));
    }
    if let Some(o) = s.overlay.as_ref().filter(|o| !o.peers.is_empty()) {
        let mut rows = vec![row!["PEER", "SUBNET", "VTEP", "MAC"]];
        for p in &o.peers {
            rows.push(row![
                or_dash(p.address),
                p.subnet,
                or_dash(p.vtep),
                or_dash(p.mac)
            ]);
        }
        out.push('\n');
        out.push_str(&human::table(&rows));
    }
    out
}
