//! The Raft service shares its port with the API: an RPC without the cluster secret is refused
//! before it reaches Raft, so a client of the API cannot forge votes or log entries.

use skiff_proto::raft::raft_client::RaftClient;
use skiff_proto::raft::JsonRequest;
use skiff_server::raft_network::SECRET_HEADER;
use skiff_server::{RaftTuning, Server, ServerConfig, Start, CLUSTER_SECRET_FILE};

#[tokio::test]
async fn raft_rpcs_without_the_cluster_secret_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        id: 1,
        data_dir: dir.path().join("server"),
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise: None,
        start: Start::Bootstrap,
        raft: RaftTuning::default(),
        body_limit: skiff_server::DEFAULT_BODY_LIMIT,
        pod_cidr: skiff_server::PodCidr::default(),
        service_cidr: skiff_server::ServiceCidr::default(),
        node_grace_period: skiff_server::DEFAULT_NODE_GRACE_PERIOD,
        controllers: true,
    })
    .await
    .unwrap();
    let secret = std::fs::read_to_string(dir.path().join("server").join(CLUSTER_SECRET_FILE))
        .unwrap()
        .trim()
        .to_owned();
    let mut client = RaftClient::connect(format!("http://{}", server.local_addr()))
        .await
        .unwrap();
    let vote =
        r#"{"vote":{"leader_id":{"term":99,"node_id":7},"committed":false},"last_log_id":null}"#;
    let forged = |secret: Option<&str>| {
        let mut request = tonic::Request::new(JsonRequest {
            json: vote.as_bytes().to_vec(),
        });
        if let Some(s) = secret {
            request
                .metadata_mut()
                .insert(SECRET_HEADER, s.parse().unwrap());
        }
        request
    };
    for wrong in [None, Some("0".repeat(64))] {
        let refused = client.vote(forged(wrong.as_deref())).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    }
    // With the secret the same RPC reaches Raft and is answered.
    client.vote(forged(Some(&secret))).await.unwrap();
    server.shutdown().await.unwrap();
}
