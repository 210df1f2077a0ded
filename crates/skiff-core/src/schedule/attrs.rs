//! Node attributes as constraints and preferences name them, interned per attribute so that
//! matching a node is an integer comparison.

use skiff_api::{Constraint, ConstraintOp};

use super::hash::FxHashMap;
use crate::objects::Node;

/// The role every Skiff node has: agents run tasks, the control plane runs none of its own, so
/// `node.role == worker` holds everywhere and `node.role == manager` nowhere.
pub const NODE_ROLE: &str = "worker";

/// The operating system of every Skiff node (the engine runs on Linux only).
pub const NODE_OS: &str = "linux";

/// The value of `attribute` on `node`, as constraints and preferences read it: `node.id`,
/// `node.hostname`, `node.role`, `node.platform.os`, `node.labels.<key>`. `None` when the node
/// has no such value: a missing label, or `node.platform.arch`, which the node model does not
/// record yet.
pub fn node_attribute<'a>(node: &'a Node, attribute: &str) -> Option<&'a str> {
    match attribute {
        "node.id" => Some(node.id.as_str()),
        "node.hostname" => Some(node.name.as_str()),
        "node.role" => Some(NODE_ROLE),
        "node.platform.os" => Some(NODE_OS),
        _ => attribute
            .strip_prefix("node.labels.")
            .and_then(|key| node.labels.get(key))
            .map(String::as_str),
    }
}

/// Whether `node` satisfies `constraint`. Values compare without regard to case, as Swarm's do;
/// a node without the attribute fails `==` and passes `!=`.
pub fn constraint_holds(node: &Node, constraint: &Constraint) -> bool {
    let found = node_attribute(node, &constraint.attribute)
        .is_some_and(|v| fold(v) == fold(&constraint.value));
    match constraint.operator {
        ConstraintOp::Eq => found,
        ConstraintOp::Ne => !found,
    }
}

fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Every node's value of one attribute, interned.
#[derive(Debug, Default)]
pub(super) struct Values {
    /// Per node: 1 + the value's id, or 0 when the node has no value.
    pub(super) per_node: Vec<u32>,
    /// Value ids by exact text.
    exact: FxHashMap<String, u32>,
    /// For each value id, its case-folded id.
    folded_of: Vec<u32>,
    /// Case-folded ids by folded text.
    folded: FxHashMap<String, u32>,
}

impl Values {
    /// The id of a value as a node carries it (label selectors match exactly).
    fn exact_id(&self, value: &str) -> Option<u32> {
        self.exact.get(value).copied()
    }

    fn folded_id(&self, value: &str) -> Option<u32> {
        self.folded.get(&fold(value)).copied()
    }

    /// The value id of node `n`, if it has one.
    pub(super) fn of(&self, n: usize) -> Option<u32> {
        self.per_node[n].checked_sub(1)
    }
}

/// The interned attributes: every one a constraint, preference or node selector names.
#[derive(Debug, Default)]
pub(super) struct Attributes {
    index: FxHashMap<String, u32>,
    pub(super) table: Vec<Values>,
}

impl Attributes {
    /// The id of `attribute`, interning every node's value of it on first use. `nodes` must be
    /// the same, in the same order, on every call.
    pub(super) fn intern(&mut self, attribute: &str, nodes: &[&Node]) -> u32 {
        if let Some(id) = self.index.get(attribute) {
            return *id;
        }
        let mut values = Values {
            per_node: Vec::with_capacity(nodes.len()),
            ..Values::default()
        };
        for node in nodes {
            let id = match node_attribute(node, attribute) {
                None => 0,
                Some(text) => {
                    let next = values.exact.len() as u32;
                    let id = *values.exact.entry(text.to_owned()).or_insert(next);
                    if id == next {
                        let next_folded = values.folded.len() as u32;
                        let folded = *values.folded.entry(fold(text)).or_insert(next_folded);
                        values.folded_of.push(folded);
                    }
                    id + 1
                }
            };
            values.per_node.push(id);
        }
        let id = self.table.len() as u32;
        self.table.push(values);
        self.index.insert(attribute.to_owned(), id);
        id
    }

    /// Compiles a constraint over interned values.
    pub(super) fn compile(&mut self, constraint: &Constraint, nodes: &[&Node]) -> Compiled {
        let attribute = self.intern(&constraint.attribute, nodes);
        Compiled {
            attribute,
            value: self.table[attribute as usize]
                .folded_id(&constraint.value)
                .unwrap_or(NONE),
            equal: constraint.operator == ConstraintOp::Eq,
        }
    }

    /// Compiles one label of a node selector (matched exactly, as the plan's quota count does).
    pub(super) fn compile_label(&mut self, key: &str, value: &str, nodes: &[&Node]) -> Label {
        let attribute = self.intern(&format!("node.labels.{key}"), nodes);
        Label {
            attribute,
            value: self.table[attribute as usize]
                .exact_id(value)
                .unwrap_or(NONE),
        }
    }

    /// Whether node `n` satisfies a compiled constraint.
    pub(super) fn holds(&self, c: &Compiled, n: usize) -> bool {
        let values = &self.table[c.attribute as usize];
        let found = values
            .of(n)
            .is_some_and(|id| values.folded_of[id as usize] == c.value);
        found == c.equal
    }

    /// Whether node `n` carries a compiled label.
    pub(super) fn carries(&self, l: &Label, n: usize) -> bool {
        self.table[l.attribute as usize].of(n) == Some(l.value)
    }
}

/// An id no value has.
const NONE: u32 = u32::MAX;

/// A constraint over interned values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Compiled {
    attribute: u32,
    value: u32,
    equal: bool,
}

/// A node selector label over interned values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Label {
    attribute: u32,
    value: u32,
}
