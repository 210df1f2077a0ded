//! Property: from any mix of tasks, rounds applied to a real state are accepted by its rules
//! and reach a fixpoint where each wanted slot has exactly one task wanted running.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::txn::{round, state_of};
use super::*;
use crate::Object;

const STATES: [TaskState; 9] = [
    TaskState::Pending,
    TaskState::Assigned,
    TaskState::Preparing,
    TaskState::Starting,
    TaskState::Running,
    TaskState::Complete,
    TaskState::Failed,
    TaskState::Shutdown,
    TaskState::Orphaned,
];
const DESIRED: [DesiredState; 3] = [
    DesiredState::Running,
    DesiredState::Shutdown,
    DesiredState::Remove,
];

/// (slot, observed, desired, node index or none, spec revision 1 or 2)
type TaskShape = (u32, usize, usize, Option<usize>, u64);

fn shapes() -> impl Strategy<Value = Vec<TaskShape>> {
    prop::collection::vec(
        (
            1u32..7,
            0..STATES.len(),
            0..DESIRED.len(),
            prop::option::of(0usize..4),
            1u64..3,
        ),
        0..20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn rounds_reach_a_fixpoint(n in 0u32..5, respec in any::<bool>(), shapes in shapes(),
                               down in prop::option::of(0usize..3)) {
        let mut world = World::new(spec("busybox", &replicas(n)), 3);
        if respec {
            world = world.respec(spec("busybox:2", &replicas(n)));
        }
        if let Some(d) = down {
            world.nodes[d].status = NodeStatus::Down;
        }
        for (i, (slot, observed, desired, node, rev)) in shapes.into_iter().enumerate() {
            let mut t = task(&format!("t{i}"), r(slot), i as u64).rev(rev);
            t.desired = DESIRED[desired];
            // A task on no node was never placed: it can only be pending.
            if let Some(node) = node {
                t = t.at(&format!("n{}", node + 1), STATES[observed]);
            }
            world.tasks.push(t);
        }
        let mut state = state_of(&world);
        let mut rounds = 0;
        loop {
            let plan = round(&state, world.now, &format!("r{rounds}x"));
            if plan.is_empty() {
                break;
            }
            rounds += 1;
            prop_assert!(rounds <= 3, "no fixpoint after 3 rounds: {:?}", describe(&plan));
            let revision = state.revision() + 1;
            let response = state.apply(revision, &plan.into_command());
            prop_assert!(response.is_ok(), "{response:?}");
        }
        let mut running: BTreeMap<u32, usize> = BTreeMap::new();
        let mut history: BTreeMap<u32, usize> = BTreeMap::new();
        for record in state.list(&Kind::Task.prefix()) {
            let Object::Task(t) = &record.object else { continue };
            let Slot::Replica(slot) = t.slot else { continue };
            if t.desired == DesiredState::Running {
                *running.entry(slot).or_default() += 1;
            } else if t.observed.is_terminal() {
                *history.entry(slot).or_default() += 1;
            }
        }
        let wanted: BTreeMap<u32, usize> = (1..=n).map(|s| (s, 1)).collect();
        prop_assert_eq!(running, wanted);
        prop_assert!(history.values().all(|h| *h <= super::super::TASK_HISTORY_LIMIT));
    }
}
