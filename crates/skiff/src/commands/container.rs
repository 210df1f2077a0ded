//! `skiff container`: run and manage containers on the local engine, as `docker run`/`ps`/
//! `logs`/`exec`/`stop`/`rm` do.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use skiff_api::{ByteSize, Cpus};
use skiff_engine::container::exec::ExecConfig;
use skiff_engine::container::logs::{Record, Stream};
use skiff_engine::container::{ContainerConfig, ContainerInfo, MountConfig, NetworkMode, Status};
use skiff_engine::Engine;
use skiff_engine::Signal;

use super::engine_args::EngineArgs;
use super::human;

/// The arguments of `skiff container`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    engine: EngineArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container from an image and start it.
    Run(RunArgs),
    /// Create a container without starting it; prints its id.
    Create(CreateArgs),
    /// Start created or exited containers.
    Start {
        /// Containers (name or id).
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers (running ones; all with -a).
    #[command(alias = "ps")]
    Ls {
        /// Show all containers, not only running ones.
        #[arg(short, long)]
        all: bool,
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Show containers in detail, as JSON.
    Inspect {
        /// Containers (name or id).
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Show a container's output.
    Logs {
        /// Keep following new output until the container ends.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        /// Prefix each line with its time.
        #[arg(short, long)]
        timestamps: bool,
        /// The container (name or id).
        container: String,
    },
    /// Run a command in a running container.
    Exec {
        /// Set an environment variable (KEY=VALUE); repeatable.
        #[arg(short, long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Run as USER[:GROUP] (names or numbers, looked up in the container).
        #[arg(short, long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short, long)]
        workdir: Option<String>,
        /// The container (name or id).
        container: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Stop running containers: their stop signal, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait before SIGKILL [default: the container's, else 10].
        #[arg(short, long, value_name = "SECONDS")]
        time: Option<u64>,
        /// Containers (name or id).
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to running containers.
    Kill {
        /// The signal (name or number).
        #[arg(short, long, default_value = "SIGKILL")]
        signal: String,
        /// Containers (name or id).
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill running containers first.
        #[arg(short, long)]
        force: bool,
        /// Containers (name or id).
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Wait for containers to end; prints their exit codes.
    Wait {
        /// Containers (name or id).
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Remove the container when it ends.
    #[arg(long)]
    rm: bool,
    /// Start in the background and print the id.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// A name for the container.
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Memory limit (e.g. 256m, 1g).
    #[arg(short, long)]
    memory: Option<ByteSize>,
    /// CPU limit (e.g. 0.5, 2).
    #[arg(long)]
    cpus: Option<Cpus>,
    /// Most processes in the container.
    #[arg(long, value_name = "N")]
    pids_limit: Option<i64>,
    /// A volume (NAME:/path[:ro]) or bind mount (/host/path:/path[:ro]); repeatable.
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    volumes: Vec<String>,
    /// A tmpfs mount (/path[:size=64m,mode=1777]); repeatable.
    #[arg(long, value_name = "DST[:OPTIONS]")]
    tmpfs: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    read_only: bool,
    /// Run as USER[:GROUP] (names or numbers).
    #[arg(short, long)]
    user: Option<String>,
    /// Add a capability to Docker's default set (NET_ADMIN, CAP_SYS_TIME, ALL); repeatable.
    #[arg(long, value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop a capability from the default set (ALL drops every one); repeatable.
    #[arg(long, value_name = "CAP")]
    cap_drop: Vec<String>,
    /// The container's host name [default: the first 12 characters of its id].
    #[arg(long)]
    hostname: Option<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Replace the image's entrypoint ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// The OCI runtime: skiff (built in) or a runc-compatible binary such as runc.
    #[arg(long)]
    runtime: Option<String>,
    /// Network: none (own namespace with loopback only), bridge (own namespace on the node's
    /// bridge, with an address from the node subnet) or host.
    #[arg(long, value_enum, default_value_t = Network::None)]
    network: Network,
    /// Publish a container port on the node (bridge network): HOST:CONTAINER,
    /// IP:HOST:CONTAINER, ranges of the same length (8080-8082:80-82), /tcp or /udp;
    /// repeatable.
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:]HOST:CONTAINER[/PROTO]"
    )]
    publish: Vec<String>,
    /// Signal sent by stop.
    #[arg(long)]
    stop_signal: Option<String>,
    /// Seconds stop waits before SIGKILL.
    #[arg(long, value_name = "SECONDS")]
    stop_timeout: Option<u64>,
    /// A label KEY=VALUE; repeatable.
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// The image.
    image: String,
    /// The command and its arguments (replacing the image's Cmd).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Network {
    None,
    Bridge,
    Host,
}

/// Runs `skiff container`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let runtime = match &args.command {
        Cmd::Run(r) => r.create.runtime.as_deref(),
        Cmd::Create(c) => c.runtime.as_deref(),
        _ => None,
    };
    let engine = args.engine.open(runtime)?;
    match &args.command {
        Cmd::Run(r) => run_container(&engine, r),
        Cmd::Create(c) => {
            let info = engine.create_container(config(c, false)?)?;
            println!("{}", info.record.id);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Start { containers } => each(containers, |c| {
            drop(engine.start_container(c)?);
            println!("{c}");
            Ok(())
        }),
        Cmd::Ls { all, quiet, output } => list(&engine, *all, *quiet, *output),
        Cmd::Inspect { containers } => {
            let infos = containers
                .iter()
                .map(|c| engine.container(c))
                .collect::<Result<Vec<_>, _>>()?;
            println!("{}", serde_json::to_string_pretty(&infos)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => logs(&engine, container, *follow, *tail, *timestamps),
        Cmd::Exec {
            env,
            user,
            workdir,
            container,
            command,
        } => {
            let exec = ExecConfig {
                args: command.clone(),
                env: env.clone(),
                user: user.clone(),
                workdir: workdir.clone(),
            };
            let status = engine
                .exec_command(container, &exec)?
                .status()
                .context("running the exec helper")?;
            Ok(exit_code(status.code().unwrap_or(255)))
        }
        Cmd::Stop { time, containers } => each(containers, |c| {
            engine.stop_container(c, time.map(Duration::from_secs))?;
            println!("{c}");
            Ok(())
        }),
        Cmd::Kill { signal, containers } => {
            let sig = skiff_engine::parse_signal(signal)?;
            each(containers, |c| {
                engine.kill_container(c, sig)?;
                println!("{c}");
                Ok(())
            })
        }
        Cmd::Rm { force, containers } => each(containers, |c| {
            engine.remove_container(c, *force)?;
            println!("{c}");
            Ok(())
        }),
        Cmd::Wait { containers } => each(containers, |c| {
            let exit = engine.wait_container(c, None)?;
            println!("{}", exit.exit_code);
            Ok(())
        }),
    }
}

/// Runs `f` for each container, reporting each failure; fails if any did.
fn each(
    containers: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for c in containers {
        if let Err(e) = f(c) {
            crate::report_error(&e);
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_container(engine: &Engine, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = config(&args.create, args.rm)?;
    let info = engine.create_container(config)?;
    let id = info.record.id.clone();
    let attached = match engine.start_container(&id) {
        Ok(a) => a,
        Err(e) => {
            if args.rm {
                let _ = engine.remove_container(&id, true);
            }
            if let Some(code) = exec_failure_code(&e) {
                crate::report_error(&e.into());
                return Ok(ExitCode::from(code));
            }
            return Err(e.into());
        }
    };
    if args.detach {
        drop(attached);
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    // As `docker run` does, signals to this command go to the container.
    let forwarded = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ];
    let exit = attached.wait_forwarding(
        &mut |stream: Stream, data: &[u8]| {
            let _ = match stream {
                Stream::Stdout => {
                    let mut out = stdout.lock();
                    out.write_all(data).and_then(|_| out.flush())
                }
                Stream::Stderr => stderr.lock().write_all(data),
            };
        },
        &forwarded,
    );
    if args.rm {
        engine
            .remove_container(&id, true)
            .with_context(|| format!("removing container {id}"))?;
    }
    let exit = exit?;
    if exit.oom_killed {
        eprintln!(
            "skiff: container {} was killed by the OOM killer",
            &id[..12]
        );
    }
    Ok(exit_code(exit.exit_code))
}

/// The exit code `docker run` gives when the container's program cannot be run: 127 when it
/// is not there, 126 when it cannot be executed (as a shell does).
fn exec_failure_code(e: &skiff_engine::Error) -> Option<u8> {
    use skiff_engine::container::{ContainerError, StartFailure};
    let skiff_engine::Error::Container(c) = e else {
        return None;
    };
    match &**c {
        ContainerError::StartFailed { cause, .. } => match cause {
            StartFailure::ProgramNotFound => Some(127),
            StartFailure::ProgramNotExecutable => Some(126),
            StartFailure::Other => None,
        },
        _ => None,
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}

fn config(args: &CreateArgs, auto_remove: bool) -> anyhow::Result<ContainerConfig> {
    let mut mounts = Vec::new();
    for v in &args.volumes {
        mounts.push(parse_volume(v)?);
    }
    for t in &args.tmpfs {
        mounts.push(parse_tmpfs(t)?);
    }
    let mut labels = std::collections::BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    for e in &args.env {
        if e.split('=').next().unwrap_or("").is_empty() {
            bail!("-e {e:?}: expected KEY=VALUE");
        }
    }
    let entrypoint = args.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            Vec::new()
        } else {
            vec![e.clone()]
        }
    });
    Ok(ContainerConfig {
        name: args.name.clone(),
        image: args.image.clone(),
        entrypoint,
        cmd: (!args.command.is_empty()).then(|| args.command.clone()),
        env: args.env.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        mounts,
        read_only: args.read_only,
        resources: skiff_engine::container::Resources {
            memory: args.memory.map(|m| m.0),
            memory_reservation: None,
            // 0 means no limit, as in Docker.
            millicpus: args.cpus.map(|c| c.millis()).filter(|&m| m > 0),
            pids: args.pids_limit,
        },
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        labels,
        network: match args.network {
            Network::None => NetworkMode::None,
            Network::Host => NetworkMode::Host,
            Network::Bridge => NetworkMode::Bridge,
        },
        ports: super::publish::parse_all(&args.publish)?,
        auto_remove,
        runtime: args.runtime.clone(),
        ..Default::default()
    })
}

/// `NAME:/dst[:ro|rw]` (a named volume) or `/src:/dst[:ro|rw]` (a bind mount).
fn parse_volume(text: &str) -> anyhow::Result<MountConfig> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, m] => (*s, *t, Some(*m)),
        _ => bail!("-v {text:?}: expected SOURCE:TARGET[:ro]"),
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(other) => bail!("-v {text:?}: mode {other:?} is not ro or rw"),
    };
    if source.is_empty() || target.is_empty() {
        bail!("-v {text:?}: expected SOURCE:TARGET[:ro]");
    }
    if source.starts_with('/') {
        Ok(MountConfig::Bind {
            source: PathBuf::from(source),
            target: target.to_string(),
            read_only,
        })
    } else if source.starts_with('.') {
        bail!("-v {text:?}: a bind mount needs an absolute host path")
    } else {
        Ok(MountConfig::Volume {
            name: source.to_string(),
            target: target.to_string(),
            read_only,
        })
    }
}

/// `/dst[:size=64m,mode=1777]`.
fn parse_tmpfs(text: &str) -> anyhow::Result<MountConfig> {
    let (target, opts) = text.split_once(':').unwrap_or((text, ""));
    let mut size = None;
    let mut mode = None;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => {
                size = Some(
                    v.parse::<ByteSize>()
                        .map_err(|e| anyhow::anyhow!("--tmpfs {text:?}: size: {e}"))?
                        .0,
                )
            }
            Some(("mode", v)) => {
                mode =
                    Some(u32::from_str_radix(v, 8).map_err(|_| {
                        anyhow::anyhow!("--tmpfs {text:?}: mode {v:?} is not octal")
                    })?)
            }
            _ => bail!("--tmpfs {text:?}: option {opt:?} is not size=… or mode=…"),
        }
    }
    Ok(MountConfig::Tmpfs {
        target: target.to_string(),
        size,
        mode,
    })
}

fn list(engine: &Engine, all: bool, quiet: bool, output: Format) -> anyhow::Result<ExitCode> {
    let infos: Vec<ContainerInfo> = engine
        .containers()?
        .into_iter()
        .filter(|i| all || i.status == Status::Running)
        .collect();
    if quiet {
        for i in &infos {
            println!("{}", &i.record.id[..12]);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Format::Json = output {
        println!("{}", serde_json::to_string_pretty(&infos)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    for i in &infos {
        let command = i.record.config.cmd.clone().unwrap_or_default().join(" ");
        // As `docker ps` says it.
        let status = match (&i.status, &i.exit, &i.shim) {
            (Status::Exited, Some(e), _) => {
                format!("Exited ({}) {}", e.exit_code, human::ago(&e.finished_at))
            }
            (Status::Running, _, Some(shim)) => {
                format!(
                    "Up {}",
                    human::ago(&shim.started_at).trim_end_matches(" ago")
                )
            }
            (Status::Created, _, _) => "Created".into(),
            (s, _, _) => s.to_string(),
        };
        rows.push(vec![
            i.record.id[..12].to_string(),
            truncate(&i.record.image_name, 28),
            format!("\"{}\"", truncate(&command, 22)),
            human::ago(&i.record.created_at),
            status,
            i.record.name.clone(),
        ]);
    }
    print!("{}", human::table(&rows));
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…")
    }
}

fn logs(
    engine: &Engine,
    container: &str,
    follow: bool,
    tail: Option<usize>,
    timestamps: bool,
) -> anyhow::Result<ExitCode> {
    let (records, mut follower) = engine.container_logs(container, tail)?;
    let print = |r: &Record| {
        let line = if timestamps {
            format!("{} {}", r.time, r.log)
        } else {
            r.log.clone()
        };
        let _ = match r.stream {
            Stream::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Stream::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
        };
    };
    records.iter().for_each(print);
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let running = engine.container(container)?.status == Status::Running;
        follower.poll()?.iter().for_each(print);
        if !running {
            // One more read: what was written between the last poll and the end.
            follower.poll()?.iter().for_each(print);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_named_or_bound_by_their_source() {
        assert_eq!(
            parse_volume("data:/var/data").unwrap(),
            MountConfig::Volume {
                name: "data".into(),
                target: "/var/data".into(),
                read_only: false
            }
        );
        assert_eq!(
            parse_volume("/srv/www:/www:ro").unwrap(),
            MountConfig::Bind {
                source: "/srv/www".into(),
                target: "/www".into(),
                read_only: true
            }
        );
        for bad in ["data", "data:/x:rx", ":/x", "data:", "./rel:/x", "a:b:c:d"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        let err = parse_volume("./rel:/x").unwrap_err().to_string();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn tmpfs_options_are_size_and_octal_mode() {
        assert_eq!(
            parse_tmpfs("/scratch:size=64m,mode=1770").unwrap(),
            MountConfig::Tmpfs {
                target: "/scratch".into(),
                size: Some(64 << 20),
                mode: Some(0o1770)
            }
        );
        assert_eq!(
            parse_tmpfs("/t").unwrap(),
            MountConfig::Tmpfs {
                target: "/t".into(),
                size: None,
                mode: None
            }
        );
        for bad in ["/t:size=lots", "/t:mode=999", "/t:uid=0"] {
            assert!(parse_tmpfs(bad).is_err(), "{bad}");
        }
    }
}
