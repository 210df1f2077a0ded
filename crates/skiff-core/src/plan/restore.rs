//! Restoring a backup into a new cluster: the writes that recreate every object of a saved
//! state, in an order the state machine's rules accept.

use crate::objects::{Key, Kind};
use crate::state::{Command, Expect, Op, State};

/// How many objects one restore transaction writes at most, so that no log entry grows past
/// what a follower accepts in one message.
pub const RESTORE_BATCH: usize = 256;
/// How many bytes (of JSON) the objects of one restore transaction add up to at most (beyond
/// its first object).
pub const RESTORE_BATCH_BYTES: usize = 8 << 20;

/// Plans recreating every object of `backup` (except the keys in `skip`) in an empty state:
/// environments first (the objects that live in one need it to exist), then the rest in key
/// order, as transactions of at most [`RESTORE_BATCH`] puts and [`RESTORE_BATCH_BYTES`], each
/// expecting its key absent so that a restore never overwrites what is there. Objects get new
/// revisions: revisions are the new cluster's log indexes.
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
    let mut commands = Vec::new();
    let mut batch: Vec<Op> = Vec::new();
    let mut bytes = 0;
    for op in ops {
        let size = match &op {
            Op::Put { object, .. } => serde_json::to_vec(object).map_or(0, |json| json.len()),
            _ => 0,
        };
        if !batch.is_empty() && (batch.len() == RESTORE_BATCH || bytes + size > RESTORE_BATCH_BYTES)
        {
            commands.push(Command::Txn {
                ops: std::mem::take(&mut batch),
            });
            bytes = 0;
        }
        bytes += size;
        batch.push(op);
    }
    if !batch.is_empty() {
        commands.push(Command::Txn { ops: batch });
    }
    commands
}
