//! Histories of a simulated correct store must pass; with one result changed, they mostly fail.

use std::time::{Duration, Instant};

use super::sim::{simulate, Rng, Shape};
use super::*;

fn small_shape(rng: &mut Rng) -> Shape {
    Shape {
        clients: 1 + u32::try_from(rng.below(8)).unwrap(),
        keys: 1 + rng.below(4),
        ops: 10 + usize::try_from(rng.below(150)).unwrap(),
        unknown_percent: rng.below(10),
    }
}

#[test]
fn histories_of_a_correct_store_are_linearizable() {
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let shape = small_shape(&mut rng);
        let history = simulate(&shape, &mut rng);
        let verdict = history.check().unwrap();
        assert_eq!(verdict, Verdict::Ok, "seed {seed}: {verdict}");
    }
}

#[test]
fn one_changed_result_is_usually_caught() {
    let (mut tried, mut caught) = (0, 0);
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let shape = small_shape(&mut rng);
        let mut history = simulate(&shape, &mut rng);
        if !mutate(&mut history, &mut rng) {
            continue;
        }
        tried += 1;
        let verdict = history.check().unwrap();
        assert!(
            !matches!(verdict, Verdict::Inconclusive { .. }),
            "seed {seed}"
        );
        caught += usize::from(verdict.is_violation());
    }
    assert!(tried >= 250, "only {tried} histories could be changed");
    assert!(caught * 100 >= tried * 80, "caught {caught} of {tried}");
}

#[test]
fn two_thousand_operations_check_well_under_a_second() {
    let mut rng = Rng::new(7);
    let shape = Shape {
        clients: 8,
        keys: 20,
        ops: 2_000,
        unknown_percent: 3,
    };
    let history = simulate(&shape, &mut rng);
    let start = Instant::now();
    let verdict = history.check().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(verdict, Verdict::Ok);
    assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
    let mut mutated = history.clone();
    while !mutate(&mut mutated, &mut rng) {}
    let start = Instant::now();
    let verdict = mutated.check().unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "took {:?}",
        start.elapsed()
    );
    assert!(!matches!(verdict, Verdict::Inconclusive { .. }));
}

/// Changes the result of one answered operation; false if the one picked cannot be changed.
fn mutate(history: &mut History, rng: &mut Rng) -> bool {
    let answered: Vec<usize> = (0..history.operations.len())
        .filter(|&i| history.operations[i].returned().is_some())
        .collect();
    if answered.is_empty() {
        return false;
    }
    let index = answered[usize::try_from(rng.below(answered.len() as u64)).unwrap()];
    let Some(result) = changed(history, index, rng) else {
        return false;
    };
    let Outcome::Returned { result: old, .. } = &mut history.operations[index].outcome else {
        unreachable!("picked among answered operations");
    };
    *old = result;
    true
}

/// Another result for operation `index`, if one is at hand.
fn changed(history: &History, index: usize, rng: &mut Rng) -> Option<OpResult> {
    let operation = &history.operations[index];
    let (_, result) = operation.returned()?;
    let shift = 1 + rng.below(3);
    match (result, &operation.op) {
        (
            OpResult::Found {
                value,
                mod_revision,
            },
            _,
        ) => Some(match rng.below(3) {
            0 => found(value, mod_revision + shift),
            1 => OpResult::Absent,
            _ => {
                let (other, rev) = written_on(history, &operation.key, rng)?;
                (other != *value).then(|| found(&other, rev))?
            }
        }),
        (OpResult::Absent, _) => {
            let (value, rev) = written_on(history, &operation.key, rng)?;
            Some(found(&value, rev))
        }
        (OpResult::Ok { revision }, Op::Cas { .. }) if rng.chance(50) => {
            Some(conflict(Some(*revision)))
        }
        (OpResult::Ok { revision }, _) => Some(match rng.below(2) {
            0 if *revision > shift => ok(revision - shift),
            _ => ok(acknowledged_revision(history, rng)?),
        })
        .filter(|new| new != result),
        (OpResult::Conflict { found }, _) => Some(conflict(match found {
            Some(rev) if rng.chance(50) => Some(rev + shift),
            Some(_) => None,
            None => Some(shift),
        })),
    }
}

/// A value some acknowledged write stored on `key`, with its revision.
fn written_on(history: &History, key: &str, rng: &mut Rng) -> Option<(String, u64)> {
    let writes: Vec<(String, u64)> = history
        .operations
        .iter()
        .filter(|o| o.key == key)
        .filter_map(|o| match (&o.op, o.returned()) {
            (Op::Put { value } | Op::Cas { value, .. }, Some((_, OpResult::Ok { revision }))) => {
                Some((value.clone(), *revision))
            }
            _ => None,
        })
        .collect();
    (!writes.is_empty()).then(|| writes[rng.below(writes.len() as u64) as usize].clone())
}

/// The revision of some acknowledged write, on any key.
fn acknowledged_revision(history: &History, rng: &mut Rng) -> Option<u64> {
    let revisions: Vec<u64> = history
        .operations
        .iter()
        .filter(|o| !matches!(o.op, Op::Get))
        .filter_map(|o| match o.returned() {
            Some((_, OpResult::Ok { revision })) => Some(*revision),
            _ => None,
        })
        .collect();
    (!revisions.is_empty()).then(|| revisions[rng.below(revisions.len() as u64) as usize])
}
