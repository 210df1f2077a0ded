//! `/v1/cluster`: members and leader; servers join (learner, then voter) and leave through
//! openraft's joint consensus. Membership changes are cluster-wide admin operations.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::Json;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use skiff_api::v1::{ClusterStatus, JoinRequest, Member};
use skiff_core::objects::Role;
use skiff_store::NodeId;

use super::auth::Caller;
use super::body::Body;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::{ApiState, NoParams, Params, ReadParams};
use crate::control::Unavailable;

/// How long a join waits for the new server to catch up as a learner.
pub const LEARNER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(50);

/// `GET /v1/cluster`: as this server sees it (not forwarded).
#[utoipa::path(
    get,
    path = "/v1/cluster",
    tag = "cluster",
    responses(ErrorResponses, (status = 200, body = ClusterStatus)),
)]
pub async fn status(State(api): State<ApiState>, caller: Caller) -> ApiResult<Json<ClusterStatus>> {
    caller.require(Role::Read, None)?;
    Ok(Json(cluster_status(&api)))
}

/// The cluster as `api`'s server sees it.
pub fn cluster_status(api: &ApiState) -> ClusterStatus {
    let metrics = api.control.raft().metrics();
    let m = metrics.borrow().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, node)| Member {
            id: *id,
            addr: node.addr.clone(),
            voter: voters.contains(id),
            leader: m.current_leader == Some(*id),
            matched: m
                .replication
                .as_ref()
                .and_then(|r| r.get(id).copied().flatten())
                .map(|l| l.index),
        })
        .collect();
    ClusterStatus {
        answered_by: m.id,
        leader: m.current_leader,
        term: m.current_term,
        committed: m.last_log_index.filter(|_| m.current_leader == Some(m.id)),
        applied: m.last_applied.map(|l| l.index),
        members,
    }
}

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            Unavailable::NotLeader { leader: None }.into()
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => ApiError::new(
            StatusCode::CONFLICT,
            "membership_change_refused",
            format!("the membership change was refused: {e}; retry when the current change ends"),
        ),
        RaftError::Fatal(f) => Unavailable::Stopped(f.to_string()).into(),
    }
}

/// `POST /v1/cluster/members`: adds a server as a learner, waits until it has caught up, then
/// makes it a voter. Idempotent for a server already in the cluster at the same address.
#[utoipa::path(
    post,
    path = "/v1/cluster/members",
    tag = "cluster",
    request_body = JoinRequest,
    responses(
        ErrorResponses,
        (status = 200, body = ClusterStatus),
        (status = 409, description = "`member_exists` (the id is taken at another address) \
                                      or `membership_change_refused`", body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn join(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Body(request): Body<JoinRequest>,
) -> ApiResult<Json<ClusterStatus>> {
    caller.require(Role::Admin, None)?;
    if request.id == 0 {
        return Err(ApiError::invalid("field id: server ids start at 1"));
    }
    if request.addr.parse::<std::net::SocketAddr>().is_err() && !request.addr.contains(':') {
        return Err(ApiError::invalid(format!(
            "field addr: {:?} is not host:port",
            request.addr
        )));
    }
    let known = cluster_status(&api)
        .members
        .into_iter()
        .find(|m| m.id == request.id);
    if let Some(member) = &known {
        if member.addr != request.addr {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "member_exists",
                format!(
                    "server {} is already a member at {}; remove it first (skiff cluster leave {})",
                    member.id, member.addr, member.id
                ),
            ));
        }
    }
    let raft = api.control.raft();
    if known.is_none() {
        // A learner that cannot be reached (a wrong address) never catches up: give up on
        // waiting rather than hold the request forever; it stays a learner until removed.
        let added = raft.add_learner(request.id, BasicNode::new(&request.addr), true);
        tokio::time::timeout(LEARNER_TIMEOUT, added)
            .await
            .map_err(|_| {
                ApiError::unavailable(
                    "timeout",
                    format!(
                        "server {} at {} did not catch up within {} s; check that the address \
                         reaches it (remove it with skiff cluster leave {})",
                        request.id,
                        request.addr,
                        LEARNER_TIMEOUT.as_secs(),
                        request.id
                    ),
                )
            })?
            .map_err(membership_error)?;
    }
    if !known.is_some_and(|m| m.voter) {
        let voters = ChangeMembers::AddVoterIds(BTreeSet::from([request.id]));
        raft.change_membership(voters, false)
            .await
            .map_err(membership_error)?;
    }
    Ok(Json(cluster_status(&api)))
}

/// `DELETE /v1/cluster/members/{id}`: removes a server (voter or learner) from the cluster.
#[utoipa::path(
    delete,
    path = "/v1/cluster/members/{id}",
    tag = "cluster",
    params(("id" = u64, Path, description = "The server's Raft id")),
    responses(
        ErrorResponses,
        (status = 200, body = ClusterStatus),
        (status = 409, description = "`last_voter` or `membership_change_refused`",
         body = skiff_api::v1::ErrorBody),
    ),
)]
pub async fn leave(
    State(api): State<ApiState>,
    caller: Caller,
    Params(NoParams {}): Params<NoParams>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterStatus>> {
    caller.require(Role::Admin, None)?;
    let id: NodeId = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("server id {id:?} is not a number")))?;
    let status = cluster_status(&api);
    let Some(member) = status.members.iter().find(|m| m.id == id) else {
        return Err(ApiError::not_found(format!("server {id}")));
    };
    let voters = status.members.iter().filter(|m| m.voter).count();
    if member.voter && voters == 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_voter",
            format!("server {id} is the cluster's only voter; a cluster cannot lose its last one"),
        ));
    }
    let change = if member.voter {
        ChangeMembers::RemoveVoters(BTreeSet::from([id]))
    } else {
        ChangeMembers::RemoveNodes(BTreeSet::from([id]))
    };
    api.control
        .raft()
        .change_membership(change, false)
        .await
        .map_err(membership_error)?;
    Ok(Json(cluster_status(&api)))
}

#[utoipa::path(
    get,
    path = "/v1/cluster/snapshot",
    tag = "cluster",
    responses(
        ErrorResponses,
        (status = 200, description = "Every object at one revision (the state machine's \
                                      snapshot format), for `skiff server --restore`; the \
                                      revision is in `X-Skiff-Revision`",
         content_type = "application/octet-stream", body = Vec<u8>),
    ),
)]
/// `GET /v1/cluster/snapshot`: a consistent backup of every object (the state machine's
/// snapshot format, `application/octet-stream`), for `skiff server --restore`. The revision it
/// was taken at is in the `X-Skiff-Revision` header.
pub async fn snapshot(
    State(api): State<ApiState>,
    caller: Caller,
) -> ApiResult<([(HeaderName, HeaderValue); 2], Vec<u8>)> {
    caller.require(Role::Admin, None)?;
    let params = ReadParams::default();
    let (revision, bytes) = api
        .read(&params, |state| (state.revision(), state.to_snapshot()))
        .await?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ),
        (
            HeaderName::from_static("x-skiff-revision"),
            HeaderValue::from(revision),
        ),
    ];
    Ok((headers, bytes))
}
