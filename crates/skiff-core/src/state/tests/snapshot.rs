use super::*;

fn full_state() -> State {
    let mut state = State::new();
    let ops = one_of_each()
        .into_iter()
        .map(|o| Op::put(o, Expect::Absent))
        .collect();
    run(
        &mut state,
        vec![(4, Command::Txn { ops }, ok(4, &[None; 7]))],
    );
    run(&mut state, vec![(9, put(node("n1")), ok(9, &[Some(4)]))]);
    state
}

#[test]
fn a_snapshot_round_trips_every_kind_of_object() {
    let state = full_state();
    let bytes = state.to_snapshot();
    assert_eq!(bytes[0], SNAPSHOT_FORMAT);
    let restored = State::from_snapshot(&bytes).unwrap();
    assert_eq!(restored.revision(), 9);
    assert_eq!(restored.list(""), state.list(""));
    assert_eq!(restored.len(), 7);
    assert_eq!(restored.to_snapshot(), bytes);
    let node = restored.get(&key("/nodes/n1")).unwrap();
    assert_eq!((node.create_revision, node.mod_revision), (4, 9));
}

#[test]
fn a_restored_state_watches_from_its_revision_and_applies_on() {
    let mut restored = State::from_snapshot(&full_state().to_snapshot()).unwrap();
    assert_eq!(restored.events_since(8), Err(Compacted { oldest: 9 }));
    assert_eq!(restored.events_since(9), Ok(vec![]));
    let stale = Response::Invalid {
        reason: Rejection::StaleRevision {
            revision: 9,
            applied: 9,
        },
    };
    run(
        &mut restored,
        vec![
            (9, put(env("qa")), stale),
            (
                10,
                put_if(env("dev"), Expect::Revision(4)),
                ok(10, &[Some(4)]),
            ),
        ],
    );
    assert_eq!(restored.events_since(9).unwrap().len(), 1);
}

#[test]
fn corrupt_snapshots_are_refused_with_a_clear_error() {
    let good = full_state().to_snapshot();
    let body = |json: &str| [&[SNAPSHOT_FORMAT][..], json.as_bytes()].concat();
    let env_record = |key: &str, name: &str, create: u64, modified: u64| {
        format!(
            r#"{{"key":"{key}","object":{{"environment":{{"name":"{name}"}}}},"create_revision":{create},"mod_revision":{modified}}}"#
        )
    };
    let one = |record: String| body(&format!(r#"{{"revision":5,"records":[{record}]}}"#));
    let dup = env_record("/envs/dev", "dev", 1, 1);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "the snapshot is empty"),
        (
            "future format",
            [&[2u8][..], &good[1..]].concat(),
            "format 2 is not supported",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "corrupt"),
        ("not json", body("\u{0}\u{1}garbage"), "corrupt"),
        (
            "unknown field",
            body(r#"{"revision":1,"records":[],"extra":1}"#),
            "unknown field",
        ),
        (
            "bad key",
            one(env_record("/envs/..", "dev", 1, 1)),
            "not a valid name",
        ),
        (
            "misplaced",
            one(env_record("/envs/qa", "dev", 1, 1)),
            "belongs at /envs/dev",
        ),
        (
            "future revision",
            one(env_record("/envs/dev", "dev", 1, 6)),
            "beyond the snapshot's",
        ),
        (
            "zero revision",
            one(env_record("/envs/dev", "dev", 0, 1)),
            "revisions 0/1",
        ),
        (
            "created after modified",
            one(env_record("/envs/dev", "dev", 3, 2)),
            "out of order",
        ),
        (
            "duplicate",
            body(&format!(r#"{{"revision":5,"records":[{dup},{dup}]}}"#)),
            "appears twice",
        ),
    ];
    for (what, bytes, want) in cases {
        let err = State::from_snapshot(&bytes).expect_err(what);
        assert!(err.to_string().contains(want), "{what}: {err}");
    }
}

#[test]
fn replicas_applying_the_same_log_agree_byte_for_byte() {
    let log: Vec<(u64, Command)> = vec![
        (1, put(env("dev"))),
        (2, put(app("dev", "shop"))),
        (3, put_if(env("dev"), Expect::Absent)),
        (4, put(task("t2", TaskState::Pending))),
        (5, put(task("t1", TaskState::Pending))),
        (6, delete("/envs/dev", Expect::Revision(1))),
        (7, put(task("t2", TaskState::Assigned))),
    ];
    let replay = || {
        let mut state = State::new();
        let responses: Vec<Response> = log
            .iter()
            .map(|(rev, cmd)| state.apply(*rev, cmd))
            .collect();
        (
            state.to_snapshot(),
            responses,
            state.events_since(0).unwrap(),
        )
    };
    assert_eq!(replay(), replay());
}
