use std::collections::BTreeMap;

use skiff_engine::container::Protocol;

use super::*;
use crate::test_support::task;

const WEB: &str = "image: busybox\nports:\n  - \"8080:80\"\n  - \"9000:9000\"\n  - target: 443\n    published: 8443\n    mode: host\n";

fn set(tasks: Vec<DesiredTask>) -> DesiredSet {
    DesiredSet {
        revision: 1,
        complete: true,
        tasks: tasks.into_iter().map(|t| (t.id.clone(), t)).collect(),
    }
}

fn running(task: &str, ip: &str) -> ContainerView {
    ContainerView {
        id: format!("c-{task}"),
        name: format!("name-{task}"),
        labels: BTreeMap::from([(LABEL_TASK.to_owned(), task.to_owned())]),
        state: ContainerState::Running,
        ip: Some(ip.into()),
        pid: Some(1),
        started_at: None,
        exit_code: None,
    }
}

fn web_port(published: u16, backends: &[&str]) -> ServicePort {
    ServicePort {
        name: "dev/shop/web".into(),
        protocol: Protocol::Tcp,
        host_ip: None,
        published,
        backends: backends.iter().map(|b| b.parse().unwrap()).collect(),
    }
}

#[test]
fn each_ingress_port_is_one_service_port_over_the_running_tasks() {
    let tasks = vec![task("t1", 1, WEB), task("t2", 2, WEB), task("t3", 3, WEB)];
    let mut exited = running("t3", "10.87.0.4");
    exited.state = ContainerState::Exited;
    let observed = [
        running("t2", "10.87.0.3"),
        running("t1", "10.87.0.2"),
        exited,
    ];
    let plan = plan(&set(tasks), &observed, |_| true);
    assert_eq!(
        plan.ports,
        [
            web_port(8080, &["10.87.0.2:80", "10.87.0.3:80"]),
            web_port(9000, &["10.87.0.2:9000", "10.87.0.3:9000"]),
        ]
    );
    assert!(plan.conflicts.is_empty());
}

#[test]
fn tasks_not_ready_are_not_backends_and_no_backend_still_publishes_the_port() {
    let tasks = vec![task("t1", 1, WEB), task("t2", 2, WEB)];
    let observed = [running("t1", "10.87.0.2"), running("t2", "10.87.0.3")];
    let some = plan(&set(tasks.clone()), &observed, |t| t.id == "t2");
    assert_eq!(some.ports[0], web_port(8080, &["10.87.0.3:80"]));
    let none = plan(&set(tasks), &[], |_| true);
    assert_eq!(none.ports, [web_port(8080, &[]), web_port(9000, &[])]);
}

#[test]
fn tasks_wanted_stopped_publish_nothing() {
    let mut t = task("t1", 1, WEB);
    t.want = Want::Shutdown;
    let plan = plan(&set(vec![t]), &[running("t1", "10.87.0.2")], |_| true);
    assert_eq!(plan, IngressPlan::default());
}

#[test]
fn each_task_is_a_backend_at_its_own_specs_target() {
    let old = task("t1", 1, "image: busybox\nports: [\"8080:80\"]\n");
    let new = task("t2", 2, "image: busybox\nports: [\"8080:8000\"]\n");
    let observed = [running("t1", "10.87.0.2"), running("t2", "10.87.0.3")];
    let plan = plan(&set(vec![old, new]), &observed, |_| true);
    assert_eq!(
        plan.ports,
        [web_port(8080, &["10.87.0.2:80", "10.87.0.3:8000"])]
    );
}

#[test]
fn two_services_on_one_port_the_first_keeps_it_and_the_other_is_reported() {
    let web = task("t1", 1, "image: busybox\nports: [\"8080:80\"]\n");
    let mut api = task("t2", 1, "image: busybox\nports: [\"8080:81\"]\n");
    api.service = "api".into();
    let plan = plan(&set(vec![web, api]), &[], |_| true);
    assert_eq!(plan.ports.len(), 1);
    assert_eq!(plan.ports[0].name, "dev/shop/api");
    assert_eq!(
        plan.conflicts,
        ["ingress port 8080/tcp of dev/shop/web is not published: dev/shop/api publishes it"]
    );
}

#[test]
fn ports_the_engine_cannot_publish_are_left_out() {
    let t = task(
        "t1",
        1,
        "image: busybox\nports: [\"9000:9000/sctp\", \"80\"]\n",
    );
    assert_eq!(plan(&set(vec![t]), &[], |_| true), IngressPlan::default());
}
