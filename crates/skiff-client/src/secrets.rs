//! `/v1/envs/{env}/secrets`: payloads sealed by the server; only their metadata comes back.

use std::collections::BTreeMap;

use base64::Engine;
use reqwest::Method;
use skiff_api::v1::{PutPayload, SecretInfo, SecretList, WriteResult};
use skiff_core::Expect;

use crate::configs::precondition;
use crate::transport::Call;
use crate::{Client, Error};

impl Client {
    /// `PUT /v1/envs/{env}/secrets/{name}`: writes `data` if `expect` holds (`Absent`: create
    /// only). The server seals it; nothing reads it back.
    pub async fn put_secret(
        &self,
        env: &str,
        name: &str,
        data: &[u8],
        labels: BTreeMap<String, String>,
        expect: Expect,
    ) -> Result<WriteResult, Error> {
        let payload = PutPayload {
            data: base64::engine::general_purpose::STANDARD.encode(data),
            labels,
        };
        let call = precondition(secret_call(Method::PUT, env, name), expect).json(&payload)?;
        self.call(call).await
    }

    /// `GET /v1/envs/{env}/secrets/{name}`: its metadata.
    pub async fn get_secret(&self, env: &str, name: &str) -> Result<SecretInfo, Error> {
        self.call(secret_call(Method::GET, env, name)).await
    }

    /// `GET /v1/envs/{env}/secrets`.
    pub async fn list_secrets(&self, env: &str) -> Result<SecretList, Error> {
        self.call(Call::get(&["v1", "envs", env, "secrets"])).await
    }

    /// `DELETE /v1/envs/{env}/secrets/{name}` if `expect` holds (404 when there is none).
    pub async fn delete_secret(
        &self,
        env: &str,
        name: &str,
        expect: Expect,
    ) -> Result<WriteResult, Error> {
        let call = precondition(secret_call(Method::DELETE, env, name), expect);
        self.call(call).await
    }
}

fn secret_call(method: Method, env: &str, name: &str) -> Call {
    Call::new(method, &["v1", "envs", env, "secrets", name])
}
