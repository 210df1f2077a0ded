//! `skiff rollout status|history|undo APP[/SERVICE]`: how a change rolls out (the status the
//! orchestrator keeps on each service), the spec revisions an app keeps, and going back to the
//! previous one (`POST /v1/envs/{env}/apps/{app}/rollback`).

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use serde::Serialize;
use skiff_core::api::AppHistory;
use skiff_core::objects::{Rollout, Service};
use skiff_core::Object;
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::human;
use super::listing::{self, row, Format};
use super::remote::{self, RemoteArgs};

/// The arguments of `skiff rollout`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: RolloutCommand,
    /// The environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT, global = true)]
    environment: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum RolloutCommand {
    /// How the latest change of each service of the app (or of one) rolls out.
    Status {
        /// `APP` or `APP/SERVICE`.
        #[arg(value_name = "APP[/SERVICE]")]
        target: String,
        /// How to print it.
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value_t,
            value_name = "FORMAT"
        )]
        output: Format,
    },
    /// The spec revisions the app keeps, newest first (what `undo` goes back to).
    History {
        /// `APP` or `APP/SERVICE` (then the service's image in each revision).
        #[arg(value_name = "APP[/SERVICE]")]
        target: String,
        /// How to print it.
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value_t,
            value_name = "FORMAT"
        )]
        output: Format,
    },
    /// Roll back: the app to its previous revision, or one service to its last spec that ran
    /// differently (at its current replica count), as a new revision rolled out per the
    /// services' `rollback_config`.
    Undo {
        /// `APP` or `APP/SERVICE`.
        #[arg(value_name = "APP[/SERVICE]")]
        target: String,
    },
}

/// `APP` or `APP/SERVICE`.
fn parse(target: &str) -> anyhow::Result<(String, Option<String>)> {
    let (app, service) = match target.split_once('/') {
        Some((app, service)) => (app, Some(service)),
        None => (target, None),
    };
    if app.is_empty() || service == Some("") || service.is_some_and(|s| s.contains('/')) {
        bail!("{target:?}: write APP or APP/SERVICE");
    }
    Ok((app.to_owned(), service.map(str::to_owned)))
}

/// Runs `skiff rollout`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let env = args.environment.clone();
    match &args.command {
        RolloutCommand::Status { target, output } => {
            let (app, service) = parse(target)?;
            let services = remote::run(&args.remote, |client| async move {
                let list = client.list_services(&env, Some(&app)).await?;
                Ok(list
                    .items
                    .into_iter()
                    .filter_map(|r| match r.object {
                        Object::Service(s) => Some(*s),
                        _ => None,
                    })
                    .filter(|s| service.as_deref().is_none_or(|n| s.name.as_str() == n))
                    .collect::<Vec<_>>())
            })?;
            if services.is_empty() {
                bail!(
                    "no such app or service: {target} in environment {}",
                    args.environment
                );
            }
            let shown: Vec<StatusRow> = services.iter().map(StatusRow::of).collect();
            listing::print(*output, &shown, status_rows(&services, now_ms()))?;
        }
        RolloutCommand::History { target, output } => {
            let (app, service) = parse(target)?;
            let history = remote::run(&args.remote, |client| async move {
                client.app_history(&env, &app).await
            })?;
            listing::print(
                *output,
                &history,
                history_rows(&history, service.as_deref()),
            )?;
        }
        RolloutCommand::Undo { target } => {
            let (app, service) = parse(target)?;
            let shown = target.clone();
            let result = remote::run(&args.remote, |client| async move {
                client.rollback_app(&env, &app, service.as_deref()).await
            })?;
            listing::write_stdout(&result.diff.to_string())?;
            println!(
                "rolling back {shown} (revision {}); `skiff rollout status {shown}` follows it",
                result.diff.to_revision
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A service's rollout, as `-o json` prints it.
#[derive(Debug, Serialize)]
struct StatusRow<'a> {
    service: &'a str,
    spec_revision: u64,
    rollout: Option<&'a Rollout>,
}

impl<'a> StatusRow<'a> {
    fn of(service: &'a Service) -> Self {
        StatusRow {
            service: service.name.as_str(),
            spec_revision: service.spec_revision,
            rollout: service.rollout.as_ref(),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The status table: one row per service, at `now` (ms since the epoch).
fn status_rows(services: &[Service], now: u64) -> Vec<Vec<String>> {
    let mut rows = vec![row![
        "SERVICE", "REVISION", "ROLLOUT", "FROM", "TO", "UPDATED", "FAILED", "STARTED", "MESSAGE"
    ]];
    for s in services {
        let Some(r) = &s.rollout else {
            rows.push(row![
                s.name,
                s.spec_revision,
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                ""
            ]);
            continue;
        };
        let secs = (now.saturating_sub(r.started_at.0) / 1000) as i64;
        rows.push(row![
            s.name,
            s.spec_revision,
            r.state.as_str(),
            r.from_revision,
            r.to_revision,
            r.updated,
            r.failures,
            format!("{} ago", human::duration(secs)),
            r.message
        ]);
    }
    rows
}

/// The history table, newest first; with a service, its image in each revision.
fn history_rows(history: &AppHistory, service: Option<&str>) -> Vec<Vec<String>> {
    let mut rows = vec![row![
        "REVISION",
        "",
        if service.is_some() {
            "IMAGE"
        } else {
            "SERVICES"
        }
    ]];
    for (i, revision) in history.revisions.iter().enumerate() {
        let services = &revision.spec.services;
        let what = match service {
            Some(name) => services
                .get(name)
                .map_or_else(|| "(no such service)".to_owned(), |s| s.image.clone()),
            None => services
                .iter()
                .map(|(name, s)| format!("{name}={}", s.image))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let current = if i == 0 { "current" } else { "" };
        rows.push(row![revision.spec_revision, current, what]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use skiff_core::objects::{AppRevision, RolloutState, Timestamp};
    use skiff_core::Name;
    use skiff_manifest::{load, MemoryLoader, Options};

    use super::*;

    fn app_spec(image: &str) -> skiff_api::AppSpec {
        let yaml = format!("services:\n  web:\n    image: {image}\n  db:\n    image: pg\n");
        let loader = MemoryLoader::new().with("/app/compose.yaml", &yaml);
        let mut options = Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        load(&options, &loader).unwrap().spec
    }

    #[test]
    fn targets_are_an_app_and_maybe_a_service() {
        assert_eq!(parse("shop").unwrap(), ("shop".into(), None));
        assert_eq!(
            parse("shop/web").unwrap(),
            ("shop".into(), Some("web".into()))
        );
        for bad in ["", "/web", "shop/", "a/b/c"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("write APP or APP/SERVICE"), "{e}");
        }
    }

    #[test]
    fn status_rows_show_each_services_rollout() {
        let spec = app_spec("nginx:2").services.remove("web").unwrap();
        let mut rollout = Rollout::start(RolloutState::Paused, 1, 2, Timestamp(10_000));
        rollout.updated = 2;
        rollout.failures = 1;
        rollout.message = "update paused: 1 of 2 new tasks failed".into();
        let service = |name: &str, rollout| Service {
            env: Name::new("dev").unwrap(),
            app: Name::new("shop").unwrap(),
            name: Name::new(name).unwrap(),
            spec_revision: 2,
            spec: spec.clone(),
            vip: None,
            rollout,
        };
        let rows = status_rows(
            &[service("web", Some(rollout)), service("db", None)],
            40_000,
        );
        assert_eq!(
            rows[1],
            [
                "web",
                "2",
                "paused",
                "1",
                "2",
                "2",
                "1",
                "30 seconds ago",
                "update paused: 1 of 2 new tasks failed"
            ]
        );
        assert_eq!(rows[2][..3], ["db", "2", "-"]);
    }

    #[test]
    fn history_rows_are_newest_first_with_images() {
        let history = AppHistory {
            mod_revision: 9,
            revisions: vec![
                AppRevision {
                    spec_revision: 2,
                    spec: app_spec("nginx:2"),
                },
                AppRevision {
                    spec_revision: 1,
                    spec: app_spec("nginx:1"),
                },
            ],
        };
        let rows = history_rows(&history, Some("web"));
        assert_eq!(rows[1], ["2", "current", "nginx:2"]);
        assert_eq!(rows[2], ["1", "", "nginx:1"]);
        let rows = history_rows(&history, None);
        assert_eq!(rows[0][2], "SERVICES");
        assert_eq!(rows[2], ["1", "", "db=pg web=nginx:1"]);
    }
}
