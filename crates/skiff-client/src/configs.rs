//! `/v1/envs/{env}/configs`: small payloads, written with a precondition.

use std::collections::BTreeMap;

use base64::Engine;
use reqwest::header::{HeaderValue, IF_MATCH, IF_NONE_MATCH};
use reqwest::Method;
use skiff_api::v1::{PutPayload, WriteResult};
use skiff_core::api::List;
use skiff_core::{Expect, Record};

use crate::transport::Call;
use crate::{Client, Error};

impl Client {
    /// `PUT /v1/envs/{env}/configs/{name}`: writes `data` if `expect` holds — `Absent` to
    /// create only (`If-None-Match: *`), `Revision(n)` to replace exactly revision `n`
    /// (`If-Match`); a failed precondition is a 409 `revision_conflict`.
    pub async fn put_config(
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
        let call = precondition(config_call(Method::PUT, env, name), expect).json(&payload)?;
        self.call(call).await
    }

    /// `GET /v1/envs/{env}/configs/{name}`.
    pub async fn get_config(&self, env: &str, name: &str) -> Result<Record, Error> {
        self.call(config_call(Method::GET, env, name)).await
    }

    /// `GET /v1/envs/{env}/configs`.
    pub async fn list_configs(&self, env: &str) -> Result<List, Error> {
        self.call(Call::get(&["v1", "envs", env, "configs"])).await
    }

    /// `DELETE /v1/envs/{env}/configs/{name}` if `expect` holds (404 when there is none).
    pub async fn delete_config(
        &self,
        env: &str,
        name: &str,
        expect: Expect,
    ) -> Result<WriteResult, Error> {
        let call = precondition(config_call(Method::DELETE, env, name), expect);
        self.call(call).await
    }
}

fn config_call(method: Method, env: &str, name: &str) -> Call {
    Call::new(method, &["v1", "envs", env, "configs", name])
}

/// `expect` as the API's conditional headers.
pub(crate) fn precondition(call: Call, expect: Expect) -> Call {
    match expect {
        Expect::Any => call,
        Expect::Absent => call.header(IF_NONE_MATCH, HeaderValue::from_static("*")),
        Expect::Revision(revision) => {
            let value = HeaderValue::from_str(&format!("\"{revision}\""))
                .expect("a quoted number is a header value");
            call.header(IF_MATCH, value)
        }
    }
}
