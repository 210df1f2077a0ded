//! How a [`RegistryClient`] authenticates: which `Authorization` a request carries, and how a
//! 401's challenge is answered (a bearer token from the realm, or basic credentials).

use ureq::http::Response;
use ureq::Body;

use super::{RegistryClient, Target, MAX_TOKEN_ANSWER};
use crate::image::registry::auth::{self, Challenge, Credentials, Secret};
use crate::image::registry::http;
use crate::image::registry::RegistryError;

impl RegistryClient {
    /// The `Authorization` value for a request to `url`: the registry's token or basic
    /// credentials for the registry's own origin, basic credentials for a token realm.
    pub(super) fn authorization_for(&self, url: &str, target: Target<'_>) -> Option<Secret> {
        match target {
            Target::Token => self.credentials.as_ref().map(Credentials::basic_header),
            _ if http::origin(url) == self.base => self
                .authorization
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            _ => None,
        }
    }

    /// Answers a 401: gets a token (bearer) or uses the credentials (basic).
    pub(super) fn authenticate(&self, resp: &Response<Body>) -> Result<(), RegistryError> {
        let challenges = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let value = match auth::parse_challenges(challenges) {
            Some(Challenge::Basic) => match &self.credentials {
                Some(c) => c.basic_header(),
                None => return Err(self.auth_refused()),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let token = self.token(&realm, service.as_deref(), scope.as_deref())?;
                Secret::new(format!("Bearer {}", token.expose()))
            }
            None => {
                return Err(RegistryError::Authentication {
                    registry: self.registry.clone(),
                    reason: "answered 401 without a Basic or Bearer challenge Skiff can answer"
                        .into(),
                })
            }
        };
        *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        Ok(())
    }

    /// Gets a bearer token from `realm`.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Secret, RegistryError> {
        let bad = |reason: String| RegistryError::Authentication {
            registry: self.registry.clone(),
            reason,
        };
        let realm_origin = http::origin(realm);
        let realm_host = realm_origin.strip_prefix("http://");
        let plain_ok = realm_host.is_some_and(|h| self.config.is_insecure(h));
        if !(realm.starts_with("https://") || plain_ok) {
            return Err(bad(format!(
                "its token server {realm_origin:?} is not HTTPS (nor a registry listed as insecure)"
            )));
        }
        let default_scope = format!("repository:{}:pull", self.repository);
        let mut url = realm.to_string();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        if let Some(service) = service {
            url.push_str(&format!("{sep}service={}", auth::query_escape(service)));
            sep = '&';
        }
        let scope = scope.unwrap_or(&default_scope);
        url.push_str(&format!("{sep}scope={}", auth::query_escape(scope)));
        let bytes = self.fetch(&url, None, Target::Token, |mut resp| {
            resp.body_mut()
                .with_config()
                .limit(MAX_TOKEN_ANSWER)
                .read_to_vec()
                .map_err(|e| self.body_failure(e, Target::Token))
        })?;
        auth::token_from_json(&bytes).ok_or_else(|| {
            bad(format!(
                "its token server {realm_origin} answered without a token"
            ))
        })
    }
}
