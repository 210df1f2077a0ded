use super::*;

#[test]
fn puts_and_deletes_track_create_and_mod_revisions() {
    let mut state = State::new();
    run(
        &mut state,
        vec![
            (3, put(env("dev")), ok(3, &[None])),
            (5, put(env("dev")), ok(5, &[Some(3)])),
            (6, put(node("n1")), ok(6, &[None])),
            (7, delete("/envs/dev", Expect::Any), ok(7, &[Some(5)])),
            (8, delete("/envs/dev", Expect::Any), ok(8, &[None])),
            (9, put(env("dev")), ok(9, &[None])),
        ],
    );
    let record = state.get(&key("/envs/dev")).unwrap();
    assert_eq!((record.create_revision, record.mod_revision), (9, 9));
    assert_eq!(record.object, env("dev"));
    let record = state.get(&key("/nodes/n1")).unwrap();
    assert_eq!((record.create_revision, record.mod_revision), (6, 6));
    assert_eq!(state.revision(), 9);
    assert_eq!(state.len(), 2);
}

#[test]
fn compare_and_swap() {
    let mut state = State::new();
    let dev = "/envs/dev";
    run(
        &mut state,
        vec![
            (
                1,
                put_if(env("dev"), Expect::Revision(1)),
                conflict(dev, Expect::Revision(1), Found::Absent),
            ),
            (2, put_if(env("dev"), Expect::Absent), ok(2, &[None])),
            (
                3,
                put_if(env("dev"), Expect::Absent),
                conflict(dev, Expect::Absent, Found::Revision(2)),
            ),
            (
                4,
                put_if(env("dev"), Expect::Revision(1)),
                conflict(dev, Expect::Revision(1), Found::Revision(2)),
            ),
            (
                5,
                put_if(env("dev"), Expect::Revision(2)),
                ok(5, &[Some(2)]),
            ),
            // A second writer that read revision 2 loses.
            (
                6,
                put_if(env("dev"), Expect::Revision(2)),
                conflict(dev, Expect::Revision(2), Found::Revision(5)),
            ),
            (
                7,
                delete(dev, Expect::Revision(2)),
                conflict(dev, Expect::Revision(2), Found::Revision(5)),
            ),
            (
                8,
                delete(dev, Expect::Absent),
                conflict(dev, Expect::Absent, Found::Revision(5)),
            ),
            (9, delete(dev, Expect::Revision(5)), ok(9, &[Some(5)])),
            (
                10,
                delete(dev, Expect::Revision(5)),
                conflict(dev, Expect::Revision(5), Found::Absent),
            ),
            (11, delete(dev, Expect::Absent), ok(11, &[None])),
        ],
    );
    assert!(state.get(&key(dev)).is_none());
    // Refused commands still count as applied.
    assert_eq!(state.revision(), 11);
}

#[test]
fn stale_revisions_are_refused_without_a_panic() {
    let mut state = State::new();
    let stale = |revision, applied| Response::Invalid {
        reason: Rejection::StaleRevision { revision, applied },
    };
    run(
        &mut state,
        vec![
            (0, put(env("dev")), stale(0, 0)),
            (5, put(env("dev")), ok(5, &[None])),
            (5, put(env("qa")), stale(5, 5)),
            (4, put(env("qa")), stale(4, 5)),
            (6, put(env("qa")), ok(6, &[None])),
        ],
    );
    assert_eq!(state.revision(), 6);
    assert_eq!(state.len(), 2);
}

#[test]
fn a_transaction_applies_every_op_at_one_revision() {
    let mut state = State::new();
    run(&mut state, vec![(1, put(env("dev")), ok(1, &[None]))]);
    let txn = Command::Txn {
        ops: vec![
            Op::put(env("dev"), Expect::Revision(1)),
            Op::put(app("dev", "shop"), Expect::Absent),
            Op::put(service("dev", "shop", "web"), Expect::Absent),
            Op::Delete {
                key: key("/nodes/gone"),
                expect: Expect::Any,
            },
        ],
    };
    run(
        &mut state,
        vec![(2, txn, ok(2, &[Some(1), None, None, None]))],
    );
    for text in ["/envs/dev", "/apps/dev/shop", "/services/dev/shop/web"] {
        assert_eq!(state.get(&key(text)).unwrap().mod_revision, 2, "{text}");
    }
    assert_eq!(state.get(&key("/envs/dev")).unwrap().create_revision, 1);
    let events = state.events_since(1).unwrap();
    let keys: Vec<String> = events.iter().map(|e| e.key.to_string()).collect();
    assert_eq!(
        keys,
        ["/envs/dev", "/apps/dev/shop", "/services/dev/shop/web"]
    );
    assert!(events.iter().all(|e| e.revision == 2));
}

/// A state with an environment, an app and a running task, at revision 3.
fn populated() -> State {
    let mut state = State::new();
    run(
        &mut state,
        vec![
            (1, put(env("dev")), ok(1, &[None])),
            (2, put(app("dev", "shop")), ok(2, &[None])),
            (3, put(task("t1", TaskState::Running)), ok(3, &[None])),
        ],
    );
    state
}

#[test]
fn a_failing_transaction_leaves_no_trace() {
    let backward = Response::Invalid {
        reason: Rejection::TaskStateBackward {
            key: key("/tasks/t1"),
            from: TaskState::Running,
            to: TaskState::Pending,
        },
    };
    let cases: Vec<(&str, Vec<Op>, Response)> = vec![
        (
            "the last expectation fails",
            vec![
                Op::put(env("qa"), Expect::Absent),
                Op::Delete {
                    key: key("/apps/dev/shop"),
                    expect: Expect::Any,
                },
                Op::put(env("dev"), Expect::Absent),
            ],
            conflict("/envs/dev", Expect::Absent, Found::Revision(1)),
        ),
        (
            "the first expectation fails",
            vec![
                Op::put(env("dev"), Expect::Revision(2)),
                Op::put(env("qa"), Expect::Absent),
            ],
            conflict("/envs/dev", Expect::Revision(2), Found::Revision(1)),
        ),
        (
            "the last op breaks a rule",
            vec![
                Op::put(env("qa"), Expect::Absent),
                Op::Delete {
                    key: key("/apps/dev/shop"),
                    expect: Expect::Revision(2),
                },
                Op::put(task("t1", TaskState::Pending), Expect::Any),
            ],
            backward,
        ),
    ];
    for (what, ops, want) in cases {
        let mut state = populated();
        let before = state.to_snapshot();
        let got = state.apply(4, &Command::Txn { ops });
        assert_eq!(got, want, "{what}");
        assert_eq!(state.revision(), 4, "{what}");
        assert_eq!(state.events_since(3).unwrap(), vec![], "{what}: no events");
        // Nothing changed but the applied revision.
        let mut after = State::from_snapshot(&state.to_snapshot()).unwrap();
        let mut expected = State::from_snapshot(&before).unwrap();
        run(
            &mut after,
            vec![(5, Command::Txn { ops: vec![] }, ok(5, &[]))],
        );
        run(
            &mut expected,
            vec![(5, Command::Txn { ops: vec![] }, ok(5, &[]))],
        );
        assert_eq!(after.to_snapshot(), expected.to_snapshot(), "{what}");
    }
}

#[test]
fn expectations_see_the_state_before_the_transaction_and_rules_see_earlier_ops() {
    let mut state = populated();
    // Both puts expect the key absent, as it was before the transaction; the second wins.
    let txn = Command::Txn {
        ops: vec![
            Op::put(env("qa"), Expect::Absent),
            Op::put(env("qa"), Expect::Absent),
        ],
    };
    run(&mut state, vec![(4, txn, ok(4, &[None, None]))]);
    assert_eq!(state.events_since(3).unwrap().len(), 2);
    // Deleting a task then putting it again starts it afresh: no backward move.
    let txn = Command::Txn {
        ops: vec![
            Op::Delete {
                key: key("/tasks/t1"),
                expect: Expect::Revision(3),
            },
            Op::put(task("t1", TaskState::Pending), Expect::Revision(3)),
        ],
    };
    run(&mut state, vec![(5, txn, ok(5, &[Some(3), Some(3)]))]);
    let record = state.get(&key("/tasks/t1")).unwrap();
    assert_eq!((record.create_revision, record.mod_revision), (5, 5));
}

#[test]
fn an_object_must_live_at_its_own_key() {
    let mut state = State::new();
    let cases = [
        ("/envs/qa", env("dev"), "/envs/dev"),
        ("/nodes/dev", env("dev"), "/envs/dev"),
    ];
    for (i, (at, object, belongs)) in cases.into_iter().enumerate() {
        let command = Command::Put {
            key: key(at),
            object,
            expect: Expect::Any,
        };
        let want = Response::Invalid {
            reason: Rejection::KeyMismatch {
                key: key(at),
                object_key: key(belongs),
            },
        };
        assert_eq!(state.apply(i as u64 + 1, &command), want);
    }
    assert!(state.is_empty());
}

#[test]
fn a_check_is_a_precondition_that_writes_nothing() {
    let mut state = populated();
    let check = |text: &str, expect| Op::Check {
        key: key(text),
        expect,
    };
    let txn = |ops: Vec<Op>| Command::Txn { ops };
    run(
        &mut state,
        vec![
            (
                4,
                txn(vec![
                    check("/envs/dev", Expect::Revision(1)),
                    check("/envs/qa", Expect::Absent),
                    Op::put(secret("dev", "pw"), Expect::Absent),
                ]),
                ok(4, &[Some(1), None, None]),
            ),
            // The environment changed since revision 1 was read: the write does not happen.
            (5, put(env("dev")), ok(5, &[Some(1)])),
            (
                6,
                txn(vec![
                    check("/envs/dev", Expect::Revision(1)),
                    Op::put(config("dev", "c"), Expect::Absent),
                ]),
                conflict("/envs/dev", Expect::Revision(1), Found::Revision(5)),
            ),
        ],
    );
    let events = state.events_since(3).unwrap();
    let keys: Vec<String> = events.iter().map(|e| e.key.to_string()).collect();
    assert_eq!(
        keys,
        ["/secrets/dev/pw", "/envs/dev"],
        "checks record no event"
    );
    assert_eq!(state.get(&key("/envs/dev")).unwrap().mod_revision, 5);
    // A check round-trips through the log's JSON.
    let op = check("/envs/dev", Expect::Revision(5));
    let json = serde_json::to_string(&op).unwrap();
    assert_eq!(
        json,
        r#"{"check":{"key":"/envs/dev","expect":{"revision":5}}}"#
    );
    assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
}
