//! openraft's type configuration for a [`StateMachine`].

use std::cmp::Ordering;
use std::fmt;
use std::io::Cursor;
use std::marker::PhantomData;

use openraft::impls::{BasicNode, Entry, OneshotResponder, TokioRuntime};

use crate::{NodeId, StateMachine};

/// openraft's `RaftTypeConfig` for a Raft group replicating the state machine `S`: commands of
/// `S` are the log payload, and a write answers `Some(response)` (`None` for entries that carry
/// no command: blank and membership entries).
///
/// It is a zero-sized marker; the trait impls below are written by hand so that they do not
/// require `S` to implement them (openraft's `declare_raft_types!` makes only non-generic
/// configs).
pub struct TypeConfig<S>(PhantomData<fn() -> S>);

impl<S: StateMachine> openraft::RaftTypeConfig for TypeConfig<S> {
    type D = S::Command;
    type R = Option<S::Response>;
    type NodeId = NodeId;
    type Node = BasicNode;
    type Entry = Entry<Self>;
    type SnapshotData = Cursor<Vec<u8>>;
    type AsyncRuntime = TokioRuntime;
    type Responder = OneshotResponder<Self>;
}

impl<S> fmt::Debug for TypeConfig<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeConfig<{}>", std::any::type_name::<S>())
    }
}

impl<S> Clone for TypeConfig<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for TypeConfig<S> {}

impl<S> Default for TypeConfig<S> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<S> PartialEq for TypeConfig<S> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<S> Eq for TypeConfig<S> {}

impl<S> PartialOrd for TypeConfig<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<S> Ord for TypeConfig<S> {
    fn cmp(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
}
