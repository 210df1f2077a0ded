//! `/v1/envs/{env}/apps` and the services under them.

use reqwest::Method;
use skiff_api::v1::{RollbackRequest, ScaleRequest, WriteResult};
use skiff_api::AppSpec;
use skiff_core::api::{AppHistory, ApplyResult, List};
use skiff_core::Record;

use crate::transport::Call;
use crate::{Client, Error};

impl Client {
    /// `POST /v1/envs/{env}/apps[?dry_run=true]` with a normalized app (as `skiff validate`
    /// loads it): the diff, and the revision it was written at unless `dry_run` or nothing
    /// changed. A refused spec is a 400 `invalid_manifest` ([`Error::problems`]).
    pub async fn apply_app(
        &self,
        env: &str,
        spec: &AppSpec,
        dry_run: bool,
    ) -> Result<ApplyResult, Error> {
        let call = apply_call(env, dry_run).json(spec)?;
        self.call(call).await
    }

    /// As [`Client::apply_app`], with a compose file sent as YAML for the server to load (no
    /// includes nor env files: those are read where the files are).
    pub async fn apply_compose(
        &self,
        env: &str,
        yaml: impl Into<String>,
        dry_run: bool,
    ) -> Result<ApplyResult, Error> {
        let call = apply_call(env, dry_run).body("application/yaml", yaml.into().into_bytes());
        self.call(call).await
    }

    /// `GET /v1/envs/{env}/apps`.
    pub async fn list_apps(&self, env: &str) -> Result<List, Error> {
        self.call(Call::get(&["v1", "envs", env, "apps"])).await
    }

    /// `GET /v1/envs/{env}/apps/{app}`.
    pub async fn get_app(&self, env: &str, app: &str) -> Result<Record, Error> {
        self.call(Call::get(&["v1", "envs", env, "apps", app]))
            .await
    }

    /// `DELETE /v1/envs/{env}/apps/{app}`: the app, its services and their tasks.
    pub async fn delete_app(&self, env: &str, app: &str) -> Result<WriteResult, Error> {
        self.call(Call::new(Method::DELETE, &["v1", "envs", env, "apps", app]))
            .await
    }

    /// `GET /v1/envs/{env}/apps/{app}/history`: the current spec, then the earlier ones kept.
    pub async fn app_history(&self, env: &str, app: &str) -> Result<AppHistory, Error> {
        self.call(Call::get(&["v1", "envs", env, "apps", app, "history"]))
            .await
    }

    /// `GET /v1/envs/{env}/services[?app=APP]`.
    pub async fn list_services(&self, env: &str, app: Option<&str>) -> Result<List, Error> {
        let mut call = Call::get(&["v1", "envs", env, "services"]);
        if let Some(app) = app {
            call = call.query("app", app);
        }
        self.call(call).await
    }

    /// `GET /v1/envs/{env}/apps/{app}/services/{service}`.
    pub async fn get_service(&self, env: &str, app: &str, service: &str) -> Result<Record, Error> {
        let path = ["v1", "envs", env, "apps", app, "services", service];
        self.call(Call::get(&path)).await
    }

    /// `POST /v1/envs/{env}/apps/{app}/services/{service}/scale`: a new app revision in
    /// which the service runs `replicas` tasks (`revision` is `None` when it already did).
    pub async fn scale_service(
        &self,
        env: &str,
        app: &str,
        service: &str,
        replicas: u32,
    ) -> Result<ApplyResult, Error> {
        let path = ["v1", "envs", env, "apps", app, "services", service, "scale"];
        let call = Call::new(Method::POST, &path)
            .json(&ScaleRequest { replicas })?
            .idempotent();
        self.call(call).await
    }
}

impl Client {
    /// `POST /v1/envs/{env}/apps/{app}/rollback`: a new app revision restoring an earlier
    /// spec, of `service` alone or of the whole app. Not retried once sent: undoing twice
    /// goes back and forth.
    pub async fn rollback_app(
        &self,
        env: &str,
        app: &str,
        service: Option<&str>,
    ) -> Result<ApplyResult, Error> {
        let path = ["v1", "envs", env, "apps", app, "rollback"];
        let request = RollbackRequest {
            service: service.map(str::to_owned),
        };
        self.call(Call::new(Method::POST, &path).json(&request)?)
            .await
    }
}

/// An apply: idempotent, since applying the same app again changes nothing.
fn apply_call(env: &str, dry_run: bool) -> Call {
    let call = Call::new(Method::POST, &["v1", "envs", env, "apps"]).idempotent();
    if dry_run {
        call.query("dry_run", "true")
    } else {
        call
    }
}
