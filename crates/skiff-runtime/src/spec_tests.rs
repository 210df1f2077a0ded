use super::*;

/// A change to a config.json under test.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

fn example() -> serde_json::Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

fn check(value: serde_json::Value) -> Result<Spec, SpecError> {
    let spec = parse(&serde_json::to_vec(&value).unwrap()).map_err(|(field, message)| {
        SpecError::Parse {
            path: "config.json".into(),
            field,
            message,
        }
    })?;
    validate(&spec)?;
    Ok(spec)
}

fn err(value: serde_json::Value) -> String {
    check(value).unwrap_err().to_string()
}

#[test]
fn the_example_is_valid() {
    check(example()).unwrap();
}

#[test]
fn type_errors_name_the_field() {
    let mut v = example();
    v["linux"]["namespaces"][2]["type"] = "nope".into();
    let e = err(v);
    assert!(e.contains("linux.namespaces[2].type"), "{e}");
    let mut v = example();
    v["process"]["user"]["uid"] = "root".into();
    let e = err(v);
    assert!(e.contains("process.user.uid"), "{e}");
    let e = parse(b"{\"ociVersion\": \"1.0.2\",").unwrap_err();
    assert!(e.1.contains("line 1"), "{e:?}");
}

#[test]
fn refusals_name_the_field() {
    let cases: Vec<(&str, Mutation)> = vec![
        ("ociVersion", Box::new(|v| v["ociVersion"] = "2.0.0".into())),
        (
            "process.args",
            Box::new(|v| v["process"]["args"] = serde_json::json!([])),
        ),
        (
            "process.cwd",
            Box::new(|v| v["process"]["cwd"] = "relative".into()),
        ),
        (
            "process.env[0]",
            Box::new(|v| v["process"]["env"][0] = "NOEQUALS".into()),
        ),
        (
            "process.apparmorProfile",
            Box::new(|v| v["process"]["apparmorProfile"] = "x".into()),
        ),
        (
            "process.rlimits[0]",
            Box::new(|v| v["process"]["rlimits"][0]["soft"] = 5000.into()),
        ),
        (
            "process.oomScoreAdj",
            Box::new(|v| v["process"]["oomScoreAdj"] = 5000.into()),
        ),
        ("root.path", Box::new(|v| v["root"]["path"] = "".into())),
        (
            "mounts[0].destination",
            Box::new(|v| v["mounts"][0]["destination"] = "proc".into()),
        ),
        (
            "linux.namespaces[5].type",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"type": "pid"}))
            }),
        ),
        (
            "hostname",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "uts")
            }),
        ),
        (
            "linux.namespaces",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "mount")
            }),
        ),
        (
            "linux.uidMappings",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"type": "user"}))
            }),
        ),
        (
            "linux.sysctl.kernel.panic",
            Box::new(|v| v["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"})),
        ),
        (
            "linux.sysctl.../../x",
            Box::new(|v| v["linux"]["sysctl"] = serde_json::json!({"../../x": "1"})),
        ),
        (
            "linux.rootfsPropagation",
            Box::new(|v| v["linux"]["rootfsPropagation"] = "sideways".into()),
        ),
        (
            "linux.seccomp.listenerPath",
            Box::new(|v| {
                v["linux"]["seccomp"] =
                    serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"})
            }),
        ),
        (
            "hooks.prestart[0].path",
            Box::new(|v| v["hooks"] = serde_json::json!({"prestart": [{"path": "rel"}]})),
        ),
        (
            "linux.maskedPaths[0]",
            Box::new(|v| v["linux"]["maskedPaths"][0] = "proc/kcore".into()),
        ),
    ];
    for (field, mutate) in cases {
        let mut v = example();
        mutate(&mut v);
        let e = err(v);
        assert!(
            e.contains(&format!("`{field}`")),
            "expected `{field}` in: {e}"
        );
    }
}

#[test]
fn net_sysctls_need_a_network_namespace() {
    let mut v = example();
    v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
    check(v.clone()).unwrap();
    v["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    assert!(err(v).contains("own net namespace"));
}

#[test]
fn load_resolves_the_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), EXAMPLE).unwrap();
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("root.path"), "{e}");
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    let config = load(dir.path()).unwrap();
    assert_eq!(
        config.rootfs,
        dir.path().canonicalize().unwrap().join("rootfs")
    );
    let e = load(&dir.path().join("missing")).unwrap_err().to_string();
    assert!(e.contains("config.json"), "{e}");
}

#[test]
fn hostile_input_is_refused_not_crashed_on() {
    for text in [
        &b""[..],
        b"null",
        b"[]",
        b"{}",
        b"{\"ociVersion\": 1}",
        &[0xff, 0xfe, 0x00][..],
    ] {
        let refused = parse(text)
            .map(|spec| validate(&spec).is_err())
            .unwrap_or(true);
        assert!(refused, "{text:?}");
    }
    // Deeply nested input stops at serde_json's recursion limit instead of overflowing.
    let deep = format!(
        "{{\"annotations\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse(deep.as_bytes()).is_err());
    // A huge but valid document is fine.
    let mut v = example();
    v["process"]["env"] =
        serde_json::Value::Array((0..100_000).map(|i| format!("K{i}=v").into()).collect());
    check(v).unwrap();
}

#[test]
fn oversized_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    let mut text = EXAMPLE.as_bytes().to_vec();
    text.resize((MAX_CONFIG_BYTES + 10) as usize, b' ');
    std::fs::write(dir.path().join("config.json"), text).unwrap();
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("larger than 16 MiB"), "{e}");
}
