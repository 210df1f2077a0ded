//! `skiff validate`: load compose files as `skiff apply` would, report every problem, and show
//! the normalized app — without talking to a cluster.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use skiff_api::AppSpec;
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::manifest::{self, count, ManifestArgs};

/// The arguments of `skiff validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    manifest: ManifestArgs,
    /// The environment to validate for: its `x-skiff.environments.<ENV>` overrides apply.
    #[arg(long = "env", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    /// Print the normalized app in this format instead of a one-line summary.
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

/// How the normalized app is printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

/// Runs `skiff validate`: exit 0 when the app is valid, 1 when it is not.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(loaded) = manifest::load(&args.manifest, &args.environment)? else {
        return Ok(ExitCode::FAILURE);
    };
    print_app(&loaded.spec, args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// The app on stdout: as YAML or JSON, or as a one-line summary.
fn print_app(spec: &AppSpec, format: Option<Format>) -> anyhow::Result<()> {
    let text = match format {
        Some(Format::Json) => serde_json::to_string_pretty(spec)? + "\n",
        Some(Format::Yaml) => serde_yaml::to_string(spec)?,
        None => summary(spec) + "\n",
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")
}

/// `app web-shop (environment prod): 3 services, 2 networks, 1 volume — valid`.
fn summary(spec: &AppSpec) -> String {
    let mut parts = vec![
        count(spec.services.len(), "service"),
        count(spec.networks.len(), "network"),
        count(spec.volumes.len(), "volume"),
    ];
    // Secrets and configs only when there are some: most apps have none.
    for (n, noun) in [
        (spec.secrets.len(), "secret"),
        (spec.configs.len(), "config"),
    ] {
        if n > 0 {
            parts.push(count(n, noun));
        }
    }
    format!(
        "app {} (environment {}): {} — valid",
        spec.name,
        spec.environment,
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_with_plurals() {
        let app: AppSpec = serde_json::from_value(serde_json::json!({
            "name": "web-shop", "environment": "prod", "services": {},
            "networks": {"front": {"name": "web-shop_front"}, "back": {"name": "web-shop_back"}},
            "volumes": {"db": {"name": "web-shop_db"}},
        }))
        .unwrap();
        assert_eq!(
            summary(&app),
            "app web-shop (environment prod): 0 services, 2 networks, 1 volume — valid"
        );
    }
}
