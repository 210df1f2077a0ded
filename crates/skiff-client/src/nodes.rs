//! `/v1/tasks` and `/v1/nodes`: what runs where, cluster-wide.

use reqwest::Method;
use skiff_api::v1::WriteResult;
use skiff_core::api::List;
use skiff_core::plan::NodeUpdate;
use skiff_core::Record;

use crate::transport::Call;
use crate::{Client, Error};

/// Which tasks `GET /v1/tasks` lists; every field left `None` matches everything (of the
/// environments the token sees).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only this environment's.
    pub env: Option<String>,
    /// Only this app's.
    pub app: Option<String>,
    /// Only this service's.
    pub service: Option<String>,
    /// Only those assigned to this node.
    pub node: Option<String>,
}

impl Client {
    /// `GET /v1/tasks[?env=E&app=A&service=S&node=N]`.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> Result<List, Error> {
        let mut call = Call::get(&["v1", "tasks"]);
        let fields = [
            ("env", &filter.env),
            ("app", &filter.app),
            ("service", &filter.service),
            ("node", &filter.node),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                call = call.query(name, value.as_str());
            }
        }
        self.call(call).await
    }

    /// `GET /v1/tasks/{id}`.
    pub async fn get_task(&self, id: &str) -> Result<Record, Error> {
        self.call(Call::get(&["v1", "tasks", id])).await
    }

    /// `GET /v1/nodes`.
    pub async fn list_nodes(&self) -> Result<List, Error> {
        self.call(Call::get(&["v1", "nodes"])).await
    }

    /// `GET /v1/nodes/{id}`.
    pub async fn get_node(&self, id: &str) -> Result<Record, Error> {
        self.call(Call::get(&["v1", "nodes", id])).await
    }

    /// `PATCH /v1/nodes/{id}`: change its availability or labels (admin only).
    pub async fn update_node(&self, id: &str, update: &NodeUpdate) -> Result<WriteResult, Error> {
        let call = Call::new(Method::PATCH, &["v1", "nodes", id]).json(update)?;
        self.call(call).await
    }
}
