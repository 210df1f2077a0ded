//! `/v1/tokens`: API tokens.

use reqwest::Method;
use skiff_api::v1::{CreateToken, CreatedToken, WriteResult};
use skiff_core::api::List;

use crate::transport::Call;
use crate::{Client, Error};

impl Client {
    /// `POST /v1/tokens`: the answer holds the whole token, shown this once.
    pub async fn create_token(&self, request: &CreateToken) -> Result<CreatedToken, Error> {
        self.call(Call::new(Method::POST, &["v1", "tokens"]).json(request)?)
            .await
    }

    /// `GET /v1/tokens`: every token, without secrets (cluster-wide admins only).
    pub async fn list_tokens(&self) -> Result<List, Error> {
        self.call(Call::get(&["v1", "tokens"])).await
    }

    /// `DELETE /v1/tokens/{id}`: revokes a token.
    pub async fn delete_token(&self, id: &str) -> Result<WriteResult, Error> {
        self.call(Call::new(Method::DELETE, &["v1", "tokens", id]))
            .await
    }
}
