//! The registry errors a [`RegistryClient`] request ends in: what a status, an exhausted
//! retry budget or a transport failure means, named with the registry and what was asked.

use super::{Failure, RegistryClient, Target};
use crate::image::registry::http::{self, Transport};
use crate::image::registry::RegistryError;

/// What went wrong with the last try.
pub(super) enum Last {
    /// A 5xx or 429 answer.
    Status(u16),
    /// The connection failed.
    Connection(String),
    /// The body broke off.
    Body(String),
}

impl RegistryClient {
    /// A 401 that authenticating did not cure: no credentials, or wrong ones.
    pub(super) fn auth_refused(&self) -> RegistryError {
        if self.credentials.is_some() {
            RegistryError::CredentialsRejected {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
            }
        } else {
            RegistryError::AuthRequired {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
            }
        }
    }

    /// A status that is final for `target`.
    pub(super) fn status_error(&self, status: u16, target: Target<'_>) -> RegistryError {
        match (status, target) {
            (401, _) => self.auth_refused(),
            (403, _) => RegistryError::Denied {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
            },
            (404, Target::Manifest(reference)) => RegistryError::NotFound {
                registry: self.registry.clone(),
                reference: reference.to_string(),
            },
            (404, Target::Blob(digest)) => RegistryError::BlobNotFound {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                digest: digest.clone(),
            },
            (status, target) => RegistryError::UnexpectedStatus {
                registry: self.registry.clone(),
                doing: self.doing(target),
                status,
            },
        }
    }

    /// The error after the last try failed with `last`.
    pub(super) fn retries_exhausted(
        &self,
        last: Last,
        attempts: u32,
        target: Target<'_>,
    ) -> RegistryError {
        match (last, target) {
            (Last::Status(status), target) => RegistryError::ServerError {
                registry: self.registry.clone(),
                doing: self.doing(target),
                status,
                attempts,
            },
            (Last::Body(reason), Target::Blob(digest)) => RegistryError::Download {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                digest: digest.clone(),
                attempts,
                reason,
            },
            (Last::Body(reason) | Last::Connection(reason), target) => RegistryError::Unreachable {
                registry: self.registry.clone(),
                reason: format!("{reason} while {}, {attempts} times", self.doing(target)),
            },
        }
    }

    /// A classified transport error as the fetch loop handles it.
    pub(super) fn transport_failure(&self, t: Transport, target: Target<'_>) -> Failure {
        match t {
            Transport::Retry(reason) => Failure::Retry(reason),
            Transport::Timeout(timeout) => Failure::Fatal(RegistryError::Timeout {
                registry: self.registry.clone(),
                doing: self.doing(target),
                timeout,
            }),
            Transport::Fatal(reason) => Failure::Fatal(RegistryError::Unreachable {
                registry: self.registry.clone(),
                reason: format!("{reason} (while {})", self.doing(target)),
            }),
        }
    }

    /// A failure while reading a small body (manifest, token).
    pub(super) fn body_failure(&self, e: ureq::Error, target: Target<'_>) -> Failure {
        match e {
            ureq::Error::BodyExceedsLimit(limit) => {
                let reason = format!("the answer is larger than {limit} bytes");
                Failure::Fatal(match target {
                    Target::Manifest(reference) => RegistryError::BadManifest {
                        registry: self.registry.clone(),
                        reference: reference.to_string(),
                        reason,
                    },
                    _ => RegistryError::Authentication {
                        registry: self.registry.clone(),
                        reason: format!("token server: {reason}"),
                    },
                })
            }
            e => self.transport_failure(http::classify(&e, &self.config), target),
        }
    }

    /// A redirect that cannot be followed.
    pub(super) fn redirect_error(&self, reason: &str) -> Failure {
        Failure::Fatal(RegistryError::Redirect {
            registry: self.registry.clone(),
            reason: reason.to_string(),
        })
    }

    /// What a request was doing, for messages.
    pub(super) fn doing(&self, target: Target<'_>) -> String {
        match target {
            Target::Manifest(reference) => format!("fetching manifest {reference}"),
            Target::Blob(digest) => format!("downloading blob {digest} of {}", self.name()),
            Target::Token => format!("getting a token for {}", self.name()),
        }
    }
}
