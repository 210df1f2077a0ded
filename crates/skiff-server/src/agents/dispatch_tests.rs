use std::sync::Arc;

use skiff_core::{Command, Expect, Key, Name, Object, State};

use super::{Dispatcher, Routes, Touched};
use crate::agents::fixtures::{delete, node, put, service, state, task};

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

/// The router's tables, brought to `state`.
fn advance(dispatcher: &Dispatcher, state: &State) {
    super::lock(&dispatcher.routes).advance(state);
}

/// What the subscription holds now, without waiting.
fn take(subscription: &super::Subscription) -> Touched {
    std::mem::take(&mut *super::lock(&subscription.mailbox.touched))
}

fn tasks(touched: &Touched) -> Vec<&str> {
    touched.tasks.iter().map(String::as_str).collect()
}

#[test]
fn a_tasks_change_reaches_only_the_sessions_of_its_nodes_now_and_before() {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    let dispatcher = Dispatcher::default();
    advance(&dispatcher, &s);
    let (n1, n2) = (
        dispatcher.subscribe(&name("n1")),
        dispatcher.subscribe(&name("n2")),
    );
    // The first round tells whoever subscribed before it to send a full set.
    assert!(take(&n1).is_empty(), "subscribed after the first round");

    put(&mut s, Object::Task(task("t1", "web", None, "pending")));
    advance(&dispatcher, &s);
    assert!(
        take(&n1).is_empty() && take(&n2).is_empty(),
        "a pending task is no one's"
    );

    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "assigned")),
    );
    put(
        &mut s,
        Object::Task(task("t2", "web", Some("n2"), "assigned")),
    );
    advance(&dispatcher, &s);
    assert_eq!(tasks(&take(&n1)), ["t1"]);
    assert_eq!(tasks(&take(&n2)), ["t2"]);
    assert_eq!(n1.tasks(), ["t1"]);

    // Moved from n1 to n2: both hear of it; the tables follow.
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n2"), "assigned")),
    );
    advance(&dispatcher, &s);
    assert_eq!(tasks(&take(&n1)), ["t1"]);
    assert_eq!(tasks(&take(&n2)), ["t1"]);
    assert!(n1.tasks().is_empty());
    assert_eq!(n2.tasks(), ["t1", "t2"]);

    // A delete goes to the node the task was on.
    delete(&mut s, Key::Task { id: name("t2") });
    advance(&dispatcher, &s);
    assert!(take(&n1).is_empty());
    assert_eq!(tasks(&take(&n2)), ["t2"]);
    assert_eq!(n2.tasks(), ["t1"]);
}

#[test]
fn service_and_node_changes_reach_every_session() {
    let mut s = state();
    let dispatcher = Dispatcher::default();
    advance(&dispatcher, &s);
    let (n1, n2) = (
        dispatcher.subscribe(&name("n1")),
        dispatcher.subscribe(&name("n2")),
    );
    put(&mut s, service("web", "nginx:1"));
    put(&mut s, node("n3", "10.0.0.3:7401", "ready", None));
    advance(&dispatcher, &s);
    for subscription in [&n1, &n2] {
        let touched = take(subscription);
        assert_eq!(touched.services.len(), 1, "{touched:?}");
        assert!(touched.nodes && !touched.full && touched.tasks.is_empty());
    }
}

#[test]
fn lost_history_or_a_first_round_sends_full_sets_from_rebuilt_tables() {
    let mut s = state().with_history_limit(2);
    put(&mut s, service("web", "nginx:1"));
    let dispatcher = Dispatcher::default();
    // Subscribed before the router's first round.
    let early = dispatcher.subscribe(&name("n1"));
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "assigned")),
    );
    advance(&dispatcher, &s);
    let touched = take(&early);
    assert!(touched.full, "{touched:?}");
    assert_eq!(early.tasks(), ["t1"]);

    // More changes than the history keeps, between two rounds.
    for id in ["t2", "t3", "t4"] {
        put(
            &mut s,
            Object::Task(task(id, "web", Some("n1"), "assigned")),
        );
    }
    advance(&dispatcher, &s);
    assert!(take(&early).full);
    assert_eq!(early.tasks(), ["t1", "t2", "t3", "t4"]);
}

#[test]
fn a_dropped_subscription_leaves_the_router_and_others_stay() {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    let dispatcher = Dispatcher::default();
    advance(&dispatcher, &s);
    let old = dispatcher.subscribe(&name("n1"));
    let new = dispatcher.subscribe(&name("n1"));
    drop(old);
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "assigned")),
    );
    advance(&dispatcher, &s);
    assert_eq!(tasks(&take(&new)), ["t1"]);
    drop(new);
    let routes = super::lock(&dispatcher.routes);
    assert!(routes.mailboxes.is_empty());
}

#[tokio::test]
async fn changed_waits_for_a_change_and_misses_none_put_before_it_waits() {
    let mut s = state();
    put(&mut s, service("web", "nginx:1"));
    let dispatcher = Dispatcher::default();
    advance(&dispatcher, &s);
    let subscription = Arc::new(dispatcher.subscribe(&name("n1")));
    // Put before anyone waits: kept.
    put(
        &mut s,
        Object::Task(task("t1", "web", Some("n1"), "assigned")),
    );
    advance(&dispatcher, &s);
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), subscription.changed())
        .await
        .expect("the change was kept");
    assert_eq!(tasks(&got), ["t1"]);
    // Nothing more: it waits, until a change comes.
    let waiting = tokio::spawn({
        let subscription = subscription.clone();
        async move { subscription.changed().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    put(
        &mut s,
        Object::Task(task("t2", "web", Some("n1"), "assigned")),
    );
    advance(&dispatcher, &s);
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(tasks(&got), ["t2"]);
}

#[test]
fn a_change_of_no_task_service_or_node_touches_no_one() {
    let mut s = state();
    let dispatcher = Dispatcher::default();
    advance(&dispatcher, &s);
    let n1 = dispatcher.subscribe(&name("n1"));
    let qa = Object::Environment(skiff_core::objects::Environment {
        name: name("qa"),
        quota: Default::default(),
        node_selector: Default::default(),
    });
    let response = s.apply(s.revision() + 1, &Command::put(qa, Expect::Absent));
    assert!(response.is_ok(), "{response:?}");
    advance(&dispatcher, &s);
    assert!(take(&n1).is_empty());
    let routes: &Routes = &super::lock(&dispatcher.routes);
    assert!(routes.placed.is_empty() && routes.by_node.is_empty());
}
