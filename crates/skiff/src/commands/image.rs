//! `skiff image`: the local engine's images — load, ls, inspect, rm, prune. Output follows
//! Docker's (`Loaded image: busybox:latest`, the `docker images` table) so that habits carry
//! over.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use skiff_engine::image::inspect::ImageDetails;
use skiff_engine::image::{Image, Reference};
use skiff_engine::Engine;

use super::engine_args::EngineArgs;
use super::human;

/// The arguments of `skiff image`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    engine: EngineArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load images from an OCI image layout (directory), an OCI archive or a `docker save`
    /// archive (tar, optionally gzip- or zstd-compressed).
    Load {
        /// The archive or layout directory [default: the archive piped to standard input].
        #[arg(short = 'i', long = "input", value_name = "FILE|DIR")]
        input: Option<PathBuf>,
    },
    /// Pull an image from a registry (`busybox` is docker.io/library/busybox:latest).
    Pull {
        /// Print only the image id when done (no progress).
        #[arg(short, long)]
        quiet: bool,
        /// The image reference (NAME[:TAG] or NAME@sha256:DIGEST).
        reference: String,
    },
    /// List the images.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the image ids.
        #[arg(short, long)]
        quiet: bool,
        /// The output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Show images in detail: id, names, manifest, layers, config (entrypoint, command,
    /// environment, …), OS and architecture.
    Inspect {
        /// Names or ids.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// The output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
        output: InspectFormat,
    },
    /// Remove images: a name is taken away (the image goes with its last name); an id removes
    /// the image with all its names.
    #[command(visible_alias = "remove")]
    Rm {
        /// Remove an image that has several names, or take the names of one a container uses.
        #[arg(short, long)]
        force: bool,
        /// Names or ids.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Remove the images without a name that no container uses.
    Prune {
        /// Remove every image no container uses.
        #[arg(short, long)]
        all: bool,
    },
}

/// How `skiff image ls` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

/// How `skiff image inspect` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum InspectFormat {
    Json,
}

/// Runs `skiff image`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let engine = args.engine.open(None)?;
    match &args.command {
        Command::Load { input } => load(&engine, input.as_ref()),
        Command::Pull { quiet, reference } => pull(&engine, reference, *quiet),
        Command::Ls { quiet, output } => list(&engine, *quiet, *output),
        Command::Inspect { images, output } => inspect(&engine, images, *output),
        Command::Rm { force, images } => remove(&engine, images, *force),
        Command::Prune { all } => prune(&engine, *all),
    }
}

fn load(engine: &Engine, input: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let path = match input {
        Some(path) => path.clone(),
        None if std::io::stdin().is_terminal() => {
            anyhow::bail!("no archive to load: give one with -i FILE, or pipe it in")
        }
        None => PathBuf::from("/dev/stdin"),
    };
    let images = engine.load(&path)?;
    let mut out = String::new();
    for image in images {
        if image.names.is_empty() {
            out.push_str(&format!("Loaded image ID: {}\n", image.id));
        }
        for name in &image.names {
            out.push_str(&format!("Loaded image: {}\n", name.familiar()));
        }
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn pull(engine: &Engine, reference: &str, quiet: bool) -> anyhow::Result<ExitCode> {
    let reference: skiff_engine::image::Reference = reference.parse()?;
    let image = if quiet {
        engine.pull(&reference, &skiff_engine::image::pull::NoProgress)
    } else {
        engine.pull(&reference, &crate::progress::PullBars::new())
    }?;
    if quiet {
        println!("{}", image.id);
    } else {
        println!("Pulled {} ({})", reference.familiar(), image.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(engine: &Engine, quiet: bool, format: ListFormat) -> anyhow::Result<ExitCode> {
    let images = engine.images()?;
    if quiet {
        let ids: Vec<String> = images.iter().map(|i| i.id.short().to_string()).collect();
        print(&ids.iter().map(|id| format!("{id}\n")).collect::<String>())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut listed: Vec<(Image, String)> = images
        .into_iter()
        .map(|image| {
            // A store with an unreadable config still lists; inspect says what is wrong.
            let created = engine
                .image_details(&image)
                .ok()
                .and_then(|d| d.created)
                .unwrap_or_else(|| image.stored_at.clone());
            (image, created)
        })
        .collect();
    listed.sort_by_key(|(_, created)| std::cmp::Reverse(human::unix_seconds(created)));
    match format {
        ListFormat::Json => {
            let items: Vec<serde_json::Value> = listed
                .iter()
                .map(|(image, created)| {
                    json!({
                        "id": image.id,
                        "names": image.names,
                        "manifest": image.manifest,
                        "created": created,
                        "stored_at": image.stored_at,
                        "size": image.size(),
                    })
                })
                .collect();
            print(&(serde_json::to_string_pretty(&items)? + "\n"))?;
        }
        ListFormat::Table => print(&table(&listed))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `docker images` table: one row per name, `<none>` for an image without one.
fn table(listed: &[(Image, String)]) -> String {
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
        .map(String::from)
        .to_vec()];
    for (image, created) in listed {
        let mut row = |repository: String, tag: String| {
            rows.push(vec![
                repository,
                tag,
                image.id.short().to_string(),
                human::ago(created),
                human::size(image.size()),
            ]);
        };
        if image.names.is_empty() {
            row("<none>".into(), "<none>".into());
        }
        for name in &image.names {
            let repository = Reference {
                tag: None,
                digest: None,
                ..name.clone()
            };
            let tag = name.tag.clone().unwrap_or_else(|| "<none>".into());
            row(repository.familiar(), tag);
        }
    }
    human::table(&rows)
}

fn inspect(engine: &Engine, wanted: &[String], format: InspectFormat) -> anyhow::Result<ExitCode> {
    let InspectFormat::Json = format;
    let mut found: Vec<ImageDetails> = Vec::new();
    let mut failed = false;
    for what in wanted {
        match engine.image(what).and_then(|i| engine.image_details(&i)) {
            Ok(details) => found.push(details),
            Err(e) => {
                failed = true;
                crate::report_error(&e.into());
            }
        }
    }
    print(&(serde_json::to_string_pretty(&found)? + "\n"))?;
    Ok(exit(failed))
}

fn remove(engine: &Engine, wanted: &[String], force: bool) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for what in wanted {
        match engine.remove_image(what, force) {
            Ok(report) => {
                let mut out = String::new();
                for name in &report.untagged {
                    out.push_str(&format!("Untagged: {}\n", name.familiar()));
                }
                for id in &report.deleted {
                    out.push_str(&format!("Deleted: {id}\n"));
                }
                print(&out)?;
            }
            Err(e) => {
                failed = true;
                crate::report_error(&e.into());
            }
        }
    }
    Ok(exit(failed))
}

fn prune(engine: &Engine, all: bool) -> anyhow::Result<ExitCode> {
    let report = engine.prune_images(all)?;
    let mut out = String::new();
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for name in &report.untagged {
            out.push_str(&format!("untagged: {}\n", name.familiar()));
        }
        for id in &report.deleted {
            out.push_str(&format!("deleted: {id}\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human::size(report.gc.bytes_freed)
    ));
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")
}
