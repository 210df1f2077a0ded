//! `skiff secret create|ls|rm` and `skiff config create|ls|rm`: the payloads of an environment
//! that services declare under `secrets:` and `configs:`. A secret's payload is never shown
//! again once created; `ls` shows its name, size and labels.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use skiff_core::{Expect, Object};
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::listing::{self, row, Format};
use super::remote::{self, RemoteArgs};

/// Which of the two a command works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `skiff secret`.
    Secret,
    /// `skiff config`.
    Config,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
}

/// The arguments of `skiff secret` and `skiff config`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// The environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT, global = true)]
    environment: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Create it from a file, or from standard input with `-`; fails if it exists.
    Create {
        /// Its name: lowercase letters, digits and `-`.
        name: String,
        /// The file holding the payload, or `-` for standard input.
        file: PathBuf,
        /// A label, `key=value`; repeatable.
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
        labels: Vec<(String, String)>,
    },
    /// List them (a secret's payload is never shown).
    Ls {
        /// How to print the listing.
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Format,
    },
    /// Remove one.
    Rm {
        /// Its name.
        name: String,
    },
}

/// Parses `key=value`.
fn label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not key=value")),
    }
}

/// The payload in `file`, or on standard input for `-`.
fn read_payload(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the payload from standard input")?;
    } else {
        data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    Ok(data)
}

/// Runs `skiff secret` (`kind` = Secret) or `skiff config`.
pub fn run(kind: Kind, args: &Args) -> anyhow::Result<ExitCode> {
    let env = args.environment.as_str();
    match &args.command {
        Command::Create { name, file, labels } => {
            let data = read_payload(file)?;
            let labels: BTreeMap<_, _> = labels.iter().cloned().collect();
            let written = remote::run(&args.remote, |client| async move {
                match kind {
                    Kind::Secret => {
                        client
                            .put_secret(env, name, &data, labels, Expect::Absent)
                            .await
                    }
                    Kind::Config => {
                        client
                            .put_config(env, name, &data, labels, Expect::Absent)
                            .await
                    }
                }
            })?;
            println!(
                "created {} {env}/{name} (revision {})",
                kind.word(),
                written.revision
            );
        }
        Command::Ls { output } => list(kind, env, *output, &args.remote)?,
        Command::Rm { name } => {
            let written = remote::run(&args.remote, |client| async move {
                match kind {
                    Kind::Secret => client.delete_secret(env, name, Expect::Any).await,
                    Kind::Config => client.delete_config(env, name, Expect::Any).await,
                }
            })?;
            println!(
                "removed {} {env}/{name} (revision {})",
                kind.word(),
                written.revision
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn labels_cell(labels: &BTreeMap<String, String>) -> String {
    let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.join(",")
    }
}

fn list(kind: Kind, env: &str, output: Format, remote_args: &RemoteArgs) -> anyhow::Result<()> {
    let mut rows = vec![row!["NAME", "SIZE", "LABELS", "REVISION"]];
    match kind {
        Kind::Secret => {
            let list = remote::run(remote_args, |client| async move {
                client.list_secrets(env).await
            })?;
            for s in &list.items {
                rows.push(row![s.name, s.size, labels_cell(&s.labels), s.mod_revision]);
            }
            listing::print(output, &list.items, rows)
        }
        Kind::Config => {
            let list = remote::run(remote_args, |client| async move {
                client.list_configs(env).await
            })?;
            for record in &list.items {
                if let Object::Config(c) = &record.object {
                    let size = c.data.len();
                    rows.push(row![
                        c.name,
                        size,
                        labels_cell(&c.labels),
                        record.mod_revision
                    ]);
                }
            }
            listing::print(output, &list.items, rows)
        }
    }
}
