use super::*;
use TaskState::*;

/// Puts `from` at revision 1, then `to` at revision 2, and returns the second answer.
fn update(from: Task, to: Task) -> Response {
    let mut state = State::new();
    assert!(state.apply(1, &put(Object::Task(from))).is_ok());
    state.apply(2, &put(Object::Task(to)))
}

#[test]
fn a_task_state_only_moves_forward() {
    // (from, restarts before, to, restarts after, allowed)
    let cases = [
        (Pending, 0, Pending, 0, true),
        (Pending, 0, Assigned, 0, true),
        (Pending, 0, Running, 0, true),
        (Assigned, 0, Preparing, 0, true),
        (Running, 0, Complete, 0, true),
        (Running, 0, Failed, 0, true),
        (Starting, 0, Shutdown, 0, true),
        (Assigned, 0, Orphaned, 0, true),
        (Running, 0, Pending, 0, false),
        (Assigned, 0, Pending, 0, false),
        (Running, 0, Starting, 0, false),
        // An in-place restart goes back to starting or preparing with a higher count.
        (Running, 0, Starting, 1, true),
        (Running, 2, Preparing, 3, true),
        (Starting, 1, Starting, 2, true),
        (Running, 0, Assigned, 1, false),
        (Running, 0, Pending, 1, false),
        // Terminal states are final, even with a restart.
        (Complete, 0, Complete, 0, true),
        (Complete, 0, Running, 0, false),
        (Failed, 0, Starting, 1, false),
        (Failed, 0, Complete, 0, false),
        (Orphaned, 0, Running, 0, false),
        (Shutdown, 0, Failed, 0, false),
    ];
    for (from, r0, to, r1, allowed) in cases {
        let got = update(task_with("t1", 1, from, r0), task_with("t1", 1, to, r1));
        let want = if allowed {
            ok(2, &[Some(1)])
        } else {
            Response::Invalid {
                reason: Rejection::TaskStateBackward {
                    key: key("/tasks/t1"),
                    from,
                    to,
                },
            }
        };
        assert_eq!(got, want, "{from:?}/{r0} -> {to:?}/{r1}");
    }
}

#[test]
fn a_task_keeps_its_service_and_slot() {
    let base = task_with("t1", 1, Pending, 0);
    let mut other_slot = base.clone();
    other_slot.slot = Slot::Replica(2);
    let mut other_service = base.clone();
    other_service.service = name("api");
    let mut global = base.clone();
    global.slot = Slot::Node(name("n1"));
    for changed in [other_slot, other_service, global] {
        let got = update(base.clone(), changed.clone());
        let Response::Invalid {
            reason: reason @ Rejection::TaskIdentityChanged { .. },
        } = got
        else {
            panic!("{changed:?}: {got:?}");
        };
        assert!(
            reason.to_string().contains("keeps its service and slot"),
            "{reason}"
        );
    }
    // Anything else may change.
    let mut moved = base.clone();
    moved.node = Some(name("n1"));
    moved.observed = Assigned;
    moved.desired = DesiredState::Shutdown;
    moved.spec_revision = 2;
    assert!(update(base, moved).is_ok());
}

#[test]
fn a_restart_count_does_not_go_down() {
    let got = update(
        task_with("t1", 1, Running, 3),
        task_with("t1", 1, Running, 2),
    );
    let reason = Rejection::RestartCountDecreased {
        key: key("/tasks/t1"),
        from: 3,
        to: 2,
    };
    assert_eq!(got, Response::Invalid { reason });
}

#[test]
fn an_app_spec_names_its_app() {
    let mut state = State::new();
    let spec = app_spec("qa", "shop", "nginx:1");
    let wrong = App::new(name("dev"), name("shop"), spec, 1);
    let reason = Rejection::AppSpecMismatch {
        key: key("/apps/dev/shop"),
        spec_app: "shop".into(),
        spec_env: "qa".into(),
    };
    assert_eq!(
        state.apply(1, &put(Object::App(wrong))),
        Response::Invalid { reason }
    );

    let mut long = App::new(
        name("dev"),
        name("shop"),
        app_spec("dev", "shop", "nginx:1"),
        1,
    );
    long.history = (0..=APP_HISTORY_LIMIT as u64)
        .map(|rev| AppRevision {
            spec_revision: rev,
            spec: long.spec.clone(),
        })
        .collect();
    let got = state.apply(2, &put(Object::App(long)));
    assert!(matches!(
        got,
        Response::Invalid {
            reason: Rejection::AppHistoryTooLong { .. }
        }
    ));
}

#[test]
fn an_app_keeps_a_bounded_history_for_rollback() {
    let mut app = App::new(
        name("dev"),
        name("shop"),
        app_spec("dev", "shop", "web:0"),
        1,
    );
    for generation in 2..=15 {
        let image = format!("web:{}", generation - 1);
        app.push_spec(app_spec("dev", "shop", &image), generation);
    }
    assert_eq!(app.spec_revision, 15);
    assert_eq!(app.spec.services["web"].image, "web:14");
    let kept: Vec<u64> = app.history.iter().map(|h| h.spec_revision).collect();
    assert_eq!(kept, (5..=14).collect::<Vec<_>>());
    assert_eq!(app.history[0].spec.services["web"].image, "web:4");
    let mut state = State::new();
    assert!(state.apply(1, &put(env("dev"))).is_ok());
    assert!(state.apply(2, &put(Object::App(app))).is_ok());
}

fn no_such_env(at: &str, env: &str) -> Response {
    Response::Invalid {
        reason: Rejection::NoSuchEnvironment {
            key: key(at),
            env: name(env),
        },
    }
}

fn not_empty(env: &str, holds: &str) -> Response {
    Response::Invalid {
        reason: Rejection::EnvironmentNotEmpty {
            key: key(&format!("/envs/{env}")),
            holds: key(holds),
        },
    }
}

#[test]
fn objects_of_an_environment_need_it_to_exist() {
    let mut state = State::new();
    let txn = |ops: Vec<Op>| Command::Txn { ops };
    run(
        &mut state,
        vec![
            (
                1,
                put(app("dev", "shop")),
                no_such_env("/apps/dev/shop", "dev"),
            ),
            (
                2,
                put(service("dev", "shop", "web")),
                no_such_env("/services/dev/shop/web", "dev"),
            ),
            (
                3,
                put(secret("dev", "pw")),
                no_such_env("/secrets/dev/pw", "dev"),
            ),
            (
                4,
                put(config("dev", "c")),
                no_such_env("/configs/dev/c", "dev"),
            ),
            // Tasks and nodes belong to no environment the state checks.
            (5, put(task("t1", Running)), ok(5, &[None])),
            (6, put(node("n1")), ok(6, &[None])),
            // Rules see the earlier ops: the environment made in the same transaction counts…
            (
                7,
                txn(vec![
                    Op::put(env("dev"), Expect::Absent),
                    Op::put(app("dev", "shop"), Expect::Absent),
                ]),
                ok(7, &[None, None]),
            ),
            // …and so does one deleted earlier in it.
            (
                8,
                txn(vec![
                    Op::put(env("qa"), Expect::Absent),
                    Op::Delete {
                        key: key("/envs/qa"),
                        expect: Expect::Any,
                    },
                    Op::put(secret("qa", "pw"), Expect::Any),
                ]),
                no_such_env("/secrets/qa/pw", "qa"),
            ),
        ],
    );
    assert!(state.get(&key("/envs/qa")).is_none());
    assert_eq!(state.len(), 4);
}

#[test]
fn an_environment_is_deleted_only_when_empty() {
    let mut state = State::new();
    let del = |text: &str| delete(text, Expect::Any);
    run(
        &mut state,
        vec![
            (1, put(env("dev")), ok(1, &[None])),
            (2, put(env("dev2")), ok(2, &[None])),
            (3, put(app("dev", "shop")), ok(3, &[None])),
            (4, put(service("dev", "shop", "web")), ok(4, &[None])),
            (5, put(secret("dev", "pw")), ok(5, &[None])),
            (6, put(app("dev2", "blog")), ok(6, &[None])),
            (7, del("/envs/dev"), not_empty("dev", "/apps/dev/shop")),
            (8, del("/apps/dev/shop"), ok(8, &[Some(3)])),
            (
                9,
                del("/envs/dev"),
                not_empty("dev", "/services/dev/shop/web"),
            ),
            (10, del("/services/dev/shop/web"), ok(10, &[Some(4)])),
            (11, del("/envs/dev"), not_empty("dev", "/secrets/dev/pw")),
            // Emptying it in the same transaction, before the delete, is enough; `dev2`'s app
            // (a key that shares the prefix text) does not count.
            (
                12,
                Command::Txn {
                    ops: vec![
                        Op::Delete {
                            key: key("/secrets/dev/pw"),
                            expect: Expect::Revision(5),
                        },
                        Op::Delete {
                            key: key("/envs/dev"),
                            expect: Expect::Revision(1),
                        },
                    ],
                },
                ok(12, &[Some(5), Some(1)]),
            ),
            // An object put back in the same transaction before the delete still counts.
            (
                13,
                Command::Txn {
                    ops: vec![
                        Op::put(config("dev2", "c"), Expect::Absent),
                        Op::Delete {
                            key: key("/apps/dev2/blog"),
                            expect: Expect::Any,
                        },
                        Op::Delete {
                            key: key("/envs/dev2"),
                            expect: Expect::Any,
                        },
                    ],
                },
                not_empty("dev2", "/configs/dev2/c"),
            ),
        ],
    );
    assert!(state.get(&key("/envs/dev")).is_none());
    assert!(state.get(&key("/envs/dev2")).is_some());
    let Response::Invalid { reason } = not_empty("dev", "/apps/dev/shop") else {
        unreachable!()
    };
    assert_eq!(
        reason.to_string(),
        "/envs/dev: the environment still holds /apps/dev/shop; \
         delete its apps, secrets and configs first"
    );
}
