//! `skiff token create|ls|rm`: API tokens.

use std::process::ExitCode;

use clap::ValueEnum;
use skiff_api::v1::CreateToken;
use skiff_core::objects::TokenScope;
use skiff_core::Object;

use super::listing::{self, row, Format};
use super::remote::{self, RemoteArgs};

/// The arguments of `skiff token`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Create a token and print it (the only time it is shown).
    Create {
        /// What it may do: admin > deploy > read.
        #[arg(long, value_enum)]
        role: Role,
        /// An environment it reaches; repeatable [default: every environment, admins only].
        #[arg(long = "env", value_name = "ENV")]
        envs: Vec<String>,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the tokens (without their secrets).
    Ls {
        /// How to print the listing.
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Format,
    },
    /// Revoke a token.
    Rm {
        /// Its id (the part after `skiff.`).
        id: String,
    },
}

/// A token's role.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Role {
    /// Everything, including tokens, environments and the cluster's membership.
    Admin,
    /// Apply and remove apps, write configs.
    Deploy,
    /// Read only.
    Read,
}

impl Role {
    /// As the API spells it.
    fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Deploy => "deploy",
            Role::Read => "read",
        }
    }
}

/// Runs `skiff token`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Create {
            role,
            envs,
            description,
        } => {
            let request = CreateToken {
                role: role.name().to_owned(),
                envs: envs.clone(),
                description: description.clone(),
            };
            let created = remote::run(&args.remote, |client| async move {
                client.create_token(&request).await
            })?;
            let scope = if envs.is_empty() {
                "every environment".to_owned()
            } else {
                format!("environments {}", envs.join(", "))
            };
            eprintln!(
                "created token {} ({} role, {scope}); it is shown only this once:",
                created.id,
                role.name()
            );
            println!("{}", created.token);
        }
        Command::Ls { output } => {
            let list = remote::run(
                &args.remote,
                |client| async move { client.list_tokens().await },
            )?;
            let mut rows = vec![row!["ID", "ROLE", "ENVS", "DESCRIPTION"]];
            for record in &list.items {
                if let Object::Token(token) = &record.object {
                    let envs = match &token.scope {
                        TokenScope::All => "*".to_owned(),
                        TokenScope::Envs(envs) => envs
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    };
                    rows.push(row![token.id, token.role.as_str(), envs, token.description]);
                }
            }
            listing::print(*output, &list.items, rows)?;
        }
        Command::Rm { id } => {
            let written = remote::run(&args.remote, |client| async move {
                client.delete_token(id).await
            })?;
            println!("revoked token {id} (revision {})", written.revision);
        }
    }
    Ok(ExitCode::SUCCESS)
}
