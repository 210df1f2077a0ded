//! Publishing and releasing ports through a recording fake of the kernel: what reaches nft,
//! and that a failure anywhere leaves the state file and the kernel as they were.

use std::cell::{Cell, RefCell};

use super::*;
use crate::container::Protocol;
use service::ServicePort;

/// Records what would be done to the kernel; fails on demand.
#[derive(Default)]
struct Fake {
    calls: RefCell<Vec<String>>,
    fail_nft: Cell<bool>,
    fail_sysctl: Cell<bool>,
    busy: Cell<Option<u16>>,
}

impl Firewall for Fake {
    fn nft(&self, script: &str) -> Result<(), NetworkError> {
        self.calls.borrow_mut().push(format!("nft\n{script}"));
        if self.fail_nft.get() {
            return Err(NetworkError::Nft {
                message: "refused".into(),
            });
        }
        Ok(())
    }

    fn route_localnet(&self, bridge: &str, on: bool) -> Result<(), NetworkError> {
        self.calls
            .borrow_mut()
            .push(format!("route_localnet {bridge} {on}"));
        if self.fail_sysctl.get() && on {
            return Err(NetworkError::Sysctl {
                path: "/proc/sys/x".into(),
                message: "read-only".into(),
            });
        }
        Ok(())
    }

    fn probe(&self, m: &PortMapping) -> Result<(), PortError> {
        match self.busy.get() {
            Some(p) if p == m.host_port => Err(PortError::Busy {
                wanted: ports::describe(m),
                message: "address in use".into(),
            }),
            _ => Ok(()),
        }
    }
}

impl Fake {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }
}

fn tcp(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: None,
        host_port,
        container_port,
        protocol: Protocol::Tcp,
    }
}

struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    opts: NetworkOptions,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::create_dir_all(&store.dir).unwrap();
        Node {
            store,
            _dir: dir,
            opts: NetworkOptions::default(),
        }
    }

    fn state(&self) -> State {
        self.store
            .load()
            .unwrap()
            .unwrap_or_else(|| State::new(Ipam::new(self.opts.subnet).unwrap()))
    }

    /// What `attach` does once the bridge is there.
    fn create(&self, id: &str, publish: &[PortMapping], fw: &Fake) -> Result<(), NetworkError> {
        ports::check(publish)?;
        let state = self.state();
        let mut next = state.clone();
        let ip = next.ipam.allocate(id, |_| true)?;
        let request = Request {
            id,
            name: &format!("name-{id}"),
            ip,
            ports: publish,
        };
        admit(&mut next, &self.opts, &request, |_| true, fw)?;
        save_synced(&self.store, &state, &next, fw)
    }

    /// What `release` does.
    fn remove(&self, id: &str, fw: &Fake) -> Result<(), NetworkError> {
        let state = self.state();
        let mut next = state.clone();
        next.ipam.release(id);
        unpublish(&mut next, id);
        save_synced(&self.store, &state, &next, fw)
    }
}

#[test]
fn a_container_without_ports_never_reaches_nft() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[], &fw).unwrap();
    node.remove("a", &fw).unwrap();
    assert_eq!(fw.take(), Vec::<String>::new());
    assert!(node.state().ipam.allocated.is_empty());
}

#[test]
fn publishing_installs_the_table_then_routes_loopback_and_saves() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[tcp(8080, 80)], &fw).unwrap();
    let calls = fw.take();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].contains("elements = { 8080 : 10.87.0.2 . 80 }"),
        "{}",
        calls[0]
    );
    assert_eq!(calls[1], "route_localnet skiff0 true");
    let state = node.state();
    assert_eq!(state.ports.len(), 1);
    assert_eq!(state.ports[0].owner, "a");
    assert_eq!(state.ports[0].name, "name-a");
    assert_eq!(state.table.as_ref().unwrap().bridge, "skiff0");
}

#[test]
fn a_conflict_or_a_busy_port_changes_nothing() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[tcp(8080, 80)], &fw).unwrap();
    fw.take();
    let before = std::fs::read(node.store.path()).unwrap();
    let e = node
        .create("b", &[tcp(9000, 90), tcp(8080, 81)], &fw)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("8080/tcp conflicts with 8080/tcp, published by container name-a (a)"),
        "{e}"
    );
    fw.busy.set(Some(9000));
    let e = node.create("b", &[tcp(9000, 90)], &fw).unwrap_err();
    assert!(
        e.to_string().contains("a program on the node already uses"),
        "{e}"
    );
    assert_eq!(fw.take(), Vec::<String>::new());
    assert_eq!(std::fs::read(node.store.path()).unwrap(), before);
}

#[test]
fn when_nft_refuses_nothing_is_saved() {
    let node = Node::new();
    let fw = Fake::default();
    fw.fail_nft.set(true);
    let e = node.create("a", &[tcp(8080, 80)], &fw).unwrap_err();
    assert!(matches!(e, NetworkError::Nft { .. }), "{e}");
    assert!(
        node.store.load().unwrap().is_none(),
        "a state file was written"
    );
}

#[test]
fn when_loopback_routing_fails_the_table_is_put_back() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[tcp(8080, 80)], &fw).unwrap();
    let before = std::fs::read(node.store.path()).unwrap();
    fw.take();
    fw.fail_sysctl.set(true);
    let e = node.create("b", &[tcp(8081, 80)], &fw).unwrap_err();
    assert!(matches!(e, NetworkError::Sysctl { .. }), "{e}");
    let calls = fw.take();
    // b's table, the failed sysctl, then a's table again.
    let last = calls.iter().rev().find(|c| c.starts_with("nft")).unwrap();
    assert!(!last.contains("8081"), "{last}");
    assert!(last.contains("8080 : 10.87.0.2 . 80"), "{last}");
    assert_eq!(std::fs::read(node.store.path()).unwrap(), before);
}

#[test]
fn release_takes_out_the_containers_elements_and_the_last_one_the_table() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[tcp(8080, 80)], &fw).unwrap();
    node.create("b", &[tcp(8081, 80), tcp(8082, 80)], &fw)
        .unwrap();
    fw.take();
    node.remove("b", &fw).unwrap();
    let calls = fw.take();
    assert!(calls[0].contains("8080 : 10.87.0.2 . 80"), "{}", calls[0]);
    assert!(!calls[0].contains("8081") && !calls[0].contains("8082"));
    assert_eq!(node.state().ports.len(), 1);
    node.remove("a", &fw).unwrap();
    assert_eq!(
        fw.take(),
        vec![
            "route_localnet skiff0 false".to_string(),
            format!("nft\n{}", ports::removal())
        ]
    );
    let state = node.state();
    assert!(state.ports.is_empty() && state.table.is_none());
    // Twice is fine, and touches nothing.
    node.remove("a", &fw).unwrap();
    assert_eq!(fw.take(), Vec::<String>::new());
}

#[test]
fn a_release_nft_refuses_keeps_the_address_and_the_ports() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[tcp(8080, 80)], &fw).unwrap();
    fw.fail_nft.set(true);
    node.remove("a", &fw).unwrap_err();
    let state = node.state();
    assert_eq!(state.ports.len(), 1);
    assert_eq!(state.ipam.allocated.len(), 1);
}

#[test]
fn masquerading_alone_sets_the_table_up_and_the_next_create_without_it_removes_it() {
    let mut node = Node::new();
    let fw = Fake::default();
    node.opts.masquerade = true;
    node.create("a", &[], &fw).unwrap();
    let calls = fw.take();
    assert!(
        calls[0].contains("oifname != \"skiff0\" masquerade"),
        "{}",
        calls[0]
    );
    node.opts.masquerade = false;
    node.create("b", &[], &fw).unwrap();
    let calls = fw.take();
    assert_eq!(calls.last().unwrap(), &format!("nft\n{}", ports::removal()));
}

#[test]
fn state_files_from_before_published_ports_still_load() {
    let state: State = serde_json::from_str(
        r#"{"ipam": {"subnet": "10.87.0.0/16", "allocated": {"10.87.0.2": "a"}, "last": "10.87.0.2"}}"#,
    )
    .unwrap();
    assert!(state.ports.is_empty() && state.table.is_none());
}

/// What `Engine::set_service_ports` does once the list is checked.
fn set_services(node: &Node, services: &[ServicePort], fw: &Fake) -> Result<(), NetworkError> {
    let state = node.state();
    let mut next = state.clone();
    ingress::replace(&mut next, &node.opts, services, fw)?;
    save_synced(&node.store, &state, &next, fw)
}

fn web(backends: &[&str]) -> ServicePort {
    ServicePort {
        name: "dev/shop/web".into(),
        protocol: Protocol::Tcp,
        host_ip: None,
        published: 8080,
        backends: backends.iter().map(|b| b.parse().unwrap()).collect(),
    }
}

#[test]
fn service_ports_are_set_whole_and_the_table_goes_with_the_last() {
    let node = Node::new();
    let fw = Fake::default();
    set_services(&node, &[web(&["10.87.0.2:80", "10.87.0.3:80"])], &fw).unwrap();
    let calls = fw.take();
    assert!(calls[0].contains("numgen random mod 2"), "{calls:?}");
    assert_eq!(calls[1], "route_localnet skiff0 true");
    set_services(&node, &[web(&[])], &fw).unwrap();
    let calls = fw.take();
    assert!(calls[0].contains("reject with tcp reset"), "{calls:?}");
    // The same list again: nothing to do.
    set_services(&node, &[web(&[])], &fw).unwrap();
    assert_eq!(fw.take(), Vec::<String>::new());
    set_services(&node, &[], &fw).unwrap();
    let calls = fw.take();
    assert_eq!(calls[0], "route_localnet skiff0 false");
    assert_eq!(calls[1], format!("nft\n{}", ports::removal()));
    assert_eq!(node.state().table, None);
    assert!(node.state().service_ports.is_empty());
}

#[test]
fn service_ports_and_container_ports_refuse_each_other_naming_the_holder() {
    let node = Node::new();
    let fw = Fake::default();
    node.create("a", &[tcp(8080, 80)], &fw).unwrap();
    fw.take();
    let e = set_services(&node, &[web(&[])], &fw).unwrap_err();
    assert_eq!(
        e.to_string(),
        "service port dev/shop/web: 8080/tcp conflicts with 8080/tcp, published by container \
         name-a (a): choose another host port, or remove that container"
    );
    node.remove("a", &fw).unwrap();
    set_services(&node, &[web(&[])], &fw).unwrap();
    let e = node.create("b", &[tcp(8080, 81)], &fw).unwrap_err();
    assert!(
        e.to_string().contains("the service port of dev/shop/web"),
        "{e}"
    );
}

#[test]
fn only_new_service_ports_are_probed_for_listeners() {
    let node = Node::new();
    let fw = Fake::default();
    fw.busy.set(Some(8080));
    let e = set_services(&node, &[web(&[])], &fw).unwrap_err();
    assert!(e.to_string().contains("a program on the node"), "{e}");
    assert_eq!(fw.take(), Vec::<String>::new());
    assert!(node.state().service_ports.is_empty());
    fw.busy.set(None);
    set_services(&node, &[web(&[])], &fw).unwrap();
    // Held by the service port now: a later probe would see the DNAT's port, not a program.
    fw.busy.set(Some(8080));
    set_services(&node, &[web(&["10.87.0.2:80"])], &fw).unwrap();
}
