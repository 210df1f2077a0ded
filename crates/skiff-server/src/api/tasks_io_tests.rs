use axum::http::StatusCode;
use skiff_core::objects::{Role, Timestamp, Token, TokenScope};
use skiff_core::{Name, Object};

use super::*;
use crate::agents::fixtures::{node, put, state, task};

fn token(role: Role, envs: &[&str]) -> Token {
    Token {
        id: Name::new("t").unwrap(),
        role,
        scope: if envs.is_empty() {
            TokenScope::All
        } else {
            TokenScope::Envs(envs.iter().map(|e| Name::new(*e).unwrap()).collect())
        },
        secret_sha256: "00".repeat(32),
        description: String::new(),
        created_at: Timestamp(0),
    }
}

fn id(text: &str) -> Name {
    Name::new(text).unwrap()
}

#[test]
fn tasks_are_located_on_their_nodes_or_refused_with_why() {
    let mut state = state();
    put(&mut state, node("n1", "10.0.0.1:7410", "ready", None));
    put(
        &mut state,
        Object::Task(task("on", "web", Some("n1"), "running")),
    );
    let mut pending = task("pending", "web", None, "pending");
    pending.message = "no node has 4 CPUs left".into();
    put(&mut state, Object::Task(pending));
    put(
        &mut state,
        Object::Task(task("lost", "web", Some("n9"), "running")),
    );
    let admin = token(Role::Admin, &[]);

    let found = locate(&state, &id("on"), &admin, Role::Deploy).unwrap();
    assert_eq!(found.node.as_str(), "n1");
    assert_eq!(found.address, "10.0.0.1:7410");

    let refused = |task: &str, token: &Token, role| {
        let e = locate(&state, &id(task), token, role).unwrap_err();
        (e.status, e.code, e.message)
    };
    assert_eq!(refused("nope", &admin, Role::Read).0, StatusCode::NOT_FOUND);
    // A task of an environment the token cannot see does not exist for it.
    let other = token(Role::Admin, &["prod"]);
    assert_eq!(refused("on", &other, Role::Read).0, StatusCode::NOT_FOUND);
    let reader = token(Role::Read, &["dev"]);
    assert!(locate(&state, &id("on"), &reader, Role::Read).is_ok());
    assert_eq!(
        refused("on", &reader, Role::Deploy).0,
        StatusCode::FORBIDDEN
    );
    let (status, code, message) = refused("pending", &admin, Role::Read);
    assert_eq!((status, code), (StatusCode::CONFLICT, "task_not_placed"));
    assert!(message.contains("no node has 4 CPUs left"), "{message}");
    let (status, code, _) = refused("lost", &admin, Role::Read);
    assert_eq!((status, code), (StatusCode::CONFLICT, "node_gone"));
}

#[test]
fn commands_are_checked() {
    assert!(check_command(&["hostname".into()]).is_ok());
    assert!(check_command(&[]).is_err());
    assert!(check_command(&[String::new()]).is_err());
    assert!(check_command(&vec!["x".into(); MAX_EXEC_ARGS + 1]).is_err());
    let e = check_command(&["x".repeat(MAX_EXEC_COMMAND_BYTES + 1)]).unwrap_err();
    assert!(e.message.contains("at most 65536"), "{}", e.message);
}

#[test]
fn stdin_travels_in_chunks_after_the_start() {
    let target = Target {
        task: id("t1"),
        node: id("n1"),
        address: "127.0.0.1:7410".into(),
    };
    let request = ExecRequest {
        command: vec!["cat".into()],
        stdin: Some("x".repeat(STDIN_CHUNK + 1)),
    };
    let inputs = exec_inputs(&target, request);
    assert_eq!(inputs.len(), 3);
    let Some(Input::Start(start)) = &inputs[0].kind else {
        panic!("{:?}", inputs[0]);
    };
    assert_eq!((start.task_id.as_str(), start.tty), ("t1", false));
    let sizes: Vec<usize> = inputs[1..]
        .iter()
        .map(|i| match &i.kind {
            Some(Input::Stdin(data)) => data.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [STDIN_CHUNK, 1]);
    let no_stdin = exec_inputs(
        &target,
        ExecRequest {
            command: vec!["true".into()],
            stdin: None,
        },
    );
    assert_eq!(no_stdin.len(), 1);
}
