//! Table tests of the spec's merge rules against what `docker run` does.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Mount};
use serde_json::json;

use super::*;
use crate::container::config::{MountConfig, Resources};

fn image(config: serde_json::Value) -> ImageConfiguration {
    serde_json::from_value(json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap()
}

fn ctx() -> SpecContext {
    SpecContext::new(
        "0123456789abcdef0123",
        Path::new("/var/lib/skiff/containers/x/rootfs"),
        ResolvedUser::default(),
        20000,
    )
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn with(f: impl FnOnce(&mut ContainerConfig)) -> ContainerConfig {
    let mut cfg = ContainerConfig {
        image: "busybox".into(),
        ..Default::default()
    };
    f(&mut cfg);
    cfg
}

fn built(cfg: &ContainerConfig) -> Spec {
    build(cfg, &image(json!({"Cmd": ["sh"]})), &ctx()).unwrap()
}

fn process(spec: &Spec) -> &Process {
    spec.process().as_ref().unwrap()
}

fn linux(spec: &Spec) -> &oci_spec::runtime::Linux {
    spec.linux().as_ref().unwrap()
}

#[test]
fn entrypoint_and_cmd_merge_as_docker_run() {
    type Row<'a> = (
        &'a [&'a str],
        &'a [&'a str],
        Option<&'a [&'a str]>,
        Option<&'a [&'a str]>,
    );
    let table: &[(Row, Option<&[&str]>)] = &[
        ((&[], &["sh"], None, None), Some(&["sh"])),
        ((&["ep"], &["a"], None, None), Some(&["ep", "a"])),
        ((&["ep"], &["a"], None, Some(&["b"])), Some(&["ep", "b"])),
        ((&["ep"], &["a"], None, Some(&[])), Some(&["ep", "a"])),
        ((&["ep"], &["a"], Some(&["x"]), None), Some(&["x"])),
        (
            (&["ep"], &["a"], Some(&["x"]), Some(&["b"])),
            Some(&["x", "b"]),
        ),
        // `--entrypoint ""` clears the entrypoint and keeps the image's Cmd.
        ((&["ep"], &["a"], Some(&[]), None), Some(&["a"])),
        ((&["ep"], &["a"], Some(&[]), Some(&["b"])), Some(&["b"])),
        ((&["ep"], &[], None, None), Some(&["ep"])),
        ((&[], &[], None, None), None),
        ((&["ep"], &[], Some(&[]), None), None),
        ((&[], &[""], None, None), None),
    ];
    for ((img_ep, img_cmd, ep, cmd), want) in table {
        let img = image(json!({"Entrypoint": img_ep, "Cmd": img_cmd}));
        let cfg = with(|c| {
            c.entrypoint = ep.map(strings);
            c.cmd = cmd.map(strings);
        });
        let got = build(&cfg, &img, &ctx());
        match want {
            Some(want) => {
                let spec = got.unwrap();
                assert_eq!(process(&spec).args().as_deref(), Some(&strings(want)[..]));
            }
            None => {
                let err = got.unwrap_err();
                assert!(matches!(err, SpecError::NoCommand), "{err}");
                assert_eq!(
                    err.to_string(),
                    "no command: the image has no Entrypoint or Cmd and none was given"
                );
            }
        }
    }
    let no_config: ImageConfiguration = serde_json::from_value(json!({
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let cfg = with(|c| c.cmd = Some(strings(&["true"])));
    assert!(build(&cfg, &no_config, &ctx()).is_ok());
}

#[test]
fn env_merges_by_key() {
    let path = format!("PATH={DEFAULT_PATH}");
    let host = "HOSTNAME=0123456789ab";
    let table: &[(&[&str], &[&str], &[&str])] = &[
        (&[], &[], &[&path, host]),
        (
            &["PATH=/x", "A=1"],
            &["A=2", "B=3"],
            &["PATH=/x", host, "A=2", "B=3"],
        ),
        (&["A=1", "C=3"], &["A"], &[&path, host, "C=3"]),
        (&["A=1"], &["A="], &[&path, host, "A="]),
        (&[], &["HOSTNAME=mine"], &[&path, "HOSTNAME=mine"]),
        (&[], &["PATH"], &[host]),
        (&["A=1", "A=2"], &[], &[&path, host, "A=2"]),
        (&[], &["X=a=b"], &[&path, host, "X=a=b"]),
    ];
    for (img_env, env, want) in table {
        let img = image(json!({"Env": img_env, "Cmd": ["sh"]}));
        let cfg = with(|c| c.env = strings(env));
        let spec = build(&cfg, &img, &ctx()).unwrap();
        assert_eq!(
            process(&spec).env().as_deref(),
            Some(&strings(want)[..]),
            "{img_env:?} + {env:?}"
        );
    }
    let err = build(
        &with(|c| c.env = strings(&["A=1", "=x"])),
        &image(json!({"Cmd": ["sh"]})),
        &ctx(),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "env[1]: \"=x\" is not NAME=value (or NAME, which unsets it)"
    );
}

#[test]
fn workdir_and_user() {
    let table: &[(Option<&str>, Option<&str>, &str)] = &[
        (None, None, "/"),
        (None, Some("/app"), "/app"),
        (None, Some("rel"), "/rel"),
        (Some("/w"), Some("/app"), "/w"),
        (Some(""), Some("/app"), "/app"),
    ];
    for (cfg_dir, img_dir, want) in table {
        let img = image(json!({"WorkingDir": img_dir, "Cmd": ["sh"]}));
        let cfg = with(|c| c.workdir = cfg_dir.map(String::from));
        let spec = build(&cfg, &img, &ctx()).unwrap();
        assert_eq!(
            process(&spec).cwd(),
            Path::new(want),
            "{cfg_dir:?} {img_dir:?}"
        );
    }
    let err = build(
        &with(|c| c.workdir = Some("w".into())),
        &image(json!({"Cmd": ["sh"]})),
        &ctx(),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "workdir: \"w\" must be an absolute path"
    );

    let img = image(json!({"User": "nobody", "Cmd": ["sh"]}));
    assert_eq!(effective_user(&with(|_| {}), &img), "nobody");
    assert_eq!(
        effective_user(&with(|c| c.user = Some("bob".into())), &img),
        "bob"
    );
    assert_eq!(effective_user(&with(|_| {}), &image(json!({}))), "");

    let mut c = ctx();
    c.user = ResolvedUser {
        uid: 1000,
        gid: 100,
        additional_gids: vec![10, 50],
        home: None,
    };
    let spec = build(&with(|_| {}), &image(json!({"Cmd": ["sh"]})), &c).unwrap();
    let user = process(&spec).user();
    assert_eq!((user.uid(), user.gid()), (1000, 100));
    assert_eq!(user.additional_gids().as_deref(), Some(&[10, 50][..]));
}

fn cap_set(caps: &[Capability]) -> HashSet<Capability> {
    caps.iter().copied().collect()
}

#[test]
fn capabilities_follow_docker() {
    let defaults = cap_set(&DEFAULT_CAPABILITIES);
    let with_caps = |add: &[&str], drop: &[&str]| {
        capabilities(&strings(add), &strings(drop)).map(|c| cap_set(&c))
    };
    assert_eq!(with_caps(&[], &[]).unwrap(), defaults);
    let mut plus = defaults.clone();
    plus.insert(Capability::NetAdmin);
    plus.insert(Capability::SysTime);
    assert_eq!(
        with_caps(&["NET_ADMIN", "cap_sys_time"], &[]).unwrap(),
        plus
    );
    assert_eq!(
        with_caps(&["CAP_NET_ADMIN", "net_admin"], &[])
            .unwrap()
            .len(),
        15
    );
    let mut minus = defaults.clone();
    minus.remove(&Capability::NetRaw);
    assert_eq!(with_caps(&[], &["NET_RAW"]).unwrap(), minus);
    assert_eq!(
        with_caps(&["NET_RAW"], &["NET_RAW"]).unwrap(),
        defaults,
        "add wins"
    );
    assert_eq!(
        with_caps(&["CHOWN"], &["ALL"]).unwrap(),
        cap_set(&[Capability::Chown])
    );
    let all = with_caps(&["ALL"], &["SYS_ADMIN"]).unwrap();
    assert_eq!(all.len(), 40);
    assert!(!all.contains(&Capability::SysAdmin));
    assert!(with_caps(&[], &["all"]).unwrap().is_empty());
    let err = with_caps(&["CHOWN", "NET_ADMINN"], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cap_add[1]: \"NET_ADMINN\" is not a capability (examples: NET_ADMIN, CAP_SYS_TIME, ALL)"
    );
    assert!(with_caps(&[], &["CAP_"])
        .unwrap_err()
        .to_string()
        .starts_with("cap_drop[0]"));
}

#[test]
fn capability_sets_and_seccomp() {
    let cfg = with(|c| c.cap_add = strings(&["SYS_ADMIN"]));
    let spec = built(&cfg);
    let sets = process(&spec).capabilities().clone().unwrap();
    let caps = capabilities(&cfg.cap_add, &cfg.cap_drop).unwrap();
    assert_eq!(sets.bounding().clone().unwrap(), cap_set(&caps));
    assert_eq!(sets.effective().clone().unwrap(), cap_set(&caps));
    assert_eq!(sets.permitted().clone().unwrap(), cap_set(&caps));
    assert!(sets.inheritable().clone().unwrap().is_empty());
    assert!(sets.ambient().clone().unwrap().is_empty());
    assert_eq!(
        linux(&spec).seccomp().as_ref(),
        Some(&skiff_runtime::seccomp::docker_default(&caps))
    );
    assert_eq!(process(&spec).no_new_privileges(), Some(false));

    let mut c = ctx();
    c.user.uid = 1000;
    let spec = build(&with(|_| {}), &image(json!({"Cmd": ["sh"]})), &c).unwrap();
    let sets = process(&spec).capabilities().clone().unwrap();
    assert_eq!(
        sets.bounding().clone().unwrap(),
        cap_set(&DEFAULT_CAPABILITIES)
    );
    assert!(
        sets.effective().clone().unwrap().is_empty(),
        "non-root: bounding only"
    );
    assert!(sets.permitted().clone().unwrap().is_empty());
}

fn dests(mounts: &[Mount]) -> Vec<String> {
    mounts
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect()
}

fn find<'a>(spec: &'a Spec, dest: &str) -> &'a Mount {
    let mounts = spec.mounts().as_ref().unwrap();
    mounts
        .iter()
        .find(|m| m.destination() == Path::new(dest))
        .unwrap_or_else(|| panic!("no mount at {dest}: {:?}", dests(mounts)))
}

fn options(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}

#[test]
fn default_mounts_are_dockers() {
    let spec = built(&with(|_| {}));
    assert_eq!(
        dests(spec.mounts().as_ref().unwrap()),
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    assert!(options(find(&spec, "/dev/shm")).contains(&format!("size={}", 64 << 20)));
    assert!(options(find(&spec, "/sys")).contains(&"ro".to_string()));
    assert!(options(find(&spec, "/sys/fs/cgroup")).contains(&"ro".to_string()));
    assert_eq!(linux(&spec).masked_paths().as_ref().unwrap().len(), 12);
    assert_eq!(linux(&spec).readonly_paths().as_ref().unwrap().len(), 5);
}

fn volume(name: &str, target: &str, read_only: bool) -> MountConfig {
    MountConfig::Volume {
        name: name.into(),
        target: target.into(),
        read_only,
    }
}

fn bind(source: &str, target: &str) -> MountConfig {
    MountConfig::Bind {
        source: source.into(),
        target: target.into(),
        read_only: false,
    }
}

fn tmpfs(target: &str, size: Option<u64>, mode: Option<u32>) -> MountConfig {
    MountConfig::Tmpfs {
        target: target.into(),
        size,
        mode,
    }
}

fn ctx_with_volumes() -> SpecContext {
    let mut c = ctx();
    c.volume_paths
        .insert("data".into(), "/var/lib/skiff/volumes/data/_data".into());
    c.hosts_file = Some("/run/c/hosts".into());
    c.hostname_file = Some("/run/c/hostname".into());
    c.resolv_conf = Some("/run/c/resolv.conf".into());
    c
}

#[test]
fn config_mounts_become_binds_and_tmpfs() {
    let cfg = with(|c| {
        c.mounts = vec![
            volume("data", "/data/", true),
            bind("/srv/www", "/var/www"),
            tmpfs("/run", Some(1 << 20), None),
            tmpfs("/dev/shm", None, Some(0o700)),
            bind("/srv/conf", "/data/conf"),
            bind("/srv/hosts", "/etc/hosts"),
        ];
    });
    let spec = build(&cfg, &image(json!({"Cmd": ["sh"]})), &ctx_with_volumes()).unwrap();
    let all = dests(spec.mounts().as_ref().unwrap());
    assert_eq!(
        all,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            // The config's and the /etc files, by depth.
            "/data",
            "/run",
            "/var/www",
            "/dev/shm",
            "/data/conf",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ]
    );
    let data = find(&spec, "/data");
    assert_eq!(data.typ().as_deref(), Some("bind"));
    assert_eq!(
        data.source().as_deref(),
        Some(Path::new("/var/lib/skiff/volumes/data/_data"))
    );
    assert_eq!(options(data), ["rbind", "rprivate", "ro"]);
    assert_eq!(options(find(&spec, "/var/www")), ["rbind", "rprivate"]);
    let run = find(&spec, "/run");
    assert_eq!(run.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        options(run),
        ["nosuid", "nodev", "mode=1777", "size=1048576"]
    );
    assert_eq!(
        options(find(&spec, "/dev/shm")),
        ["nosuid", "nodev", "mode=700"]
    );
    assert_eq!(
        find(&spec, "/etc/hosts").source().as_deref(),
        Some(Path::new("/srv/hosts")),
        "the config's mount wins over the prepared file"
    );
    assert_eq!(
        options(find(&spec, "/etc/resolv.conf")),
        ["rbind", "rprivate"]
    );
}

#[test]
fn a_dev_mount_replaces_the_dev_defaults() {
    let cfg = with(|c| c.mounts = vec![bind("/dev", "/dev")]);
    let spec = built(&cfg);
    assert_eq!(
        dests(spec.mounts().as_ref().unwrap()),
        ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]
    );
}

#[test]
fn read_only_root() {
    let spec = build(
        &with(|c| c.read_only = true),
        &image(json!({"Cmd": ["sh"]})),
        &ctx_with_volumes(),
    )
    .unwrap();
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    assert!(options(find(&spec, "/etc/hostname")).contains(&"ro".to_string()));
    let spec = built(&with(|_| {}));
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
    assert_eq!(
        spec.root().as_ref().unwrap().path(),
        Path::new("/var/lib/skiff/containers/x/rootfs")
    );
}

#[test]
fn bad_mounts_name_the_field() {
    let table: &[(Vec<MountConfig>, &str)] = &[
        (
            vec![tmpfs("/a", None, None), tmpfs("b", None, None)],
            "mounts[1].target: \"b\" must be an absolute path",
        ),
        (
            vec![bind("/x", "/a/..")],
            "mounts[0].target: a mount cannot replace the container's root directory /",
        ),
        (
            vec![tmpfs("/a", None, None), tmpfs("/b", None, None), tmpfs("/a/", None, None)],
            "mounts[2].target: /a is already the target of mounts[0]",
        ),
        (
            vec![volume("other", "/a", false)],
            "mounts[0].name: volume \"other\" has no host directory in the spec context (VolumeStore::ensure gives it)",
        ),
        (vec![volume("../etc", "/a", false)], "mounts[0].name: \"../etc\" is not a volume name"),
        (vec![bind("srv", "/a")], "mounts[0].source: \"srv\" must be an absolute path"),
        (vec![tmpfs("/a", Some(0), None)], "mounts[0].size: a tmpfs size must be more than 0"),
        (vec![tmpfs("/a", None, Some(0o17777))], "mounts[0].mode: 17777 is not a directory mode"),
        (vec![tmpfs("/proc", None, None)], "mounts[0].target: /proc is inside /proc"),
        (vec![tmpfs("/a/../proc/sys/", None, None)], "mounts[0].target: /proc/sys is inside /proc"),
    ];
    for (mounts, want) in table {
        let cfg = with(|c| c.mounts = mounts.clone());
        let err = build(&cfg, &image(json!({"Cmd": ["sh"]})), &ctx_with_volumes()).unwrap_err();
        assert!(err.to_string().starts_with(want), "{err} ≠ {want}");
    }
}

#[test]
fn check_mounts_finds_missing_bind_sources() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().display().to_string();
    let absent = dir.path().join("absent").display().to_string();
    assert!(check_mounts(&with(|c| c.mounts = vec![bind(&present, "/a")])).is_ok());
    let cfg = with(|c| c.mounts = vec![bind(&present, "/a"), bind(&absent, "/b")]);
    let err = check_mounts(&cfg).unwrap_err();
    assert!(matches!(err, SpecError::BindSource { ref field, .. } if field == "mounts[1].source"));
    assert!(err.to_string().contains("No such file"), "{err}");
    let cfg = with(|c| c.mounts = vec![tmpfs("/", None, None)]);
    assert!(matches!(
        check_mounts(&cfg),
        Err(SpecError::RootTarget { .. })
    ));
}

fn resources_of(r: Resources) -> Result<oci_spec::runtime::LinuxResources, SpecError> {
    let spec = build(
        &with(|c| c.resources = r),
        &image(json!({"Cmd": ["sh"]})),
        &ctx(),
    )?;
    Ok(linux(&spec).resources().clone().unwrap())
}

#[test]
fn resources_become_cgroup_limits() {
    let r = resources_of(Resources {
        memory: Some(256 << 20),
        memory_reservation: Some(128 << 20),
        millicpus: Some(1500),
        pids: Some(100),
    })
    .unwrap();
    let memory = r.memory().unwrap();
    assert_eq!(memory.limit(), Some(256 << 20));
    assert_eq!(memory.reservation(), Some(128 << 20));
    let cpu = r.cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
    assert_eq!(r.pids().unwrap().limit(), 100);
    assert!(!r.devices().as_ref().unwrap()[0].allow(), "deny all first");

    let none = resources_of(Resources::default()).unwrap();
    assert!(none.memory().is_none() && none.cpu().is_none() && none.pids().is_none());
    let unlimited = resources_of(Resources {
        pids: Some(0),
        ..Default::default()
    })
    .unwrap();
    assert!(unlimited.pids().is_none());
    let smallest = resources_of(Resources {
        millicpus: Some(10),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(smallest.cpu().clone().unwrap().quota(), Some(1000));

    let errors = [
        (
            Resources {
                memory: Some(1 << 20),
                ..Default::default()
            },
            "resources.memory: 1048576 is below the minimum of 6291456",
        ),
        (
            Resources {
                memory: Some(64 << 20),
                memory_reservation: Some(128 << 20),
                ..Default::default()
            },
            "resources.memory_reservation: 134217728 is above the memory limit 67108864",
        ),
        (
            Resources {
                millicpus: Some(5),
                ..Default::default()
            },
            "resources.millicpus: 5 is below the minimum of 10",
        ),
        (
            Resources {
                memory: Some(u64::MAX),
                ..Default::default()
            },
            "resources.memory: 18446744073709551615 is too large",
        ),
    ];
    for (r, want) in errors {
        assert_eq!(resources_of(r).unwrap_err().to_string(), want);
    }
}

fn ns_types(spec: &Spec) -> Vec<LinuxNamespaceType> {
    linux(spec)
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect()
}

#[test]
fn namespaces_hostname_sysctls_rlimits() {
    use LinuxNamespaceType::*;
    let spec = built(&with(|_| {}));
    assert_eq!(ns_types(&spec), [Pid, Ipc, Uts, Mount, Network, Cgroup]);
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    let sysctl = linux(&spec).sysctl().clone().unwrap();
    assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
    assert_eq!(
        linux(&spec).cgroups_path().as_deref(),
        Some(Path::new("/skiff/0123456789abcdef0123"))
    );
    let rlimits = process(&spec).rlimits().clone().unwrap();
    assert_eq!((rlimits[0].soft(), rlimits[0].hard()), (20000, 20000));

    let host = with(|c| c.network = NetworkMode::Host);
    let spec = built(&host);
    assert_eq!(ns_types(&spec), [Pid, Ipc, Uts, Mount, Cgroup]);
    assert!(linux(&spec).sysctl().clone().unwrap().is_empty());
    let mut c = ctx();
    c.host_hostname = Some("node1".into());
    assert_eq!(hostname(&host, &c).unwrap(), "node1");
    assert_eq!(hostname(&with(|_| {}), &c).unwrap(), "0123456789ab");

    let named = with(|c| c.hostname = Some("web-1.example".into()));
    assert_eq!(built(&named).hostname().as_deref(), Some("web-1.example"));
    for bad in ["-web", "a_b", "a..b", "", &"x".repeat(65)] {
        let cfg = with(|c| c.hostname = Some(bad.into()));
        let err = build(&cfg, &image(json!({"Cmd": ["sh"]})), &ctx()).unwrap_err();
        assert!(matches!(err, SpecError::InvalidHostname { .. }), "{bad}");
    }
}

#[test]
fn built_specs_pass_the_runtimes_validation() {
    let cfg = with(|c| {
        c.mounts = vec![
            volume("data", "/data", true),
            bind("/srv", "/srv"),
            tmpfs("/tmp", Some(1 << 20), Some(0o1777)),
        ];
        c.read_only = true;
        c.cap_add = strings(&["NET_ADMIN"]);
        c.cap_drop = strings(&["MKNOD"]);
        c.resources = Resources {
            memory: Some(64 << 20),
            memory_reservation: None,
            millicpus: Some(500),
            pids: Some(64),
        };
        c.env = strings(&["A=1"]);
    });
    let mut c = ctx_with_volumes();
    c.user.uid = 1000;
    c.annotations.insert("org.skiff.id".into(), c.id.clone());
    for network in [NetworkMode::None, NetworkMode::Host] {
        let cfg = ContainerConfig {
            network,
            ..cfg.clone()
        };
        let spec = build(&cfg, &image(json!({"Entrypoint": ["/bin/app"]})), &c).unwrap();
        skiff_runtime::spec::validate(&spec).unwrap();
        // And as the bundle's config.json.
        let text = serde_json::to_vec(&spec).unwrap();
        let parsed = skiff_runtime::spec::parse(&text).unwrap();
        skiff_runtime::spec::validate(&parsed).unwrap();
        assert_eq!(parsed.annotations().as_ref().unwrap()["org.skiff.id"], c.id);
    }
}

#[test]
fn check_finds_at_create_what_build_would_refuse_at_start() {
    let ok = image(json!({"Cmd": ["sh"]}));
    assert!(super::check(&with(|c| c.mounts = vec![volume("data", "/d", false)]), &ok).is_ok());
    let low = with(|c| c.resources.memory = Some(1));
    assert!(matches!(
        super::check(&low, &ok),
        Err(SpecError::TooLow { .. })
    ));
    let relative = with(|c| c.workdir = Some("rel".into()));
    assert!(matches!(
        super::check(&relative, &ok),
        Err(SpecError::RelativePath { .. })
    ));
    let none = image(json!({}));
    assert!(matches!(
        super::check(&with(|_| {}), &none),
        Err(SpecError::NoCommand)
    ));
}
