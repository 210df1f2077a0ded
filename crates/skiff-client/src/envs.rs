//! `/v1/envs`: environments.

use reqwest::Method;
use skiff_api::v1::{CreateEnvironment, WriteResult};
use skiff_core::api::List;
use skiff_core::Record;

use crate::transport::Call;
use crate::{Client, Error};

impl Client {
    /// `POST /v1/envs`: creates an environment (409 if it exists).
    pub async fn create_env(&self, env: &CreateEnvironment) -> Result<WriteResult, Error> {
        self.call(Call::new(Method::POST, &["v1", "envs"]).json(env)?)
            .await
    }

    /// `GET /v1/envs`: the environments the token sees.
    pub async fn list_envs(&self) -> Result<List, Error> {
        self.call(Call::get(&["v1", "envs"])).await
    }

    /// `GET /v1/envs/{env}`.
    pub async fn get_env(&self, env: &str) -> Result<Record, Error> {
        self.call(Call::get(&["v1", "envs", env])).await
    }

    /// `DELETE /v1/envs/{env}`: 409 `not_empty` while apps, secrets or configs live in it.
    pub async fn delete_env(&self, env: &str) -> Result<WriteResult, Error> {
        self.call(Call::new(Method::DELETE, &["v1", "envs", env]))
            .await
    }
}
