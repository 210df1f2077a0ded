use super::*;

#[test]
fn list_returns_a_prefix_in_key_order() {
    let mut state = State::new();
    let objects = vec![
        env("dev"),
        env("dev2"),
        app("dev", "shop"),
        app("dev", "blog"),
        app("dev2", "shop"),
        task("t10", TaskState::Pending),
        task("t2", TaskState::Pending),
        node("n1"),
    ];
    for (i, object) in objects.into_iter().enumerate() {
        assert!(state.apply(i as u64 + 1, &put(object)).is_ok());
    }
    let keys = |prefix: &str| -> Vec<String> {
        state
            .list(prefix)
            .iter()
            .map(|r| r.key.to_string())
            .collect()
    };
    assert_eq!(keys("/apps/dev/"), ["/apps/dev/blog", "/apps/dev/shop"]);
    assert_eq!(
        keys("/apps/dev"),
        ["/apps/dev/blog", "/apps/dev/shop", "/apps/dev2/shop"]
    );
    assert_eq!(keys(&Kind::Task.prefix()), ["/tasks/t10", "/tasks/t2"]);
    assert_eq!(
        keys(&Kind::Environment.prefix()),
        ["/envs/dev", "/envs/dev2"]
    );
    assert_eq!(keys("/secrets/"), Vec::<String>::new());
    assert_eq!(keys("/zzz"), Vec::<String>::new());
    let all = keys("");
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    let record = state.get(&key("/apps/dev/blog")).unwrap();
    assert_eq!((record.create_revision, record.mod_revision), (4, 4));
}

#[test]
fn objects_round_trip_through_json_and_refuse_unknown_fields() {
    for object in one_of_each() {
        let json = serde_json::to_string(&object).unwrap();
        let back: Object = serde_json::from_str(&json).unwrap();
        assert_eq!(back, object, "{json}");
        assert_eq!(back.key().kind(), object.kind());
    }
    let typo = r#"{"environment":{"name":"dev","qouta":{}}}"#;
    let err = serde_json::from_str::<Object>(typo).unwrap_err();
    assert!(err.to_string().contains("unknown field `qouta`"), "{err}");
    let bad_name = r#"{"environment":{"name":"Dev"}}"#;
    assert!(serde_json::from_str::<Object>(bad_name).is_err());
    let command = r#"{"put":{"key":"/envs/dev","object":{"environment":{"name":"dev"}}}}"#;
    let command: Command = serde_json::from_str(command).unwrap();
    assert_eq!(command, Command::put(env("dev"), Expect::Any));
}
