//! Small histories whose verdict is known by hand.

use super::*;

#[test]
fn sequential_history_is_linearizable() {
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 10), ok(1))
        .ret(1, "k", Op::Get, (20, 30), found("a", 1))
        .ret(1, "k", cas(Some(1), "b"), (40, 50), ok(2))
        .ret(1, "k", cas(Some(1), "c"), (60, 70), conflict(Some(2)))
        .ret(1, "k", Op::Get, (80, 90), found("b", 2))
        .ret(1, "k", Op::Delete, (100, 110), ok(3))
        .ret(1, "k", Op::Get, (120, 130), OpResult::Absent)
        .ret(1, "k", cas(Some(3), "d"), (140, 150), conflict(None))
        .ret(1, "k", cas(None, "d"), (160, 170), ok(4))
        .ret(1, "k", Op::Delete, (180, 190), ok(5))
        .ret(1, "k", Op::Delete, (200, 210), ok(6));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn overlapping_writes_may_take_effect_in_either_order() {
    // `a` was called first but has the larger revision: `b` went first. The reads pin down
    // when each took effect.
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 100), ok(5))
        .ret(2, "k", put("b"), (10, 50), ok(3))
        .ret(3, "k", Op::Get, (5, 60), found("b", 3))
        .ret(2, "k", Op::Get, (60, 70), found("b", 3))
        .ret(4, "k", Op::Get, (65, 200), found("a", 5))
        .ret(2, "k", Op::Get, (120, 130), found("a", 5));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn a_read_may_see_a_write_that_has_not_returned_yet() {
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 10), ok(1))
        .ret(1, "k", put("b"), (20, 100), ok(2))
        .ret(2, "k", Op::Get, (30, 40), found("b", 2))
        .ret(3, "k", Op::Get, (25, 90), found("a", 1));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn racing_cas_one_wins_the_other_conflicts() {
    let b = Build::default()
        .ret(1, "k", cas(None, "a"), (0, 10), ok(1))
        .ret(1, "k", cas(Some(1), "x"), (20, 60), conflict(Some(2)))
        .ret(2, "k", cas(Some(1), "y"), (25, 50), ok(2))
        .ret(3, "k", Op::Get, (30, 70), found("y", 2));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn keys_are_independent_but_share_revisions() {
    let b = Build::default()
        .ret(1, "x", put("a"), (0, 50), ok(2))
        .ret(2, "y", put("b"), (0, 50), ok(1))
        .ret(1, "y", Op::Get, (60, 70), found("b", 1))
        .ret(2, "x", Op::Get, (60, 70), found("a", 2))
        .ret(1, "y", put("c"), (80, 90), ok(7))
        .ret(2, "x", put("d"), (80, 90), ok(6));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn an_unknown_write_that_took_effect_is_accepted() {
    // The write never answered, yet a later read sees it (revealing its revision).
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 10), ok(1))
        .unknown(2, "k", put("b"), 20)
        .ret(1, "k", Op::Get, (30, 40), found("a", 1))
        .ret(1, "k", Op::Get, (50, 60), found("b", 4))
        .ret(3, "k", cas(Some(4), "c"), (70, 80), ok(6));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn an_unknown_write_that_never_took_effect_is_accepted() {
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 10), ok(1))
        .unknown(2, "k", put("b"), 20)
        .unknown(2, "k", cas(Some(9), "z"), 25)
        .unknown(2, "k", Op::Delete, 26)
        .ret(1, "k", Op::Get, (30, 40), found("a", 1))
        .ret(1, "k", cas(Some(1), "c"), (50, 60), ok(3))
        .ret(1, "k", Op::Get, (70, 80), found("c", 3));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn an_unknown_write_may_land_between_acknowledged_ones() {
    // `b` has no answer; a read shows it after the write at 5 and before the one at 9.
    let b = Build::default()
        .unknown(1, "k", put("b"), 0)
        .ret(2, "k", put("a"), (10, 20), ok(5))
        .ret(2, "k", Op::Get, (30, 40), found("b", 7))
        .ret(3, "k", Op::Get, (30, 40), found("b", 7))
        .ret(2, "k", put("c"), (50, 60), ok(9))
        .unknown(3, "k", Op::Get, 70);
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn a_conflict_may_reveal_an_unknown_writes_revision() {
    let b = Build::default()
        .unknown(1, "k", cas(None, "a"), 0)
        .ret(2, "k", cas(None, "b"), (10, 20), conflict(Some(3)))
        .ret(2, "k", cas(Some(3), "b"), (30, 40), ok(4));
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn a_stale_read_after_an_acknowledged_write_is_a_violation() {
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 10), ok(1))
        .ret(1, "k", put("b"), (20, 30), ok(2))
        .ret(2, "k", Op::Get, (40, 50), found("a", 1));
    assert_violation(
        b.verdict(),
        Some("k"),
        &["#2 client 2", "called 40ns, returned 50ns"],
    );
}

#[test]
fn a_lost_acknowledged_write_is_a_violation() {
    let b = Build::default().ret(1, "k", put("a"), (0, 10), ok(3)).ret(
        2,
        "k",
        Op::Get,
        (20, 30),
        OpResult::Absent,
    );
    assert_violation(b.verdict(), Some("k"), &["Absent", "needs the key absent"]);
}

#[test]
fn a_write_overwritten_then_seen_again_is_a_violation() {
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 100), ok(5))
        .ret(2, "k", put("b"), (10, 20), ok(3))
        .ret(3, "k", Op::Get, (30, 40), found("b", 3))
        .ret(3, "k", Op::Get, (50, 60), found("a", 5))
        .ret(3, "k", Op::Get, (70, 80), found("b", 3));
    assert_violation(b.verdict(), Some("k"), &["#4"]);
}

#[test]
fn two_acknowledged_writes_of_one_key_with_one_revision_are_a_violation() {
    let b = Build::default().ret(1, "x", put("a"), (0, 10), ok(4)).ret(
        2,
        "x",
        put("b"),
        (0, 10),
        ok(4),
    );
    assert_violation(b.verdict(), None, &["same revision 4", "#0", "#1"]);
}

#[test]
fn concurrent_writes_of_two_keys_may_share_a_revision() {
    // One log entry carries both: they share its index.
    let b = Build::default()
        .ret(1, "x", put("a"), (0, 10), ok(4))
        .ret(2, "y", put("b"), (0, 10), ok(4))
        .ret(1, "x", Op::Get, (20, 30), found("a", 4))
        .ret(2, "y", Op::Get, (20, 30), found("b", 4));
    assert!(b.verdict().is_ok(), "{}", b.verdict());
}

#[test]
fn a_smaller_revision_after_a_returned_write_is_a_violation() {
    let b = Build::default().ret(1, "x", put("a"), (0, 10), ok(5)).ret(
        2,
        "y",
        put("b"),
        (20, 30),
        ok(3),
    );
    assert_violation(b.verdict(), None, &["smaller revision", "#0", "#1"]);
}

#[test]
fn a_cas_against_a_stale_revision_is_a_violation() {
    let b = Build::default()
        .ret(1, "k", put("a"), (0, 10), ok(1))
        .ret(1, "k", put("b"), (20, 30), ok(2))
        .ret(2, "k", cas(Some(1), "c"), (40, 50), ok(3));
    assert_violation(b.verdict(), Some("k"), &["not at rev 1"]);
}

#[test]
fn a_refused_cas_that_should_have_succeeded_is_a_violation() {
    let b = Build::default().ret(1, "k", put("a"), (0, 10), ok(1)).ret(
        2,
        "k",
        cas(Some(1), "c"),
        (20, 30),
        conflict(Some(1)),
    );
    assert_violation(b.verdict(), Some("k"), &["refused, yet"]);
}

#[test]
fn a_read_of_a_value_never_written_is_a_violation() {
    let b = Build::default().ret(1, "k", put("a"), (0, 10), ok(1)).ret(
        2,
        "k",
        Op::Get,
        (20, 30),
        found("ghost", 1),
    );
    assert_violation(
        b.verdict(),
        Some("k"),
        &["\"ghost\"", "no write on the key stored"],
    );
}

#[test]
fn an_unknown_write_read_at_two_revisions_is_a_violation() {
    let b = Build::default()
        .unknown(1, "k", put("a"), 0)
        .ret(2, "k", Op::Get, (10, 20), found("a", 7))
        .ret(2, "k", Op::Get, (30, 40), found("a", 8));
    assert_violation(b.verdict(), Some("k"), &["not at rev 8"]);
}

#[test]
fn malformed_histories_are_refused() {
    let backwards = Build::default().ret(1, "k", put("a"), (10, 5), ok(1));
    assert_eq!(
        backwards.0.check(),
        Err(HistoryError::ReturnBeforeCall {
            index: 0,
            call: 10,
            ret: 5
        })
    );
    let misfit = Build::default().ret(1, "k", Op::Get, (0, 5), ok(1));
    assert!(matches!(
        misfit.0.check(),
        Err(HistoryError::ResultDoesNotFit { index: 0, .. })
    ));
}

#[test]
fn a_tiny_budget_is_inconclusive_not_a_hang() {
    let mut b = Build::default();
    for i in 0..20 {
        b = b.ret(
            i,
            "k",
            put(&format!("v{i}")),
            (0, 100),
            ok(u64::from(i) + 1),
        );
    }
    b = b.ret(99, "k", Op::Get, (200, 210), found("v19", 20));
    let verdict = Checker { steps_per_key: 5 }.check(&b.0).unwrap();
    assert_eq!(
        verdict,
        Verdict::Inconclusive {
            keys: vec!["k".to_owned()]
        }
    );
    assert_eq!(b.verdict(), Verdict::Ok);
}

#[test]
fn the_recorder_builds_a_history() {
    let rec = Recorder::new();
    let write = rec.call(1, "k", put("a"));
    let get = rec.call(2, "k", Op::Get);
    rec.ret(write, ok(1));
    rec.ret(get, found("a", 1));
    let lost = rec.call(1, "k", Op::Delete);
    let refused = rec.call(1, "k", put("b"));
    let _pending = rec.call(2, "k", Op::Get);
    rec.unknown(lost);
    rec.refused(refused);
    let history = rec.history();
    assert_eq!(history.operations.len(), 4);
    assert!(history.operations[0].call <= history.operations[1].call);
    assert_eq!(history.operations[3].outcome, Outcome::Unknown);
    assert_eq!(history.check(), Ok(Verdict::Ok));
    let json = serde_json::to_string(&history).unwrap();
    assert_eq!(serde_json::from_str::<History>(&json).unwrap(), history);
}
