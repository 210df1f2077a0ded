use super::*;

/// Revisions and kinds of events, for compact comparisons.
fn summary(events: &[Event]) -> Vec<(u64, String, EventKind)> {
    events
        .iter()
        .map(|e| (e.revision, e.key.to_string(), e.kind))
        .collect()
}

#[test]
fn watchers_get_every_change_after_their_revision_in_order() {
    let mut state = State::new();
    run(
        &mut state,
        vec![
            (1, put(env("dev")), ok(1, &[None])),
            (2, put(node("n1")), ok(2, &[None])),
            (
                3,
                put_if(env("dev"), Expect::Absent),
                conflict("/envs/dev", Expect::Absent, Found::Revision(1)),
            ),
            (4, delete("/nodes/n1", Expect::Any), ok(4, &[Some(2)])),
            (5, delete("/nodes/n1", Expect::Any), ok(5, &[None])),
            (
                6,
                Command::Txn {
                    ops: vec![
                        Op::put(env("qa"), Expect::Any),
                        Op::put(secret("qa", "s"), Expect::Any),
                    ],
                },
                ok(6, &[None, None]),
            ),
        ],
    );
    let all = [
        (1, "/envs/dev".to_owned(), EventKind::Put),
        (2, "/nodes/n1".to_owned(), EventKind::Put),
        (4, "/nodes/n1".to_owned(), EventKind::Delete),
        (6, "/envs/qa".to_owned(), EventKind::Put),
        (6, "/secrets/qa/s".to_owned(), EventKind::Put),
    ];
    let cases: &[(u64, usize)] = &[
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 2),
        (4, 3),
        (5, 3),
        (6, 5),
        (99, 5),
    ];
    for &(since, skip) in cases {
        let got = state.events_since(since).unwrap();
        assert_eq!(summary(&got), all[skip..].to_vec(), "since {since}");
    }
    let events = state.events_since(0).unwrap();
    assert_eq!(events[0].object, Some(env("dev")));
    // A delete carries the object it removed (the node as put at revision 2).
    assert_eq!(events[2].object, Some(node("n1")));
}

#[test]
fn a_watcher_behind_the_history_is_told_to_relist() {
    let mut state = State::new().with_history_limit(3);
    for rev in 1..=5 {
        run(
            &mut state,
            vec![(rev, put(env("dev")), ok(rev, &[(rev > 1).then(|| rev - 1)]))],
        );
    }
    // Events 3, 4 and 5 are kept; a watch from 2 or later misses nothing.
    assert_eq!(state.history_len(), 3);
    assert_eq!(state.oldest_watchable(), 2);
    for since in [0, 1] {
        assert_eq!(
            state.events_since(since),
            Err(Compacted { oldest: 2 }),
            "since {since}"
        );
    }
    let revisions = |since| -> Vec<u64> {
        state
            .events_since(since)
            .unwrap()
            .iter()
            .map(|e| e.revision)
            .collect()
    };
    assert_eq!(revisions(2), [3, 4, 5]);
    assert_eq!(revisions(4), [5]);
    assert_eq!(revisions(5), Vec::<u64>::new());
    let message = Compacted { oldest: 2 }.to_string();
    assert!(message.contains("re-list"), "{message}");
}

#[test]
fn a_transaction_cut_by_the_limit_is_never_half_delivered() {
    let mut state = State::new().with_history_limit(2);
    let txn = Command::Txn {
        ops: vec![
            Op::put(env("a"), Expect::Any),
            Op::put(env("b"), Expect::Any),
            Op::put(env("c"), Expect::Any),
        ],
    };
    run(&mut state, vec![(7, txn, ok(7, &[None, None, None]))]);
    // One event of revision 7 was dropped: a watch from before 7 must re-list.
    assert_eq!(state.events_since(6), Err(Compacted { oldest: 7 }));
    assert_eq!(state.events_since(7), Ok(vec![]));
}

#[test]
fn a_history_of_zero_keeps_nothing_and_says_so() {
    let mut state = State::new().with_history_limit(0);
    run(&mut state, vec![(1, put(env("dev")), ok(1, &[None]))]);
    assert_eq!(state.events_since(0), Err(Compacted { oldest: 1 }));
    assert_eq!(state.events_since(1), Ok(vec![]));
}

#[test]
fn shrinking_the_limit_compacts_at_once() {
    let mut state = State::new();
    for rev in 1..=4 {
        run(
            &mut state,
            vec![(rev, put(env("dev")), ok(rev, &[(rev > 1).then(|| rev - 1)]))],
        );
    }
    let state = state.with_history_limit(1);
    assert_eq!(state.events_since(2), Err(Compacted { oldest: 3 }));
    assert_eq!(state.events_since(3).unwrap().len(), 1);
}
