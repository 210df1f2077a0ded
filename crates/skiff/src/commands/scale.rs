//! `skiff scale [APP/]SVC=N…`: set replicated services' task counts (a new app revision each,
//! as `docker service scale` does; the running tasks stay).

use std::process::ExitCode;

use anyhow::{bail, Context};
use skiff_core::Object;
use skiff_manifest::DEFAULT_ENVIRONMENT;

use super::remote::{api_error, RemoteArgs};

/// The arguments of `skiff scale`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `SERVICE=N`, or `APP/SERVICE=N` when several apps have a service of that name.
    #[arg(required = true, value_name = "[APP/]SERVICE=N")]
    targets: Vec<String>,
    /// The environment.
    #[arg(long = "env", env = "SKIFF_ENV", value_name = "ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// One `[APP/]SERVICE=N`.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    app: Option<String>,
    service: String,
    replicas: u32,
}

fn parse(arg: &str) -> anyhow::Result<Target> {
    let (name, count) = arg
        .split_once('=')
        .with_context(|| format!("{arg:?}: write SERVICE=N or APP/SERVICE=N"))?;
    let replicas = count
        .parse()
        .with_context(|| format!("{arg:?}: {count:?} is not a number of replicas"))?;
    let (app, service) = match name.split_once('/') {
        Some((app, service)) => (Some(app.to_owned()), service),
        None => (None, name),
    };
    if service.is_empty() || app.as_deref() == Some("") {
        bail!("{arg:?}: write SERVICE=N or APP/SERVICE=N");
    }
    Ok(Target {
        app,
        service: service.to_owned(),
        replicas,
    })
}

/// Runs `skiff scale`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let targets = args
        .targets
        .iter()
        .map(|t| parse(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let env = args.environment.as_str();
    let client = args.remote.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        for target in &targets {
            let app = match &target.app {
                Some(app) => app.clone(),
                None => app_of(&client, env, &target.service).await?,
            };
            let result = client
                .scale_service(env, &app, &target.service, target.replicas)
                .await
                .map_err(api_error)?;
            match result.revision {
                Some(r) => println!(
                    "scaled {app}/{} to {} (revision {r})",
                    target.service, target.replicas
                ),
                None => println!(
                    "{app}/{} already runs {} replicas",
                    target.service, target.replicas
                ),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The app of the environment holding a service named `service`, when exactly one does.
async fn app_of(client: &skiff_client::Client, env: &str, service: &str) -> anyhow::Result<String> {
    let list = client.list_services(env, None).await.map_err(api_error)?;
    let apps: Vec<String> = list
        .items
        .iter()
        .filter_map(|r| match &r.object {
            Object::Service(s) if s.name.as_str() == service => Some(s.app.to_string()),
            _ => None,
        })
        .collect();
    match apps.as_slice() {
        [app] => Ok(app.clone()),
        [] => bail!("no app of environment {env} has a service named {service}"),
        many => bail!(
            "apps {} of environment {env} each have a service named {service}: write APP/{service}=N",
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_an_optional_app_a_service_and_a_count() {
        assert_eq!(
            parse("web=3").unwrap(),
            Target {
                app: None,
                service: "web".into(),
                replicas: 3
            }
        );
        assert_eq!(
            parse("shop/web=0").unwrap(),
            Target {
                app: Some("shop".into()),
                service: "web".into(),
                replicas: 0
            }
        );
        for bad in ["web", "web=x", "web=-1", "=3", "/web=3", "shop/=3"] {
            let e = format!("{:#}", parse(bad).unwrap_err());
            assert!(e.starts_with(&format!("{bad:?}")), "{e}");
        }
    }
}
