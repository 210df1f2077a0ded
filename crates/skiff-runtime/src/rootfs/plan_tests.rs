use std::path::PathBuf;

use nix::mount::MsFlags;
use skiff_cgroups::Version;

use super::*;

fn spec(json: serde_json::Value) -> Spec {
    serde_json::from_value(json).unwrap()
}

fn example() -> serde_json::Value {
    serde_json::from_str(crate::spec::EXAMPLE).unwrap()
}

fn v1_paths() -> Vec<(Vec<String>, PathBuf)> {
    vec![
        (
            vec!["memory".into()],
            "/sys/fs/cgroup/memory/skiff/c".into(),
        ),
        (
            vec!["cpu".into(), "cpuacct".into()],
            "/sys/fs/cgroup/cpu,cpuacct/skiff/c".into(),
        ),
        (
            vec!["name=systemd".into()],
            "/sys/fs/cgroup/systemd/skiff/c".into(),
        ),
    ]
}

fn plan_of(spec: &Spec, user_ns: bool, version: Version, paths: &[(Vec<String>, PathBuf)]) -> Plan {
    plan(&PlanInput {
        spec,
        bundle: Path::new("/bundle"),
        user_ns,
        cgroup_ns: false,
        cgroup_version: version,
        cgroup_paths: paths,
        no_pivot: false,
    })
    .unwrap()
}

fn targets(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Mount(m) => Some(format!(
                "{}:{}",
                m.fstype.as_deref().unwrap_or("bind"),
                m.target.display()
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn runc_default_spec_plans_like_runc() {
    let s = spec(example());
    let paths = v1_paths();
    let p = plan_of(&s, false, Version::V1, &paths);
    assert_eq!(
        p.before_pivot[0],
        Op::RootPropagation(MsFlags::MS_SLAVE | MsFlags::MS_REC)
    );
    assert_eq!(p.before_pivot[1], Op::BindRootfs);
    assert_eq!(
        targets(&p.before_pivot),
        vec![
            "proc:/proc",
            "tmpfs:/dev",
            "devpts:/dev/pts",
            "tmpfs:/dev/shm",
            "mqueue:/dev/mqueue",
            "sysfs:/sys",
            "tmpfs:/sys/fs/cgroup",
            "bind:/sys/fs/cgroup/memory",
            "bind:/sys/fs/cgroup/cpu,cpuacct",
            "bind:/sys/fs/cgroup/systemd",
            "bind:/sys/fs/cgroup",
        ]
    );
    // The read-only cgroup binds are remounted read-only.
    let cpu = p.before_pivot.iter().find_map(|op| match op {
        Op::Mount(m) if m.target == Path::new("/sys/fs/cgroup/cpu,cpuacct") => Some(m.clone()),
        _ => None,
    });
    let cpu = cpu.unwrap();
    assert!(cpu
        .remount
        .unwrap()
        .contains(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT | MsFlags::MS_BIND));
    assert_eq!(
        cpu.source.unwrap(),
        PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/skiff/c")
    );
    // Co-mounted controllers get symlinks, as on systemd hosts.
    assert!(p.before_pivot.contains(&Op::Symlink {
        target: "cpu,cpuacct".into(),
        link: "/sys/fs/cgroup/cpu".into()
    }));
    // Devices are made with mknod outside a user namespace.
    let devices: Vec<_> = p
        .before_pivot
        .iter()
        .filter_map(|op| match op {
            Op::Device(d) => Some((d.path.display().to_string(), d.bind_from_host)),
            _ => None,
        })
        .collect();
    assert_eq!(devices.len(), 6);
    assert!(devices.iter().all(|(_, bind)| !bind));
    assert!(p.before_pivot.contains(&Op::Symlink {
        target: "pts/ptmx".into(),
        link: "/dev/ptmx".into()
    }));
    assert!(p.before_pivot.contains(&Op::Symlink {
        target: "/proc/self/fd".into(),
        link: "/dev/fd".into()
    }));
    // After the pivot: read-only paths, masks, then the read-only root.
    assert_eq!(
        p.after_pivot.first(),
        Some(&Op::ReadOnly("/proc/bus".into()))
    );
    assert!(p.after_pivot.contains(&Op::Mask("/proc/kcore".into())));
    assert_eq!(p.after_pivot.last(), Some(&Op::ReadOnlyRoot));
    assert!(p.pivot_root);
}

#[test]
fn user_namespaces_bind_devices_from_the_host() {
    let s = spec(example());
    let p = plan_of(
        &s,
        true,
        Version::V2,
        &[(vec![], "/sys/fs/cgroup/skiff/c".into())],
    );
    assert!(p
        .before_pivot
        .iter()
        .all(|op| !matches!(op, Op::Device(d) if !d.bind_from_host)));
    // v2 without a cgroup namespace: the container's own directory is bound.
    assert!(targets(&p.before_pivot).contains(&"bind:/sys/fs/cgroup".to_string()));
}

#[test]
fn bind_mounts_split_flags_into_a_remount() {
    let mut v = example();
    v["mounts"] = serde_json::json!([
        {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro", "nosuid", "rprivate"]},
        {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}
    ]);
    let s = spec(v);
    let p = plan_of(&s, false, Version::V1, &[]);
    let Op::Mount(m) = &p.before_pivot[2] else {
        panic!("{:?}", p.before_pivot)
    };
    assert_eq!(
        m.source.as_deref(),
        Some(Path::new("/bundle/data")),
        "relative sources are bundle-relative"
    );
    assert_eq!(m.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    assert_eq!(
        m.remount,
        Some(MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID)
    );
    assert_eq!(m.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    assert_eq!(m.target_kind, TargetKind::LikeSource);
    // A bind-mounted /dev is used as it is: no device nodes, no symlinks.
    assert!(!p
        .before_pivot
        .iter()
        .any(|op| matches!(op, Op::Device(_) | Op::Symlink { .. })));
}

#[test]
fn bad_mounts_and_devices_are_named() {
    let mut v = example();
    v["mounts"][1]["options"] = serde_json::json!(["tmpcopyup"]);
    let e = plan(&PlanInput {
        spec: &spec(v),
        bundle: Path::new("/b"),
        user_ns: false,
        cgroup_ns: false,
        cgroup_version: Version::V1,
        cgroup_paths: &[],
        no_pivot: false,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("mounts[1].options") && e.contains("tmpcopyup"),
        "{e}"
    );
    let mut v = example();
    v["linux"]["devices"] =
        serde_json::json!([{"path": "/etc/evil", "type": "c", "major": 1, "minor": 3}]);
    let e = plan(&PlanInput {
        spec: &spec(v),
        bundle: Path::new("/b"),
        user_ns: false,
        cgroup_ns: false,
        cgroup_version: Version::V1,
        cgroup_paths: &[],
        no_pivot: false,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("linux.devices[0]"), "{e}");
}

#[test]
fn sysctls_are_sorted_and_before_masks() {
    let mut v = example();
    v["linux"]["sysctl"] = serde_json::json!({"net.b": "2", "net.a": "1"});
    let p = plan_of(&spec(v), false, Version::V1, &[]);
    assert_eq!(
        p.after_pivot[0],
        Op::Sysctl {
            key: "net.a".into(),
            value: "1".into()
        }
    );
    assert_eq!(
        p.after_pivot[1],
        Op::Sysctl {
            key: "net.b".into(),
            value: "2".into()
        }
    );
}
