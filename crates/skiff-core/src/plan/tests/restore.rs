//! Restoring a backup: environments first, every object recreated, skipped keys left out.

use super::*;
use crate::plan::{restore, RESTORE_BATCH};

fn config(env: &str, n: usize) -> Object {
    Object::Config(Config {
        env: name(env),
        name: name(&format!("c{n}")),
        data: vec![n as u8],
        labels: BTreeMap::new(),
    })
}

#[test]
fn environments_come_first_and_everything_is_recreated() {
    let backup = state_with(vec![
        Object::Environment(environment("dev")),
        config("dev", 1),
        task("t1", "shop", "web"),
    ]);
    let commands = restore(&backup, &[]);
    assert_eq!(commands.len(), 1);
    assert_eq!(
        summary(&commands[0]),
        vec![
            "put /envs/dev absent",
            "put /configs/dev/c1 absent",
            "put /tasks/t1 absent",
        ]
    );
    let mut fresh = State::new();
    for command in &commands {
        assert!(commit(&mut fresh, command).is_ok());
    }
    for record in backup.list("/") {
        assert_eq!(fresh.get(&record.key).unwrap().object, record.object);
    }
}

#[test]
fn large_states_are_split_and_skipped_keys_left_out() {
    let mut objects = vec![Object::Environment(environment("dev"))];
    objects.extend((0..RESTORE_BATCH + 10).map(|n| config("dev", n)));
    let backup = state_with(objects);
    let skipped = key("/configs/dev/c3");
    let commands = restore(&backup, std::slice::from_ref(&skipped));
    assert_eq!(commands.len(), 2);
    let mut fresh = State::new();
    for command in &commands {
        assert!(commit(&mut fresh, command).is_ok());
    }
    assert_eq!(fresh.len(), backup.len() - 1);
    assert!(fresh.get(&skipped).is_none());
    // A restore never overwrites: run again, the first batch conflicts and changes nothing.
    let again = commit(&mut fresh, &commands[0]);
    assert!(matches!(again, Response::Conflict { .. }), "{again:?}");
}
