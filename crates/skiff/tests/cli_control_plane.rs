//! The control-plane commands as an operator runs them: a real `skiff server --bootstrap`
//! process on 127.0.0.1, and `skiff env|token|cluster|get|apply|rm` processes talking to it
//! through SKIFF_SERVER and SKIFF_TOKEN.

mod server_process;

use std::path::{Path, PathBuf};

use server_process::{failed, ok, refused, skiff, ServerProcess};
use skiff_api::v1::ClusterStatus;
use skiff_client::{Client, Expect};
use skiff_core::{Object, Record};

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

/// The names of the records printed by `-o json`.
fn json_keys(stdout: &str) -> Vec<String> {
    let records: Vec<Record> = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("-o json is not a list of records: {e}\n{stdout}"));
    records.iter().map(|r| r.key.to_string()).collect()
}

/// The keys of the records printed by `-o yaml`: the same document as the JSON, so objects
/// are maps tagged by kind (`object: {environment: …}`), not YAML tags.
fn yaml_keys(stdout: &str) -> Vec<String> {
    let value: serde_json::Value = serde_yaml::from_str(stdout)
        .unwrap_or_else(|e| panic!("-o yaml is not YAML: {e}\n{stdout}"));
    json_keys(&value.to_string())
}

/// The first cell of each table row after the header.
fn first_column(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn environments_are_created_listed_and_removed() {
    let server = ServerProcess::bootstrap();
    let out = server.skiff(&[
        "env",
        "create",
        "dev",
        "--max-cpus",
        "4",
        "--max-memory",
        "8G",
        "--node-selector",
        "tier=dev",
    ]);
    assert!(ok(&out).starts_with("created environment dev (revision "));
    ok(&server.skiff(&["env", "create", "prod"]));
    let table = ok(&server.skiff(&["get", "envs"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(lines[0].contains("QUOTA") && lines[0].contains("NODE-SELECTOR"));
    let dev: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        dev[..4],
        ["dev", "cpus=4", "memory=8GiB", "tier=dev"],
        "{table}"
    );
    assert!(lines[2].starts_with("prod "), "{table}");
    let json = ok(&server.skiff(&["get", "envs", "-o", "json"]));
    assert_eq!(json_keys(&json), ["/envs/dev", "/envs/prod"]);
    let yaml = ok(&server.skiff(&["get", "envs", "-o", "yaml"]));
    assert_eq!(yaml_keys(&yaml), ["/envs/dev", "/envs/prod"]);

    let again = failed(&server.skiff(&["env", "create", "dev"]));
    assert!(again.starts_with("skiff: error: "), "{again}");
    assert!(again.contains("(revision_conflict)"), "{again}");

    assert!(ok(&server.skiff(&["env", "rm", "prod"])).starts_with("removed environment prod"));
    let gone = failed(&server.skiff(&["env", "rm", "prod"]));
    assert!(
        gone.contains("/envs/prod does not exist (not_found)"),
        "{gone}"
    );
    assert_eq!(first_column(&ok(&server.skiff(&["get", "envs"]))), ["dev"]);
}

#[test]
fn a_deploy_token_for_dev_is_refused_on_prod_and_revoked() {
    let server = ServerProcess::bootstrap();
    ok(&server.skiff(&["env", "create", "dev"]));
    ok(&server.skiff(&["env", "create", "prod"]));
    let out = server.skiff(&["token", "create", "--role", "deploy", "--env", "dev"]);
    let token = ok(&out).trim().to_owned();
    assert!(
        token.starts_with("skiff."),
        "only the token on stdout: {token:?}"
    );
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("shown only this once"), "{note}");
    let id = token.split('.').nth(1).unwrap().to_owned();

    let listed = ok(&server.skiff(&["token", "ls"]));
    let row = listed.lines().find(|l| l.starts_with(&id)).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        [&id, "deploy", "dev"]
    );
    assert!(
        !listed.contains(token.split('.').nth(2).unwrap()),
        "no secret listed"
    );

    // The token sees dev only, and may not act on prod.
    let seen = ok(&server.skiff_as(&token, &["get", "envs"]));
    assert_eq!(first_column(&seen), ["dev"]);
    let refused = failed(&server.skiff_as(&token, &["env", "rm", "prod"]));
    assert!(refused.contains("forbidden"), "{refused}");
    assert!(refused.contains("environment prod"), "{refused}");
    let refused = failed(&server.skiff_as(&token, &["token", "ls"]));
    assert!(refused.contains("forbidden"), "{refused}");

    assert!(ok(&server.skiff(&["token", "rm", &id])).starts_with(&format!("revoked token {id}")));
    let revoked = failed(&server.skiff_as(&token, &["get", "envs"]));
    assert!(revoked.contains("(unauthenticated)"), "{revoked}");
    let without = failed(&skiff(&["get", "envs"], &server.addr, None));
    assert!(without.contains("SKIFF_TOKEN"), "{without}");
}

#[test]
fn cluster_status_join_and_leave() {
    let first = ServerProcess::bootstrap();
    let table = ok(&first.skiff(&["cluster", "status"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("term ") && lines[0].contains("leader 1"),
        "{table}"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["ID", "ADDRESS", "VOTER", "LEADER", "MATCHED"]
    );
    let member: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        member[..4],
        ["1", first.addr.as_str(), "yes", "yes"],
        "{table}"
    );

    let last = failed(&first.skiff(&["cluster", "leave", "1"]));
    assert!(last.contains("(last_voter)"), "{last}");

    let second = ServerProcess::waiting(2);
    ok(&first.skiff(&["cluster", "join", "2", &second.addr]));
    // Both servers answer for the cluster, through either address. The status is the
    // answering server's own view, and the new member learns that the change committed
    // from the leader's next message: give it a few heartbeats.
    let both = format!("{},{}", second.addr, first.addr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let json = ok(&skiff(
            &["cluster", "status", "-o", "json"],
            &both,
            Some(&first.admin_token),
        ));
        let status: ClusterStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(
            status.answered_by, 2,
            "the first address in the list answers"
        );
        let ids: Vec<(u64, bool)> = status.members.iter().map(|m| (m.id, m.voter)).collect();
        if ids == [(1, true), (2, true)] && status.leader == Some(1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server 2 still sees {ids:?} with leader {:?}",
            status.leader
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let after = ok(&first.skiff(&["cluster", "leave", "2"]));
    assert!(!after.lines().any(|l| l.starts_with("2 ")), "{after}");
}

#[test]
fn unreachable_servers_are_named() {
    let (a, b) = (refused(), refused());
    let out = skiff(
        &["get", "envs", "--retry-for", "300ms"],
        &format!("{a},{b}"),
        Some("skiff.x.y"),
    );
    let err = failed(&out);
    assert!(
        err.starts_with("skiff: error: no server of the control plane answered"),
        "{err}"
    );
    assert!(err.contains(&a) && err.contains(&b), "{err}");
    // --server wins over SKIFF_SERVER.
    let err = failed(&skiff(
        &["env", "create", "x", "--server", &a, "--retry-for", "0s"],
        "127.0.0.1:9",
        None,
    ));
    assert!(err.contains(&a) && !err.contains("127.0.0.1:9"), "{err}");
}

#[test]
fn a_dead_server_in_the_list_is_skipped() {
    let server = ServerProcess::bootstrap();
    let servers = format!("{},{}", refused(), server.addr);
    ok(&skiff(
        &["env", "create", "dev"],
        &servers,
        Some(&server.admin_token),
    ));
    let table = ok(&skiff(
        &["get", "envs"],
        &servers,
        Some(&server.admin_token),
    ));
    assert_eq!(first_column(&table), ["dev"]);
}

#[test]
fn invalid_manifests_are_reported_as_validate_reports_them() {
    // No server is asked: the files are refused before anything is sent.
    let nowhere = refused();
    for name in ["unknown-key", "duplicate-port", "undefined-refs"] {
        let file = manifests().join(format!("invalid/{name}.yaml"));
        let out = skiff(
            &["apply", "-f", file.to_str().unwrap(), "--retry-for", "0s"],
            &nowhere,
            None,
        );
        let err = failed(&out);
        assert!(
            !err.contains("no server"),
            "{name}: the server was asked:\n{err}"
        );
        let expected =
            std::fs::read_to_string(manifests().join(format!("invalid/{name}.expected")));
        for line in expected.unwrap().lines() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                assert!(err.contains(line), "{name}: missing {line:?} in:\n{err}");
            }
        }
        assert!(
            err.lines().last().unwrap().contains("error"),
            "{name}: tally\n{err}"
        );
    }
}

#[tokio::test]
async fn configs_with_preconditions_through_the_client() {
    let server = ServerProcess::bootstrap();
    let admin = Client::new(
        vec![refused(), server.addr.clone()],
        Some(server.admin_token.clone()),
    )
    .unwrap();
    ok(&server.skiff(&["env", "create", "dev"]));
    ok(&server.skiff(&["env", "create", "prod"]));
    let labels = std::collections::BTreeMap::new;
    let created = admin
        .put_config("dev", "site", b"v1", labels(), Expect::Absent)
        .await
        .unwrap();
    let again = admin
        .put_config("dev", "site", b"v1", labels(), Expect::Absent)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("revision_conflict"));
    let stale = Expect::Revision(created.revision + 100);
    let err = admin
        .put_config("dev", "site", b"v2", labels(), stale)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("revision_conflict"));
    let current = Expect::Revision(created.revision);
    let updated = admin
        .put_config("dev", "site", b"v2", labels(), current)
        .await
        .unwrap();
    let record = admin.get_config("dev", "site").await.unwrap();
    assert_eq!(record.mod_revision, updated.revision);
    assert!(matches!(&record.object, Object::Config(c) if c.data == b"v2"));
    assert_eq!(admin.list_configs("dev").await.unwrap().items.len(), 1);

    // A deploy token for dev writes dev's configs, not prod's.
    let out = server.skiff(&["token", "create", "--role", "deploy", "--env", "dev"]);
    let deploy = Client::new(vec![server.addr.clone()], Some(ok(&out).trim().to_owned())).unwrap();
    deploy
        .put_config("dev", "other", b"x", labels(), Expect::Any)
        .await
        .unwrap();
    let err = deploy
        .put_config("prod", "other", b"x", labels(), Expect::Any)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"));

    let stale = Expect::Revision(created.revision);
    let err = admin.delete_config("dev", "site", stale).await.unwrap_err();
    assert_eq!(err.code(), Some("revision_conflict"));
    let current = Expect::Revision(updated.revision);
    admin.delete_config("dev", "site", current).await.unwrap();
    let err = admin.get_config("dev", "site").await.unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
}

#[test]
fn apps_are_applied_listed_and_removed() {
    let server = ServerProcess::bootstrap();
    ok(&server.skiff(&["env", "create", "dev"]));
    ok(&server.skiff(&["env", "create", "prod"]));
    let file = manifests().join("web-db-cache/compose.yaml");
    let file = file.to_str().unwrap();

    let dry = ok(&server.skiff(&["apply", "-f", file, "--dry-run"]));
    assert!(
        dry.starts_with("app dev/web-shop: new, spec revision 1"),
        "{dry}"
    );
    assert!(dry.contains("+ /services/dev/web-shop/web"), "{dry}");
    assert!(dry.ends_with("dry run: nothing was changed\n"), "{dry}");
    assert_eq!(
        first_column(&ok(&server.skiff(&["get", "apps"]))),
        Vec::<String>::new()
    );

    let applied = ok(&server.skiff(&["apply", "-f", file, "--detach"]));
    assert!(applied.contains("+ /apps/dev/web-shop"), "{applied}");
    assert!(
        applied
            .lines()
            .last()
            .unwrap()
            .starts_with("applied at revision "),
        "{applied}"
    );

    let apps = ok(&server.skiff(&["get", "apps"]));
    let row: Vec<&str> = apps.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..4], ["web-shop", "dev", "1", "3"], "{apps}");
    let services = ok(&server.skiff(&["get", "services"]));
    assert_eq!(first_column(&services), ["cache", "db", "web"]);
    let web = services.lines().find(|l| l.starts_with("web ")).unwrap();
    assert_eq!(
        web.split_whitespace().collect::<Vec<_>>(),
        [
            "web",
            "web-shop",
            "replicated",
            "3",
            "ghcr.io/example/shop-web:2.3.1"
        ]
    );
    let json = ok(&server.skiff(&["get", "services", "-o", "json", "--app", "web-shop"]));
    assert_eq!(json_keys(&json).len(), 3);
    let yaml = ok(&server.skiff(&["get", "apps", "-o", "yaml"]));
    assert_eq!(yaml_keys(&yaml), ["/apps/dev/web-shop"]);

    let again = ok(&server.skiff(&["apply", "-f", file, "-d"]));
    assert!(
        again.contains("unchanged at spec revision 1, nothing to do"),
        "{again}"
    );
    assert!(!again.contains("applied at revision"), "{again}");

    let out = server.skiff(&["token", "create", "--role", "deploy", "--env", "dev"]);
    let deploy = ok(&out).trim().to_owned();
    let refused = failed(&server.skiff_as(&deploy, &["apply", "-f", file, "--env", "prod"]));
    assert!(refused.contains("forbidden"), "{refused}");
    let missing = failed(&server.skiff(&["apply", "-f", file, "--env", "qa"]));
    assert!(missing.contains("(not_found)"), "{missing}");

    let removed = ok(&server.skiff_as(&deploy, &["rm", "web-shop"]));
    assert!(removed.starts_with("removed app dev/web-shop"), "{removed}");
    assert_eq!(
        first_column(&ok(&server.skiff(&["get", "apps"]))),
        Vec::<String>::new()
    );
    let gone = failed(&server.skiff(&["rm", "web-shop"]));
    assert!(gone.contains("(not_found)"), "{gone}");
}

#[test]
fn tasks_and_nodes_list_with_their_headers() {
    let server = ServerProcess::bootstrap();
    ok(&server.skiff(&["env", "create", "dev"]));
    let tasks = ok(&server.skiff(&["get", "tasks"]));
    assert_eq!(
        tasks
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ID", "SERVICE", "SLOT", "NODE", "DESIRED", "STATE"]
    );
    let nodes = ok(&server.skiff(&["get", "nodes", "-o", "json"]));
    assert_eq!(
        json_keys(&nodes),
        Vec::<String>::new(),
        "no agent has registered"
    );
}

#[test]
fn scale_sets_a_count_and_node_and_ps_answer() {
    let server = ServerProcess::bootstrap();
    ok(&server.skiff(&["env", "create", "dev"]));
    let compose = server.scratch().join("compose.yaml");
    std::fs::write(
        &compose,
        "name: shop\nservices:\n  web:\n    image: busybox\n  mon:\n    image: busybox\n    deploy:\n      mode: global\n",
    )
    .unwrap();
    ok(&server.skiff(&["apply", "-d", "-f", compose.to_str().unwrap()]));
    let out = ok(&server.skiff(&["scale", "web=3"]));
    assert!(out.starts_with("scaled shop/web to 3 (revision "), "{out}");
    let out = ok(&server.skiff(&["scale", "shop/web=3"]));
    assert_eq!(out.trim(), "shop/web already runs 3 replicas");
    let services = ok(&server.skiff(&["get", "services"]));
    let web = services.lines().find(|l| l.starts_with("web ")).unwrap();
    assert_eq!(web.split_whitespace().nth(3), Some("3"), "{services}");

    let global = failed(&server.skiff(&["scale", "mon=2"]));
    assert!(global.contains("is global"), "{global}");
    let nothing = failed(&server.skiff(&["scale", "db=2"]));
    assert!(
        nothing.contains("no app of environment dev has a service named db"),
        "{nothing}"
    );
    let usage = failed(&server.skiff(&["scale", "web"]));
    assert!(usage.contains("write SERVICE=N"), "{usage}");

    let missing = failed(&server.skiff(&["node", "drain", "n9"]));
    assert!(missing.contains("node n9 does not exist"), "{missing}");
    let label = failed(&server.skiff(&["node", "label", "n9", "zone"]));
    assert!(label.contains("KEY=VALUE"), "{label}");
    let header = ok(&server.skiff(&["node", "ls"]));
    assert!(header.starts_with("ID "), "{header}");
    let ps = ok(&server.skiff(&["ps"]));
    assert_eq!(
        ps.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ID", "NAME", "NODE", "DESIRED", "STATE", "IP", "RESTARTS", "HEALTH", "MESSAGE"]
    );
}
