//! Operations the tests repeat: set-up writes that must go through (retried while the cluster
//! is unavailable), and reads that wait until a server shows what the test expects.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

use super::api::{Config, Precondition, Reply, DEFAULT_TIMEOUT};
use super::Cluster;

/// The environment the tests write their configs in.
pub const ENV: &str = "test";

impl Cluster {
    /// Creates environment `name` through server `via`, retrying while the cluster cannot
    /// answer; a 409 after an attempt without an answer means that attempt did it.
    pub async fn create_env(&self, via: u64, name: &str) {
        let indeterminate = Cell::new(false);
        self.eventually(
            "the environment is created",
            Duration::from_secs(20),
            || {
                let indeterminate = &indeterminate;
                async move {
                    match self.api.create_env(&self.addr(via), name).await {
                        Reply::Ok(_) => Some(()),
                        Reply::Error { status: 409, .. } if indeterminate.get() => Some(()),
                        reply if reply.surely_not_applied() => None,
                        reply @ Reply::Error { status, .. } if status < 500 => {
                            self.fail(&format!("creating environment {name}: {reply:?}"))
                        }
                        _ => {
                            indeterminate.set(true);
                            None
                        }
                    }
                }
            },
        )
        .await
    }

    /// Puts config `name` = `data` in [`ENV`] through server `via` (no precondition, so a retry
    /// is harmless), retrying until a 2xx; returns its revision.
    pub async fn put(&self, via: u64, name: &str, data: &[u8]) -> u64 {
        self.eventually(
            &format!("{name} is written"),
            Duration::from_secs(20),
            || async {
                let reply = self
                    .api
                    .put(
                        &self.addr(via),
                        (ENV, name),
                        data,
                        Precondition::Any,
                        DEFAULT_TIMEOUT,
                    )
                    .await;
                match reply {
                    Reply::Ok(_) => reply.revision(),
                    Reply::Error { status, .. } if (400..500).contains(&status) => {
                        self.fail(&format!("writing {name}: {reply:?}"))
                    }
                    _ => None,
                }
            },
        )
        .await
    }

    /// Reads config `name` in [`ENV`] on server `via` once: `Ok(None)` when it does not exist.
    pub async fn get(&self, via: u64, name: &str, stale: bool) -> Result<Option<Config>, Reply> {
        match self
            .api
            .get(&self.addr(via), (ENV, name), stale, DEFAULT_TIMEOUT)
            .await
        {
            Reply::Ok(record) => Ok(Some(super::api::config(&record))),
            Reply::Error { status: 404, .. } => Ok(None),
            other => Err(other),
        }
    }

    /// Every config in [`ENV`] as server `via` has it, retrying while it cannot answer.
    pub async fn configs(&self, via: u64, stale: bool) -> BTreeMap<String, Config> {
        self.eventually(
            &format!("server {via} lists the configs"),
            Duration::from_secs(20),
            || async { self.api.list(&self.addr(via), ENV, stale).await.ok() },
        )
        .await
        .1
    }

    /// Waits until server `via`'s own state (a stale read) holds every config of `expected`
    /// with the same payload and revision.
    pub async fn converges(&self, via: u64, expected: &BTreeMap<String, Config>) {
        let what = format!("server {via} holds all {} configs", expected.len());
        self.eventually(&what, Duration::from_secs(20), || async {
            let (_, held) = self.api.list(&self.addr(via), ENV, true).await.ok()?;
            expected
                .iter()
                .all(|(name, config)| held.get(name) == Some(config))
                .then_some(())
        })
        .await
    }

    /// `GET /readyz` field `field` of server `id` (null when absent or without an answer).
    pub async fn ready_field(&self, id: u64, field: &str) -> Option<u64> {
        let body = self.api.readyz(&self.addr(id)).await?;
        body[field].as_u64()
    }
}
