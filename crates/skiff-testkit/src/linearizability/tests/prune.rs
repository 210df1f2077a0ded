//! Which unanswered writes the search may leave out.

use std::collections::HashSet;

use super::super::model::{Guard, Step};
use super::super::prune::needed;
use super::super::wgl::KeyOp;
use super::*;

fn answered(step: Step, call: u64, ret: u64) -> KeyOp {
    KeyOp {
        step,
        call,
        ret: Some(ret),
    }
}

fn unanswered(step: Step, call: u64) -> KeyOp {
    KeyOp {
        step,
        call,
        ret: None,
    }
}

fn write(guard: Guard, value: Option<u32>, revision: Option<u64>) -> Step {
    Step::Write {
        guard,
        value,
        revision,
    }
}

fn read(found: Option<(u32, u64)>) -> Step {
    Step::Read { found }
}

#[test]
fn an_unknown_write_nobody_could_see_is_left_out() {
    let reported = HashSet::from([1, 5]);
    let ops = [
        answered(write(Guard::Always, Some(0), Some(1)), 0, 10),
        unanswered(write(Guard::Always, Some(1), None), 20),
        // Reads of reported revisions, or of absence, say nothing about a put.
        answered(read(Some((0, 1))), 30, 40),
        answered(read(None), 50, 60),
        answered(write(Guard::Revision(1), Some(2), Some(5)), 70, 80),
    ];
    assert_eq!(needed(&ops, &reported), [true, false, true, true, true]);
}

#[test]
fn an_unknown_write_whose_value_or_revision_was_seen_stays() {
    let reported = HashSet::from([1]);
    let ops = [
        unanswered(write(Guard::Always, Some(1), None), 0),
        unanswered(write(Guard::Always, Some(2), None), 0),
        unanswered(write(Guard::Always, Some(3), None), 0),
        // Value 1 at an unreported revision: only a write of value 1 can explain it.
        answered(read(Some((1, 4))), 30, 40),
        // A conflict that found revision 4 names no value, but a read tied 4 to value 1.
        answered(
            Step::Refused {
                expected: None,
                found: Some(4),
            },
            50,
            60,
        ),
        // Revision 7, seen with no value: any write could have made it.
        answered(
            Step::Refused {
                expected: None,
                found: Some(7),
            },
            50,
            60,
        ),
    ];
    assert_eq!(
        needed(&ops, &reported),
        [true, true, true, true, true, true]
    );
    assert_eq!(
        needed(&ops[..5], &reported),
        [true, false, false, true, true]
    );
}

#[test]
fn an_unknown_delete_stays_if_absence_was_seen_after_its_call() {
    let reported = HashSet::new();
    let delete = unanswered(write(Guard::Always, None, None), 100);
    let before = answered(read(None), 0, 50);
    let after = answered(read(None), 90, 150);
    assert_eq!(needed(&[delete.clone(), before], &reported), [false, true]);
    assert_eq!(needed(&[delete, after], &reported), [true, true]);
}

#[test]
fn an_unknown_cas_observes_only_if_it_is_needed() {
    let reported = HashSet::new();
    let put = unanswered(write(Guard::Always, Some(1), None), 0);
    let cas = unanswered(write(Guard::Revision(7), Some(2), None), 5);
    let read_cas = answered(read(Some((2, 9))), 20, 30);
    assert_eq!(
        needed(&[put.clone(), cas.clone()], &reported),
        [false, false]
    );
    assert_eq!(needed(&[put, cas, read_cas], &reported), [true, true, true]);
}

#[test]
fn many_unread_unknown_writes_cost_nothing() {
    // Each round: two writes time out, one is acknowledged, six clients read. No one reads what
    // the timed-out writes wrote, except every fifth round, when a third one that timed out is
    // what the readers see. There the search must try the writes with no answer, and without
    // pruning it would try all of them, each fitting, over and over.
    let mut b = Build::default();
    for round in 0..100u64 {
        let (at, revision) = (round * 100, round * 3 + 1);
        let mut seen = (format!("v{round}"), revision);
        b = b
            .unknown(0, "k", put(&format!("lost{round}")), at)
            .unknown(1, "k", put(&format!("lost{round}b")), at + 5)
            .ret(2, "k", put(&seen.0), (at + 1, at + 20), ok(revision));
        if round % 5 == 0 {
            seen = (format!("seen{round}"), revision + 1);
            b = b.unknown(9, "k", put(&seen.0), at + 21);
        }
        for client in 3..9 {
            let call = at + 30 + u64::from(client);
            b = b.ret(
                client,
                "k",
                Op::Get,
                (call, call + 10),
                found(&seen.0, seen.1),
            );
        }
    }
    let checker = Checker {
        steps_per_key: 10_000,
    };
    assert_eq!(checker.check(&b.0).unwrap(), Verdict::Ok);
}
