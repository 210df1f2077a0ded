//! Restoring a backup into a new cluster: the writes that recreate every object of a saved
//! state, in an order the state machine's rules accept.

use crate::objects::{Key, Kind};
use crate::state::{Command, Expect, Op, State};

/// How many objects one restore transaction writes, so that no log entry grows past what a
/// follower accepts in one message.
pub const RESTORE_BATCH: usize = 256;

/// Plans recreating every object of `backup` (except the keys in `skip`) in an empty state:
/// environments first (the objects that live in one need it to exist), then the rest in key
/// order, as transactions of at most [`RESTORE_BATCH`] puts, each expecting its key absent so
/// that a restore never overwrites what is there. Objects get new revisions: revisions are the
/// new cluster's log indexes.
pub fn restore(backup: &State, skip: &[Key]) -> Vec<Command> {
    let environments = backup.list(&Kind::Environment.prefix());
    let rest = backup
        .list("/")
        .into_iter()
        .filter(|r| r.key.kind() != Kind::Environment);
    let ops: Vec<Op> = environments
        .into_iter()
        .chain(rest)
        .filter(|r| !skip.contains(&r.key))
        .map(|r| Op::put(r.object.clone(), Expect::Absent))
        .collect();
    ops.chunks(RESTORE_BATCH)
        .map(|chunk| Command::Txn {
            ops: chunk.to_vec(),
        })
        .collect()
}
