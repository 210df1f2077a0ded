//! `/v1/cluster`: the servers of the control plane.

use std::time::Duration;

use reqwest::Method;
use skiff_api::v1::{ClusterStatus, JoinRequest};

use crate::transport::Call;
use crate::{Client, Error};

/// How long one attempt of a membership change may take: the leader answers a join once the
/// new server has caught up with the log, which can mean sending it a snapshot.
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// `GET /v1/cluster`: the members and the leader, as the answering server sees them.
    pub async fn cluster_status(&self) -> Result<ClusterStatus, Error> {
        self.call(Call::get(&["v1", "cluster"])).await
    }

    /// `POST /v1/cluster/members`: adds server `id` at `addr` (a learner until it has caught
    /// up, then a voter). Repeating it for the same id and address is harmless.
    pub async fn join_cluster(&self, id: u64, addr: &str) -> Result<ClusterStatus, Error> {
        let request = JoinRequest {
            id,
            addr: addr.to_owned(),
        };
        let call = Call::new(Method::POST, &["v1", "cluster", "members"])
            .json(&request)?
            .timeout(MEMBERSHIP_TIMEOUT);
        self.call(call).await
    }

    /// `DELETE /v1/cluster/members/{id}`: removes a server from the cluster.
    pub async fn leave_cluster(&self, id: u64) -> Result<ClusterStatus, Error> {
        let id = id.to_string();
        let call = Call::new(Method::DELETE, &["v1", "cluster", "members", &id])
            .timeout(MEMBERSHIP_TIMEOUT);
        self.call(call).await
    }
}
