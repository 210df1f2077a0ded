use super::*;

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

#[test]
fn valid_keys_parse_and_display_back() {
    let cases = [
        ("/envs/dev", Key::Environment { env: name("dev") }),
        (
            "/apps/dev/shop",
            Key::App {
                env: name("dev"),
                app: name("shop"),
            },
        ),
        (
            "/services/prod/shop/web",
            Key::Service {
                env: name("prod"),
                app: name("shop"),
                service: name("web"),
            },
        ),
        ("/tasks/0f3a-7", Key::Task { id: name("0f3a-7") }),
        ("/nodes/n1", Key::Node { id: name("n1") }),
        (
            "/secrets/qa/db-password",
            Key::Secret {
                env: name("qa"),
                name: name("db-password"),
            },
        ),
        (
            "/configs/qa/nginx",
            Key::Config {
                env: name("qa"),
                name: name("nginx"),
            },
        ),
    ];
    for (text, key) in cases {
        assert_eq!(Key::parse(text).as_ref(), Ok(&key), "{text}");
        assert_eq!(key.to_string(), text);
        assert!(text.starts_with(&key.kind().prefix()));
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("{text:?}"));
        assert_eq!(serde_json::from_str::<Key>(&json).unwrap(), key);
    }
}

/// What kind of error each hostile key gets.
fn classify(err: &KeyError) -> &'static str {
    match err {
        KeyError::Empty => "empty",
        KeyError::TooLong { .. } => "too long",
        KeyError::NotAbsolute { .. } => "not absolute",
        KeyError::UnknownKind { .. } => "unknown kind",
        KeyError::WrongLength { .. } => "wrong length",
        KeyError::BadName { .. } => "bad name",
    }
}

#[test]
fn hostile_keys_are_refused_with_a_clear_error() {
    let long_name = format!("/envs/{}", "a".repeat(64));
    let huge = format!("/envs/{}", "a".repeat(1 << 20));
    let many = "/envs".to_owned() + &"/a".repeat(200);
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("/", "unknown kind"),
        ("envs/dev", "not absolute"),
        ("/envs", "wrong length"),
        ("/envs/", "bad name"),
        ("/envs/dev/", "wrong length"),
        ("//envs/dev", "unknown kind"),
        ("/envs//dev", "wrong length"),
        ("/envs/..", "bad name"),
        ("/envs/.", "bad name"),
        ("/apps/dev/../prod", "wrong length"),
        ("/apps/../prod", "bad name"),
        ("/envs/Dev", "bad name"),
        ("/ENVS/dev", "unknown kind"),
        ("/envs/dév", "bad name"),
        ("/envs/дев", "bad name"),
        ("/envs/dev\n", "bad name"),
        ("/envs/d%2fv", "bad name"),
        ("/envs/-dev", "bad name"),
        ("/pods/dev", "unknown kind"),
        ("/services/dev/shop", "wrong length"),
        (&long_name, "bad name"),
        (&huge, "too long"),
        (&many, "too long"),
    ];
    for (text, want) in cases {
        let err = Key::parse(text).expect_err(text);
        assert_eq!(classify(&err), *want, "{text:?}: {err}");
        assert!(
            err.to_string().len() < 400,
            "{text:?}: message too long: {err}"
        );
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let err = Key::parse("/apps/dev/My_App").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key \"/apps/dev/My_App\": segment 1 is not a valid name: 'M' at position 0 is not \
         allowed: use lowercase letters, digits and '-'"
    );
    let err = Key::parse("/services/dev/shop").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key \"/services/dev/shop\": a Service key has 3 name(s) after /services/, found 2"
    );
    let text = format!("/x{}", "é".repeat(100));
    let err = Key::parse(&text).unwrap_err();
    assert!(err.to_string().contains('…'), "{err}");
}

#[test]
fn serde_refuses_bad_keys() {
    assert!(serde_json::from_str::<Key>("\"/envs/../x\"").is_err());
    assert!(serde_json::from_str::<Key>("\"/envs\"").is_err());
}
