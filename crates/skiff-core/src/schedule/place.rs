//! Placing the pending tasks of one service: the scoring.
//!
//! The service's candidate nodes (those its node selector and constraints admit) are arranged
//! in a tree by the values of its spread preferences — one level per preference, a branch per
//! value, nodes without the attribute in a branch of their own, as Swarm does — and each leaf
//! keeps its schedulable nodes in a min-heap keyed by (tasks of the service on the node, tasks
//! on the node, tie-break rank). A task goes down the tree into the branch with the fewest tasks
//! of the service (ties: the branch whose nodes are least loaded on average, then the first by
//! value), then to the best node of that leaf that passes the filters. A node that fails them is
//! dropped from its heap for the rest of the service: within one service's batch a node only
//! fills up. A placed node goes back into its heap with its key one higher on both counts.
//!
//! The tree's shape ([`Layout`]) depends only on the environment, the constraints and the
//! preferences, so it is computed once and shared by every service that has the same three;
//! each service's batch then fills in its counts and heaps in one pass over the candidates.
//!
//! Cost per service: one pass over its candidate nodes. Cost per task: the depth of the tree
//! times its fan-out, plus a heap pop and push, plus the nodes dropped (each once per service)
//! — not a scan of the cluster.

use std::cmp::Ordering;
use std::ops::Range;

use super::hash::FxHashMap;
use super::input::SchedulingInput;

/// The shape of a preference tree over the nodes one signature admits.
#[derive(Debug)]
pub(super) struct Layout {
    /// Branch 0 is the root; a child's index is above its parent's.
    branches: Vec<Shape>,
    /// The candidate nodes grouped by leaf, in tie-break order within a leaf.
    nodes: Vec<u32>,
}

#[derive(Debug, Default)]
struct Shape {
    parent: u32,
    /// In value order.
    children: Vec<u32>,
    /// Leaves only: where their nodes are in [`Layout::nodes`].
    nodes: Range<usize>,
}

impl Layout {
    /// The tree of `preferences` (attribute ids) over `eligible` (node indices, ascending).
    pub(super) fn new(input: &SchedulingInput, eligible: &[u32], preferences: &[u32]) -> Self {
        let mut branches = vec![Shape::default()];
        let mut values = vec![0u32];
        let mut children: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        let mut leaf_of = Vec::with_capacity(eligible.len());
        for &n in eligible {
            let mut at = 0u32;
            for &attr in preferences {
                let value = input.attrs.table[attr as usize].per_node[n as usize];
                at = *children.entry((at, value)).or_insert_with(|| {
                    branches.push(Shape {
                        parent: at,
                        ..Shape::default()
                    });
                    values.push(value);
                    let child = branches.len() as u32 - 1;
                    branches[at as usize].children.push(child);
                    child
                });
            }
            leaf_of.push(at);
        }
        for shape in &mut branches {
            shape.children.sort_by_key(|c| values[*c as usize]);
        }
        // A counting sort by leaf keeps the tie-break order within each leaf.
        let mut sizes = vec![0usize; branches.len()];
        for &leaf in &leaf_of {
            sizes[leaf as usize] += 1;
        }
        let mut start = 0;
        for (b, shape) in branches.iter_mut().enumerate() {
            shape.nodes = start..start + sizes[b];
            start += sizes[b];
        }
        let mut next: Vec<usize> = branches.iter().map(|s| s.nodes.start).collect();
        let mut nodes = vec![0u32; eligible.len()];
        for (&n, &leaf) in eligible.iter().zip(&leaf_of) {
            nodes[next[leaf as usize]] = n;
            next[leaf as usize] += 1;
        }
        Self { branches, nodes }
    }
}

/// A heap key: tasks of the service on the node (bits 64–95), tasks on the node (32–63) and
/// the node's index (0–31), which is also its tie-break rank. One placement adds [`STEP`].
type Key = u128;
const STEP: Key = (1 << 64) | (1 << 32);

fn key(service_tasks: u32, node_tasks: u32, n: u32) -> Key {
    (Key::from(service_tasks) << 64) | (Key::from(node_tasks) << 32) | Key::from(n)
}

/// One service's batch over a [`Layout`]: per-branch counts and per-leaf heaps.
#[derive(Debug)]
pub(super) struct Tree {
    layout: usize,
    /// Tasks of the service under each branch (those wanted running).
    count: Vec<u64>,
    /// Tasks on each branch's schedulable nodes, and how many those are: its average load.
    load: Vec<u64>,
    nodes: Vec<u64>,
    alive: Vec<bool>,
    /// The leaves' heaps, each in its leaf's range of the layout, `len` long.
    heap: Vec<Key>,
    len: Vec<usize>,
    /// The branches from the root to the last leaf chosen.
    path: Vec<u32>,
}

impl Tree {
    /// The tree of service `s` for this batch.
    pub(super) fn build(input: &mut SchedulingInput, s: usize) -> Tree {
        let layout = input.layout_of(s);
        // The service's tasks per node, dense for the pass below (most services have tasks on
        // few nodes, so filling and clearing it is cheap).
        let mut here = std::mem::take(&mut input.scratch);
        for (n, c) in &input.services[s].counts {
            here[*n as usize] = c.running;
        }
        let shape = input.layout(layout);
        let size = shape.branches.len();
        let mut tree = Tree {
            layout,
            count: vec![0; size],
            load: vec![0; size],
            nodes: vec![0; size],
            alive: vec![false; size],
            heap: vec![0; shape.nodes.len()],
            len: vec![0; size],
            path: Vec::new(),
        };
        for (b, branch) in shape.branches.iter().enumerate() {
            if !branch.children.is_empty() {
                continue;
            }
            let (mut len, mut count, mut load) = (0, 0u64, 0u64);
            let base = branch.nodes.start;
            for &n in &shape.nodes[branch.nodes.clone()] {
                let mine = here[n as usize];
                count += u64::from(mine);
                if input.open[n as usize] {
                    let tasks = input.load[n as usize];
                    tree.heap[base + len] = key(mine, tasks, n);
                    load += u64::from(tasks);
                    len += 1;
                }
            }
            (tree.count[b], tree.load[b], tree.nodes[b]) = (count, load, len as u64);
            tree.len[b] = len;
            heapify(&mut tree.heap[base..base + len]);
            tree.alive[b] = len > 0;
        }
        for b in (1..size).rev() {
            let parent = shape.branches[b].parent as usize;
            tree.count[parent] += tree.count[b];
            tree.load[parent] += tree.load[b];
            tree.nodes[parent] += tree.nodes[b];
            tree.alive[parent] |= tree.alive[b];
        }
        for n in input.services[s].counts.keys() {
            here[*n as usize] = 0;
        }
        input.scratch = here;
        tree
    }

    /// The node the next task of service `s` goes to, if any passes the filters; the caller
    /// records the placement.
    pub(super) fn pick(&mut self, input: &SchedulingInput, s: usize) -> Option<usize> {
        let shape = input.layout(self.layout);
        loop {
            if !self.alive[0] {
                return None;
            }
            self.descend(shape);
            let leaf = *self.path.last().unwrap_or(&0) as usize;
            let base = shape.branches[leaf].nodes.start;
            while self.len[leaf] > 0 {
                let heap = &mut self.heap[base..base + self.len[leaf]];
                let top = heap[0];
                let n = (top & 0xffff_ffff) as usize;
                if input.reject_now(s, n).is_some() {
                    pop(heap);
                    self.len[leaf] -= 1;
                    continue;
                }
                // Placed: its key goes up by one on both counts, and it sinks to its place.
                heap[0] = top + STEP;
                sift_down(heap, 0);
                for &b in &self.path {
                    self.count[b as usize] += 1;
                    self.load[b as usize] += 1;
                }
                return Some(n);
            }
            self.bury(shape);
        }
    }

    /// Whether branch `a` should get the next task rather than branch `b`.
    fn before(&self, a: usize, b: usize) -> bool {
        let by_count = self.count[a].cmp(&self.count[b]);
        let by_load = (u128::from(self.load[a]) * u128::from(self.nodes[b]))
            .cmp(&(u128::from(self.load[b]) * u128::from(self.nodes[a])));
        by_count.then(by_load) == Ordering::Less
    }

    /// Walks from the root to a live leaf, always into the best live child.
    fn descend(&mut self, shape: &Layout) {
        self.path.clear();
        self.path.push(0);
        let mut at = 0usize;
        loop {
            let mut best: Option<usize> = None;
            for &c in &shape.branches[at].children {
                let c = c as usize;
                if self.alive[c] && best.is_none_or(|b| self.before(c, b)) {
                    best = Some(c);
                }
            }
            match best {
                Some(c) => {
                    at = c;
                    self.path.push(c as u32);
                }
                None => return,
            }
        }
    }

    /// Marks the last leaf dead, and every ancestor left without a live child.
    fn bury(&mut self, shape: &Layout) {
        for i in (0..self.path.len()).rev() {
            let b = self.path[i] as usize;
            let children = &shape.branches[b].children;
            self.alive[b] = if children.is_empty() {
                self.len[b] > 0
            } else {
                children.iter().any(|c| self.alive[*c as usize])
            };
            if self.alive[b] {
                return;
            }
        }
    }
}

/// Makes `heap` a min-heap.
fn heapify(heap: &mut [Key]) {
    for i in (0..heap.len() / 2).rev() {
        sift_down(heap, i);
    }
}

/// Removes the least key (the caller shortens the slice by one).
fn pop(heap: &mut [Key]) {
    let last = heap.len() - 1;
    heap.swap(0, last);
    sift_down(&mut heap[..last], 0);
}

fn sift_down(heap: &mut [Key], mut i: usize) {
    let len = heap.len();
    loop {
        let left = 2 * i + 1;
        if left >= len {
            return;
        }
        let right = left + 1;
        let child = if right < len && heap[right] < heap[left] {
            right
        } else {
            left
        };
        if heap[child] >= heap[i] {
            return;
        }
        heap.swap(i, child);
        i = child;
    }
}
