use serde_json::{json, Value};
use skiff_core::{Command, Expect, State};

use super::*;

fn object(value: Value) -> Object {
    serde_json::from_value(value).unwrap()
}

fn env(name: &str) -> Object {
    object(json!({"environment": {"name": name}}))
}

fn task(id: &str, env: &str) -> Object {
    object(json!({"task": {
        "id": id, "env": env, "app": "shop", "service": "web", "slot": {"replica": 1},
        "spec_revision": 1, "desired": "running", "observed": "pending",
        "created_at": 0, "updated_at": 0,
    }}))
}

fn node(id: &str) -> Object {
    let resources = json!({"cpus": "4", "memory": 8_589_934_592u64});
    object(json!({"node": {
        "id": id, "name": id, "address": "10.0.0.1:7946", "capacity": resources,
        "allocatable": resources, "availability": "active", "status": "ready",
    }}))
}

fn stored_token(id: &str) -> Object {
    object(json!({"token": {
        "id": id, "role": "read", "scope": "all", "secret_sha256": "ab".repeat(32),
        "created_at": 0,
    }}))
}

fn token(role: &str, scope: Value) -> Token {
    serde_json::from_value(json!({
        "id": "caller", "role": role, "scope": scope, "secret_sha256": "", "created_at": 0,
    }))
    .unwrap()
}

/// A state with, at revisions 1 to 7: envs dev and prod, a task in each, a node, a token, and
/// the dev task deleted.
fn state() -> State {
    let mut state = State::new();
    let writes = [
        env("dev"),
        env("prod"),
        task("t1", "dev"),
        task("t2", "prod"),
        node("n1"),
        stored_token("tok"),
    ];
    for (i, object) in writes.into_iter().enumerate() {
        state.apply(i as u64 + 1, &Command::put(object, Expect::Any));
    }
    let delete = Command::Delete {
        key: Key::parse("/tasks/t1").unwrap(),
        expect: Expect::Any,
    };
    state.apply(7, &delete);
    state
}

fn keys(batch: &Batch) -> Vec<(String, String)> {
    String::from_utf8(batch.lines.clone())
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v["key"].as_str().unwrap().to_owned(),
                v["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, kind)| (k.to_string(), kind.to_string()))
        .collect()
}

#[test]
fn a_cluster_wide_admin_sees_everything_with_token_hashes_blanked() {
    let admin = token("admin", json!("all"));
    let b = batch(&state(), 0, "", &admin).unwrap();
    assert_eq!(b.revision, 7);
    assert_eq!(
        keys(&b),
        pairs(&[
            ("/envs/dev", "put"),
            ("/envs/prod", "put"),
            ("/tasks/t1", "put"),
            ("/tasks/t2", "put"),
            ("/nodes/n1", "put"),
            ("/tokens/tok", "put"),
            ("/tasks/t1", "delete"),
        ])
    );
    let text = String::from_utf8(b.lines).unwrap();
    assert!(
        !text.contains(&"ab".repeat(32)),
        "a token's hash leaked: {text}"
    );
}

#[test]
fn a_scoped_token_sees_only_its_environments_even_deleted_tasks() {
    let dev = token("admin", json!({"envs": ["dev"]}));
    let b = batch(&state(), 0, "", &dev).unwrap();
    assert_eq!(
        keys(&b),
        pairs(&[
            ("/envs/dev", "put"),
            ("/tasks/t1", "put"),
            ("/tasks/t1", "delete"),
        ])
    );
    let reader = token("read", json!("all"));
    let seen = keys(&batch(&state(), 0, "", &reader).unwrap());
    assert!(seen.contains(&("/nodes/n1".into(), "put".into())));
    assert!(
        !seen.iter().any(|(k, _)| k.starts_with("/tokens/")),
        "{seen:?}"
    );
}

#[test]
fn prefix_and_from_narrow_the_batch() {
    let admin = token("admin", json!("all"));
    let b = batch(&state(), 3, "/tasks/", &admin).unwrap();
    assert_eq!(
        keys(&b),
        pairs(&[("/tasks/t2", "put"), ("/tasks/t1", "delete")])
    );
    let b = batch(&state(), 7, "", &admin).unwrap();
    assert!(b.lines.is_empty());
    assert_eq!(b.revision, 7);
    // A revision this server has not reached yet (it lags the leader) is waited for.
    assert_eq!(batch(&state(), 9, "", &admin).unwrap().revision, 9);
}

#[test]
fn a_watch_from_before_the_history_is_gone() {
    let state = state().with_history_limit(2);
    let admin = token("admin", json!("all"));
    let c = batch(&state, 1, "", &admin).unwrap_err();
    assert_eq!(c.oldest, 5);
    let e = compacted(c);
    assert_eq!(e.status, StatusCode::GONE);
    assert_eq!(e.code, "compacted");
    assert_eq!(e.details["oldest"], 5);
    assert_eq!(keys(&batch(&state, 5, "", &admin).unwrap()).len(), 2);
}

#[test]
fn a_secrets_ciphertext_never_reaches_a_watcher() {
    let mut state = state();
    let secret = object(json!({"secret": {
        "env": "dev", "name": "db", "ciphertext": "c2VhbGVkIGJ5dGVz", "key_id": "cluster-v1",
    }}));
    state.apply(8, &Command::put(secret, Expect::Any));
    let delete = Command::Delete {
        key: Key::parse("/secrets/dev/db").unwrap(),
        expect: Expect::Any,
    };
    state.apply(9, &delete);
    for caller in [
        token("admin", json!("all")),
        token("read", json!({"envs": ["dev"]})),
    ] {
        let b = batch(&state, 7, "", &caller).unwrap();
        assert_eq!(
            keys(&b),
            pairs(&[("/secrets/dev/db", "put"), ("/secrets/dev/db", "delete")])
        );
        let text = String::from_utf8(b.lines).unwrap();
        assert!(!text.contains("c2VhbGVk"), "ciphertext leaked: {text}");
    }
}
