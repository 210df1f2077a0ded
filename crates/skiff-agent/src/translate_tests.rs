use super::*;
use crate::test_support::task;

fn ok(yaml: &str) -> Translation {
    translate(&task("a1b2c3d4e5f6", 2, yaml), &TranslateOptions::default()).unwrap()
}

fn refused(yaml: &str) -> String {
    translate(&task("a1b2c3d4e5f6", 2, yaml), &TranslateOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn a_plain_service_becomes_a_named_labelled_container() {
    let t = ok("image: busybox\ncommand: [\"sleep\", \"1000\"]\nenvironment:\n  A: \"1\"\n");
    let c = &t.config;
    assert_eq!(c.name.as_deref(), Some("skiff-dev-shop-web-2-a1b2c3d4"));
    assert_eq!(c.image, "busybox");
    assert_eq!(c.cmd, Some(vec!["sleep".into(), "1000".into()]));
    assert_eq!(c.entrypoint, None);
    assert_eq!(c.env, ["A=1"]);
    assert_eq!(c.hostname.as_deref(), Some("web-2"));
    assert_eq!(c.network, NetworkMode::Bridge);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(c.stop_timeout, Some(10));
    let labels: Vec<_> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        labels,
        [
            "skiff.app=shop",
            "skiff.env=dev",
            "skiff.service=web",
            "skiff.slot=2",
            "skiff.spec_revision=7",
            "skiff.task=a1b2c3d4e5f6",
        ]
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn process_settings_resources_and_stop_are_carried_over() {
    let t = ok("image: busybox
entrypoint: [\"/bin/sh\", \"-c\"]
working_dir: /srv
user: \"1000:1000\"
hostname: api
read_only: true
cap_add: [NET_ADMIN]
cap_drop: [ALL]
stop_signal: SIGINT
stop_grace_period: 1500ms
labels:
  team: blue
deploy:
  resources:
    limits: {cpus: \"1.5\", memory: 256m, pids: 100}
    reservations: {cpus: \"0.5\", memory: 128m}
");
    let c = &t.config;
    assert_eq!(c.entrypoint, Some(vec!["/bin/sh".into(), "-c".into()]));
    assert_eq!(c.workdir.as_deref(), Some("/srv"));
    assert_eq!(c.user.as_deref(), Some("1000:1000"));
    assert_eq!(c.hostname.as_deref(), Some("api"));
    assert!(c.read_only);
    assert_eq!(c.cap_add, ["NET_ADMIN"]);
    assert_eq!(c.cap_drop, ["ALL"]);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(c.stop_timeout, Some(2), "rounded up to whole seconds");
    assert_eq!(c.labels["team"], "blue");
    assert_eq!(
        c.resources,
        Resources {
            memory: Some(256 << 20),
            memory_reservation: Some(128 << 20),
            millicpus: Some(1500),
            pids: Some(100),
        }
    );
}

#[test]
fn mounts_become_engine_mounts_with_volumes_named_per_app() {
    let t = ok("image: busybox
volumes:
  - data:/data
  - /logs
  - type: bind
    source: /srv/conf
    target: /conf
    read_only: true
  - type: tmpfs
    target: /run
    tmpfs: {size: 1m}
");
    assert_eq!(
        t.config.mounts,
        [
            MountConfig::Volume {
                name: "dev_shop_data".into(),
                target: "/data".into(),
                read_only: false
            },
            MountConfig::Volume {
                name: "dev_shop_web-a1b2c3d4-1".into(),
                target: "/logs".into(),
                read_only: false
            },
            MountConfig::Bind {
                source: "/srv/conf".into(),
                target: "/conf".into(),
                read_only: true
            },
            MountConfig::Tmpfs {
                target: "/run".into(),
                size: Some(1 << 20),
                mode: None
            },
        ]
    );
    assert!(t.host_dirs.is_empty());
    // The short syntax creates a missing host directory, as Compose does.
    let t = ok("image: busybox\nvolumes:\n  - /srv/new:/new\n");
    assert_eq!(t.host_dirs, [PathBuf::from("/srv/new")]);
}

#[test]
fn only_host_mode_ports_are_published_by_the_container() {
    let t = ok("image: busybox
ports:
  - \"8080:80\"
  - \"127.0.0.1:5353:53/udp\"
  - target: 443
    published: 8443
    mode: host
");
    let mapping = |host_ip, host_port, container_port, protocol| PortMapping {
        host_ip,
        host_port,
        container_port,
        protocol,
    };
    assert_eq!(t.config.ports, [mapping(None, 8443, 443, Protocol::Tcp)]);
    // Without a network, nothing is published, and the status says so.
    let no_net = TranslateOptions {
        network: NetworkMode::None,
    };
    let t = translate(
        &task("t1", 1, "image: busybox\nports: [\"8080:80\"]\n"),
        &no_net,
    )
    .unwrap();
    assert!(t.config.ports.is_empty());
    assert_eq!(t.notes[0].field, "ports");
}

#[test]
fn what_the_engine_cannot_do_is_refused_naming_the_field() {
    let cases = [
        ("image: busybox\nports: [\"9000:9000/sctp\"]\n", "ports[0].protocol"),
        ("image: busybox\nports: [\"[::1]:80:80\"]\n", "ports[0].host_ip"),
        ("image: busybox\nports: [\"80\"]\n", "ports[0].published"),
        ("image: busybox\nlabels:\n  skiff.task: x\n", "labels.skiff.task"),
        (
            "image: busybox\nvolumes:\n  - type: volume\n    source: d\n    target: /d\n    volume: {subpath: a}\n",
            "mounts[0].subpath",
        ),
    ];
    for (yaml, field) in cases {
        let message = refused(yaml);
        assert!(
            message.contains(&format!("{field} is not supported")),
            "{yaml}: {message}"
        );
        assert!(message.starts_with("task a1b2c3d4e5f6: "), "{message}");
    }
}

#[test]
fn what_the_container_runs_without_is_noted() {
    let t = ok("image: busybox
init: true
tty: true
ulimits:
  nofile: 1024
dns: [1.1.1.1]
");
    let fields: Vec<_> = t.notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(fields, ["init", "tty", "ulimits.nofile", "dns"]);
    assert_eq!(
        t.notes[0].to_string(),
        "init: ignored: the engine runs the command as PID 1"
    );
}

#[test]
fn a_global_task_is_named_after_its_node() {
    let mut t = task("0123456789", 1, "image: busybox\n");
    t.slot = TaskSlot::Node("node-a".into());
    assert_eq!(container_name(&t), "skiff-dev-shop-web-node-a-01234567");
    assert_eq!(default_hostname(&t), "web-node-a");
    assert_eq!(task_labels(&t)[LABEL_SLOT], "node:node-a");
}

const WITH_SECRET: &str = "image: busybox\nsecrets:\n  - source: token\n    mode: 0400\n";

fn with_secret_spec() -> String {
    WITH_SECRET.to_owned()
}

#[test]
fn secret_files_are_handed_to_the_engine_as_sent() {
    let mut t = task("a1b2c3d4e5f6", 1, &with_secret_spec());
    t.files = vec![skiff_engine::container::ContainerFile {
        target: "/run/secrets/token".into(),
        data: b"s3cr3t".to_vec(),
        mode: 0o400,
        uid: 0,
        gid: 0,
    }];
    let out = translate(&t, &TranslateOptions::default()).unwrap();
    assert_eq!(out.config.files, t.files);
    assert!(!format!("{out:?}").contains("s3cr3t"));
}

#[test]
fn a_missing_secret_fails_the_task_with_the_servers_message() {
    let mut t = task("a1b2c3d4e5f6", 1, &with_secret_spec());
    t.files_error = Some("secret \"token\" is not in environment dev".into());
    let e = translate(&t, &TranslateOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "task a1b2c3d4e5f6: secret \"token\" is not in environment dev"
    );
    // Files the server did not send are not silently skipped.
    let t = task("a1b2c3d4e5f6", 1, &with_secret_spec());
    let e = translate(&t, &TranslateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("declares 1 secret and config files but the control plane sent 0"),
        "{e}"
    );
}
