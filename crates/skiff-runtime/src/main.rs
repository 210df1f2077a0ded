//! `skiff-runtime`: a runc-compatible command line over the skiff-runtime library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use skiff_runtime::{parse_signal, CreateOptions, ExecOptions, Runtime};

#[derive(Parser, Debug)]
#[command(
    name = "skiff-runtime",
    version,
    about = "An OCI container runtime (runc-compatible command line)"
)]
struct Cli {
    /// Directory for the containers' state.
    #[arg(long, global = true, default_value = skiff_runtime::state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Accepted for compatibility; has no effect.
    #[arg(long, global = true)]
    debug: bool,
    /// Not supported: cgroups are managed through cgroupfs.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
struct BundleArgs {
    /// The bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Use chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for compatibility (no session keyring is created).
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass N extra descriptors (3..3+N) to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
}

impl BundleArgs {
    fn options(self) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle,
            pid_file: self.pid_file,
            console_socket: self.console_socket,
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create {
        #[command(flatten)]
        bundle: BundleArgs,
        /// Container id.
        id: String,
    },
    /// Start a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Print a container's state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal to a container's process.
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a stopped container.
    Delete {
        /// Kill the container first if it is still running.
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Create and start a container, wait for it, and delete it.
    Run {
        #[command(flatten)]
        bundle: BundleArgs,
        /// Return once the container runs.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        /// Container id.
        id: String,
    },
    /// Run a new process inside a running container.
    Exec {
        /// A JSON file with the process (OCI `process` object).
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Return once the process runs.
        #[arg(short, long)]
        detach: bool,
        /// Write the process's pid to this file.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the pty master (with --tty).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Allocate a terminal.
        #[arg(short, long)]
        tty: bool,
        /// Working directory inside the container.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Extra environment variables (NAME=value).
        #[arg(short, long)]
        env: Vec<String>,
        /// UID[:GID] to run as.
        #[arg(short, long)]
        user: Option<String>,
        /// Pass N extra descriptors (3..3+N) to the process.
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        /// Container id.
        id: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List containers.
    List {
        /// Output format.
        #[arg(short, long, default_value = "table")]
        format: String,
    },
    /// Write a default config.json for a bundle.
    Spec {
        /// The bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = cli.log.clone();
    let format = cli.log_format;
    match run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            report(&format!("{e:#}"), log, format);
            ExitCode::from(1)
        }
    }
}

fn report(message: &str, log: Option<PathBuf>, format: LogFormat) {
    eprintln!("skiff-runtime: {message}");
    let Some(path) = log else { return };
    let line = match format {
        LogFormat::Text => format!("level=error msg={message:?}\n"),
        LogFormat::Json => {
            let time = skiff_runtime::state::now_rfc3339();
            format!(
                "{}\n",
                serde_json::json!({"level": "error", "msg": message, "time": time})
            )
        }
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    if cli.systemd_cgroup {
        anyhow::bail!("--systemd-cgroup is not supported: skiff-runtime manages cgroupfs directly");
    }
    let runtime = Runtime::new(&cli.root);
    match cli.command {
        Command::Create { bundle, id } => {
            runtime.create(&id, &bundle.options())?;
        }
        Command::Start { id } => runtime.start(&id)?,
        Command::State { id } => {
            println!("{}", serde_json::to_string_pretty(&runtime.state(&id)?)?);
        }
        Command::Kill { all, id, signal } => runtime.kill(&id, parse_signal(&signal)?, all)?,
        Command::Delete { force, id } => runtime.delete(&id, force)?,
        Command::Run {
            bundle,
            detach,
            keep,
            id,
        } => {
            return Ok(runtime.run(&id, &bundle.options(), detach, keep)?);
        }
        Command::Exec {
            process,
            detach,
            pid_file,
            console_socket,
            tty,
            cwd,
            env,
            user,
            preserve_fds,
            id,
            args,
        } => {
            let process = match process {
                Some(path) => skiff_runtime::spec::load_process(&path)?,
                None => {
                    if args.is_empty() {
                        anyhow::bail!("exec needs a command (after the id) or --process FILE");
                    }
                    let mut p = runtime.exec_process(&id, args)?;
                    p.set_terminal(Some(tty));
                    if let Some(cwd) = cwd {
                        p.set_cwd(cwd);
                    }
                    let mut all_env = p.env().clone().unwrap_or_default();
                    all_env.extend(env);
                    p.set_env(Some(all_env));
                    if let Some(user) = user {
                        let (uid, gid) = parse_user(&user)?;
                        p.user_mut().set_uid(uid);
                        p.user_mut().set_gid(gid);
                    }
                    p
                }
            };
            let opts = ExecOptions {
                detach,
                pid_file,
                console_socket,
                preserve_fds,
            };
            return Ok(runtime.exec(&id, &process, &opts)?);
        }
        Command::List { format } => {
            let states = runtime.list()?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&states)?);
            } else {
                println!(
                    "{:<24} {:<8} {:<10} {:<32} CREATED",
                    "ID", "PID", "STATUS", "BUNDLE"
                );
                for s in states {
                    println!(
                        "{:<24} {:<8} {:<10} {:<32} {}",
                        s.id,
                        s.pid,
                        s.status,
                        s.bundle.display(),
                        s.created
                    );
                }
            }
        }
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("{} exists; remove it first", path.display());
            }
            std::fs::write(&path, skiff_runtime::spec::EXAMPLE)?;
        }
    }
    Ok(0)
}

fn parse_user(text: &str) -> anyhow::Result<(u32, u32)> {
    let (uid, gid) = text.split_once(':').unwrap_or((text, "0"));
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| anyhow::anyhow!("--user {text:?}: use numeric UID[:GID]"))
    };
    Ok((parse(uid)?, parse(gid)?))
}
