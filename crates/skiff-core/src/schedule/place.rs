//! Placing the pending tasks of one service: the scoring.
//!
//! The service's candidate nodes (those its node selector and constraints admit) are arranged
//! in a tree by the values of its spread preferences — one level per preference, a branch per
//! value, nodes without the attribute in a branch of their own, as Swarm does — and each leaf
//! keeps its schedulable nodes in a min-heap keyed by (tasks of the service on the node, tasks
//! on the node, tie-break rank). A task goes down the tree into the branch with the fewest tasks
//! of the service (ties: the branch whose nodes are least loaded on average, then the first),
//! then to the best node of that leaf that passes the filters. A node that fails them is
//! dropped from its heap for the rest of the service: within one service's batch a node only
//! fills up. A placed node goes back into its heap with its key one higher on both counts.
//!
//! Cost per task: the depth of the tree times its fan-out, plus a heap pop and push, plus the
//! nodes dropped (each once per service) — not a scan of the cluster.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::hash::FxHashMap;
use super::input::SchedulingInput;

/// A node in a leaf's heap: (tasks of the service on it, tasks on it, node index). The node
/// index is the tie-break: nodes are stored in tie-break order.
type Key = (u32, u32, u32);

/// One branch of the preference tree.
#[derive(Debug, Default)]
struct Branch {
    children: Vec<u32>,
    /// Tasks of the service on its nodes (those wanted running).
    count: u64,
    /// Tasks on its schedulable nodes, and how many those are: its average load.
    load: u64,
    nodes: u64,
    /// Leaves only: its schedulable nodes.
    heap: BinaryHeap<Reverse<Key>>,
    alive: bool,
}

impl Branch {
    /// Whether `self` should get the next task rather than `other`.
    fn before(&self, other: &Branch) -> bool {
        let by_count = self.count.cmp(&other.count);
        let by_load = (u128::from(self.load) * u128::from(other.nodes))
            .cmp(&(u128::from(other.load) * u128::from(self.nodes)));
        by_count.then(by_load) == Ordering::Less
    }
}

/// The preference tree of one service over its candidate nodes.
#[derive(Debug)]
pub(super) struct Tree {
    branches: Vec<Branch>,
    /// Scratch: the branches from the root to the last leaf chosen.
    path: Vec<u32>,
}

impl Tree {
    /// The tree of service `s` over the nodes its selector and constraints admit.
    pub(super) fn build(input: &mut SchedulingInput, s: usize) -> Tree {
        let sig = input.services[s].signature as usize;
        input.eligible(sig);
        let input = &*input;
        let eligible = input.signatures[sig]
            .eligible
            .as_deref()
            .unwrap_or_default();
        let service = &input.services[s];
        let mut branches = vec![Branch::default()];
        let mut children: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        let mut leaves: Vec<Vec<Reverse<Key>>> = vec![Vec::new()];
        let mut path = Vec::with_capacity(service.preferences.len() + 1);
        for &n in eligible {
            let node = &input.nodes[n as usize];
            let here = service.counts.get(&n).map_or(0, |c| c.running);
            let schedulable = node.schedulable();
            if !schedulable && here == 0 {
                continue;
            }
            path.clear();
            path.push(0u32);
            let mut at = 0u32;
            for &attr in &service.preferences {
                let value = input.attrs.table[attr as usize].per_node[n as usize];
                at = *children.entry((at, value)).or_insert_with(|| {
                    branches.push(Branch::default());
                    leaves.push(Vec::new());
                    let child = branches.len() as u32 - 1;
                    branches[at as usize].children.push(child);
                    child
                });
                path.push(at);
            }
            for &b in &path {
                let branch = &mut branches[b as usize];
                branch.count += u64::from(here);
                if schedulable {
                    branch.load += u64::from(node.tasks);
                    branch.nodes += 1;
                }
            }
            if schedulable {
                leaves[at as usize].push(Reverse((here, node.tasks, n)));
            }
        }
        for (branch, leaf) in branches.iter_mut().zip(leaves) {
            branch.heap = BinaryHeap::from(leaf);
        }
        // Children in value order; a child's index is always above its parent's, so one pass
        // from the back settles liveness bottom-up.
        let values: Vec<u32> = {
            let mut v = vec![0; branches.len()];
            for ((_, value), child) in &children {
                v[*child as usize] = *value;
            }
            v
        };
        for b in (0..branches.len()).rev() {
            let mut kids = std::mem::take(&mut branches[b].children);
            kids.sort_by_key(|c| values[*c as usize]);
            branches[b].alive = if kids.is_empty() {
                !branches[b].heap.is_empty()
            } else {
                kids.iter().any(|c| branches[*c as usize].alive)
            };
            branches[b].children = kids;
        }
        Tree { branches, path }
    }

    /// The node the next task of service `s` goes to, if any passes the filters; the caller
    /// records the placement.
    pub(super) fn pick(&mut self, input: &SchedulingInput, s: usize) -> Option<usize> {
        loop {
            if !self.branches[0].alive {
                return None;
            }
            self.descend();
            let leaf = *self.path.last().unwrap_or(&0) as usize;
            while let Some(Reverse(key)) = self.branches[leaf].heap.pop() {
                let n = key.2 as usize;
                if input.reject_now(s, n).is_some() {
                    continue;
                }
                self.branches[leaf]
                    .heap
                    .push(Reverse((key.0 + 1, key.1 + 1, key.2)));
                for &b in &self.path {
                    let branch = &mut self.branches[b as usize];
                    branch.count += 1;
                    branch.load += 1;
                }
                return Some(n);
            }
            self.bury();
        }
    }

    /// Walks from the root to a live leaf, always into the best live child.
    fn descend(&mut self) {
        self.path.clear();
        let mut at = 0usize;
        self.path.push(0);
        loop {
            let branch = &self.branches[at];
            let mut best: Option<u32> = None;
            for &c in &branch.children {
                let child = &self.branches[c as usize];
                if !child.alive {
                    continue;
                }
                if best.is_none_or(|b| child.before(&self.branches[b as usize])) {
                    best = Some(c);
                }
            }
            match best {
                Some(c) => {
                    at = c as usize;
                    self.path.push(c);
                }
                None => return,
            }
        }
    }

    /// Marks the last leaf dead, and every ancestor left without a live child.
    fn bury(&mut self) {
        for i in (0..self.path.len()).rev() {
            let b = self.path[i] as usize;
            let alive = if self.branches[b].children.is_empty() {
                !self.branches[b].heap.is_empty()
            } else {
                self.branches[b]
                    .children
                    .iter()
                    .any(|c| self.branches[*c as usize].alive)
            };
            self.branches[b].alive = alive;
            if alive {
                return;
            }
        }
    }
}
