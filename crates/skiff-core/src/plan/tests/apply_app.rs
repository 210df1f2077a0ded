use super::*;
use crate::plan::{apply_app, ChangeKind, PlanError, QuotaExcess};

const WEB_DB: &str = "
name: shop
services:
  web:
    image: nginx:1
    deploy:
      replicas: 2
  db:
    image: postgres:16
";

/// `WEB_DB` with `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert!(WEB_DB.contains(from), "{from}");
    WEB_DB.replace(from, to)
}

/// The dev environment (revision 1), and `stored` applied to it through `apply_app`
/// (revision 2), if any.
fn stored(yaml: Option<&str>) -> State {
    let mut state = state_with(vec![Object::Environment(environment("dev"))]);
    if let Some(yaml) = yaml {
        let plan = apply_app(&state, &name("dev"), &spec("dev", yaml)).unwrap();
        assert!(commit(&mut state, &plan.command).is_ok());
    }
    state
}

#[test]
fn apply_plans_one_transaction_with_its_diff() {
    let web_db = Some(WEB_DB);
    // (case, stored compose file, applied compose file, ops, diff as the CLI prints it)
    type Case<'a> = (&'a str, Option<&'a str>, String, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "new app",
            None,
            WEB_DB.into(),
            vec![
                "check /envs/dev @1",
                "put /apps/dev/shop absent",
                "put /services/dev/shop/db absent",
                "put /services/dev/shop/web absent",
            ],
            "app dev/shop: new, spec revision 1
  + /apps/dev/shop
  + /services/dev/shop/db
  + /services/dev/shop/web
",
        ),
        (
            "unchanged",
            web_db,
            WEB_DB.into(),
            vec![],
            "app dev/shop: unchanged at spec revision 1, nothing to do
  = /apps/dev/shop
  = /services/dev/shop/db
  = /services/dev/shop/web
",
        ),
        (
            "scale only",
            web_db,
            edit("replicas: 2", "replicas: 3"),
            vec![
                "check /envs/dev @1",
                "check /services/dev/shop/db @2",
                "put /apps/dev/shop @2",
                "put /services/dev/shop/web @2",
            ],
            "app dev/shop: spec revision 1 → 2
  ~ /apps/dev/shop
      spec_revision: 1 → 2
  = /services/dev/shop/db
  ~ /services/dev/shop/web
      deploy.replicas: 2 → 3
",
        ),
        (
            "image and command change",
            web_db,
            edit(
                "image: nginx:1",
                "image: nginx:2\n    command: [nginx, -g, daemon off;]",
            ),
            vec![
                "check /envs/dev @1",
                "check /services/dev/shop/db @2",
                "put /apps/dev/shop @2",
                "put /services/dev/shop/web @2",
            ],
            "app dev/shop: spec revision 1 → 2
  ~ /apps/dev/shop
      spec_revision: 1 → 2
  = /services/dev/shop/db
  ~ /services/dev/shop/web
      image: nginx:1 → nginx:2
      command: (none) → [\"nginx\",\"-g\",\"daemon off;\"]
",
        ),
        (
            "service removed, one added, resources changed",
            web_db,
            edit(
                "  db:\n    image: postgres:16\n",
                "  cache:\n    image: redis:7\n",
            )
            .replace(
                "replicas: 2",
                "replicas: 2\n      resources:\n        reservations:\n          cpus: '0.5'",
            ),
            vec![
                "check /envs/dev @1",
                "put /apps/dev/shop @2",
                "put /services/dev/shop/cache absent",
                "delete /services/dev/shop/db @2",
                "put /services/dev/shop/web @2",
            ],
            "app dev/shop: spec revision 1 → 2
  ~ /apps/dev/shop
      spec_revision: 1 → 2
  + /services/dev/shop/cache
  - /services/dev/shop/db
  ~ /services/dev/shop/web
      deploy.resources.reservations.cpus: (none) → 0.5
",
        ),
        (
            "an app-level field only",
            web_db,
            format!("{WEB_DB}volumes:\n  data: {{}}\n"),
            vec![
                "check /envs/dev @1",
                "check /services/dev/shop/db @2",
                "check /services/dev/shop/web @2",
                "put /apps/dev/shop @2",
            ],
            "app dev/shop: spec revision 1 → 2
  ~ /apps/dev/shop
      spec_revision: 1 → 2
      volumes: {} → {\"data\":{\"name\":\"shop_data\"}}
  = /services/dev/shop/db
  = /services/dev/shop/web
",
        ),
    ];
    for (case, before, after, ops, diff) in cases {
        let mut state = stored(before);
        let plan = apply_app(&state, &name("dev"), &spec("dev", &after)).expect(case);
        assert_eq!(summary(&plan.command), ops, "{case}: ops");
        assert_eq!(plan.diff.to_string(), diff, "{case}: diff");
        assert_eq!(plan.is_empty(), ops.is_empty(), "{case}");

        // The plan applies, and then the same spec is stored: planning again finds nothing.
        let got = commit(&mut state, &plan.command);
        assert!(got.is_ok(), "{case}: {got:?}");
        let again = apply_app(&state, &name("dev"), &spec("dev", &after)).unwrap();
        assert!(again.is_empty(), "{case}: {}", again.diff);
        assert_eq!(again.command, Command::Txn { ops: vec![] }, "{case}");
    }
}

#[test]
fn a_changed_spec_is_stamped_and_the_previous_one_kept() {
    let mut state = stored(Some(WEB_DB));
    let scaled = spec("dev", &edit("replicas: 2", "replicas: 5"));
    let plan = apply_app(&state, &name("dev"), &scaled).unwrap();
    assert!(commit(&mut state, &plan.command).is_ok());

    let Some(Object::App(app)) = state.get(&key("/apps/dev/shop")).map(|r| &r.object) else {
        panic!("no app");
    };
    assert_eq!((app.spec_revision, &app.spec), (2, &scaled));
    assert_eq!(app.history.len(), 1);
    assert_eq!(app.history[0].spec_revision, 1);
    assert_eq!(app.history[0].spec, spec("dev", WEB_DB));
    let service = |svc: &str| match &state.get(&key(svc)).unwrap().object {
        Object::Service(s) => (s.spec_revision, s.spec.image.clone()),
        other => panic!("{other:?}"),
    };
    // The changed service is stamped with the new spec revision; the unchanged one keeps its.
    assert_eq!(service("/services/dev/shop/web"), (2, "nginx:1".into()));
    assert_eq!(service("/services/dev/shop/db"), (1, "postgres:16".into()));
}

#[test]
fn a_service_changed_behind_the_apps_back_is_put_back() {
    // The app's spec is what is applied, but a service was written directly (say, scaled):
    // applying the spec again restores it without a new spec revision.
    let mut state = stored(Some(WEB_DB));
    let record = state.get(&key("/services/dev/shop/web")).unwrap().clone();
    let Object::Service(mut web) = record.object else {
        panic!()
    };
    web.spec.deploy.mode = skiff_api::ServiceMode::Replicated { replicas: 9 };
    assert!(commit(&mut state, &Command::put(Object::Service(web), Expect::Any)).is_ok());

    let plan = apply_app(&state, &name("dev"), &spec("dev", WEB_DB)).unwrap();
    assert_eq!(
        summary(&plan.command),
        [
            "check /envs/dev @1",
            "check /apps/dev/shop @2",
            "check /services/dev/shop/db @2",
            "put /services/dev/shop/web @3",
        ]
    );
    assert_eq!(
        plan.diff.to_string(),
        "app dev/shop: spec revision 1
  = /apps/dev/shop
  = /services/dev/shop/db
  ~ /services/dev/shop/web
      deploy.replicas: 9 → 2
"
    );
}

#[test]
fn a_concurrent_change_makes_the_plan_conflict() {
    let scaled = spec("dev", &edit("replicas: 2", "replicas: 3"));
    let other = spec("dev", &edit("nginx:1", "nginx:2"));
    // (case, the write that lands between planning and committing, the key that conflicts)
    type Case<'a> = (&'a str, Box<dyn Fn(&State) -> Command + 'a>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "another apply of the app",
            Box::new(|s: &State| apply_app(s, &name("dev"), &other).unwrap().command),
            "/apps/dev/shop",
        ),
        (
            "the environment's quota changed",
            Box::new(|_: &State| {
                let mut env = environment("dev");
                env.quota.max_tasks = Some(100);
                Command::put(Object::Environment(env), Expect::Any)
            }),
            "/envs/dev",
        ),
        (
            "a service the plan keeps changed",
            Box::new(|s: &State| {
                let Object::Service(mut db) =
                    s.get(&key("/services/dev/shop/db")).unwrap().object.clone()
                else {
                    panic!()
                };
                db.spec.image = "postgres:17".into();
                Command::put(Object::Service(db), Expect::Any)
            }),
            "/services/dev/shop/db",
        ),
    ];
    for (case, write, conflicting) in cases {
        let mut state = stored(Some(WEB_DB));
        let plan = apply_app(&state, &name("dev"), &scaled).unwrap();
        let between = write(&state);
        assert!(commit(&mut state, &between).is_ok(), "{case}");
        let before = state.to_snapshot();
        let got = commit(&mut state, &plan.command);
        let Response::Conflict { key: at, .. } = &got else {
            panic!("{case}: {got:?}");
        };
        assert_eq!(at, &key(conflicting), "{case}");
        // Nothing of the plan was written; planning again from the new state succeeds.
        let mut unchanged = State::from_snapshot(&before).unwrap();
        assert!(commit(&mut unchanged, &Command::Txn { ops: vec![] }).is_ok());
        assert_eq!(state.to_snapshot(), unchanged.to_snapshot(), "{case}");
        let replan = apply_app(&state, &name("dev"), &scaled).unwrap();
        assert!(commit(&mut state, &replan.command).is_ok(), "{case}");
    }
}

#[test]
fn an_environment_deleted_after_planning_refuses_the_new_app() {
    let mut state = stored(None);
    let plan = apply_app(&state, &name("dev"), &spec("dev", WEB_DB)).unwrap();
    let gone = Command::Delete {
        key: key("/envs/dev"),
        expect: Expect::Any,
    };
    assert!(commit(&mut state, &gone).is_ok());
    assert!(matches!(
        commit(&mut state, &plan.command),
        Response::Conflict { .. }
    ));
}

#[test]
fn plans_that_cannot_be_made() {
    let good = spec("dev", WEB_DB);
    let mut bad_app = good.clone();
    bad_app.name = "Shop".into();
    let mut bad_service = good.clone();
    let web = bad_service.services.remove("web").unwrap();
    bad_service.services.insert("web_1".into(), web);
    let cases: Vec<(&str, State, &str, AppSpec, PlanError)> = vec![
        (
            "missing environment",
            State::new(),
            "dev",
            good.clone(),
            PlanError::NoSuchEnvironment { env: name("dev") },
        ),
        (
            "spec for another environment",
            stored(None),
            "dev",
            spec("qa", WEB_DB),
            PlanError::EnvironmentMismatch {
                env: name("dev"),
                spec_env: "qa".into(),
            },
        ),
        (
            "invalid app name",
            stored(None),
            "dev",
            bad_app,
            PlanError::InvalidAppName {
                name: "Shop".into(),
                source: NameError::BadChar {
                    found: 'S',
                    position: 0,
                },
            },
        ),
        (
            "invalid service name",
            stored(None),
            "dev",
            bad_service,
            PlanError::InvalidServiceName {
                name: "web_1".into(),
                source: NameError::BadChar {
                    found: '_',
                    position: 3,
                },
            },
        ),
    ];
    for (case, state, env, spec, want) in cases {
        let got = apply_app(&state, &name(env), &spec);
        assert_eq!(got, Err(want), "{case}");
    }
    let err = apply_app(&State::new(), &name("dev"), &good).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment dev does not exist; create it first (skiff env create dev)"
    );
}

const RESERVING: &str = "
name: shop
services:
  web:
    image: nginx:1
    deploy:
      replicas: 3
      resources:
        reservations:
          cpus: '0.5'
          memory: 256M
";

#[test]
fn an_apply_stays_within_the_environments_quota() {
    let quota = |cpus: Option<&str>, memory: Option<&str>, tasks: Option<u32>| Quota {
        max_cpus: cpus.map(|c| skiff_api::Cpus::parse(c).unwrap()),
        max_memory: memory.map(|m| skiff_api::ByteSize::parse(m).unwrap()),
        max_tasks: tasks,
    };
    let cpus = |text: &str| skiff_api::Cpus::parse(text).unwrap();
    let other_app = "name: blog\nservices:\n  web:\n    image: ghost:5\n    deploy:\n      \
                     replicas: 1\n      resources:\n        reservations:\n          cpus: '1'\n";
    // (case, quota, apps stored first, app applied, replicas, expected excess)
    type Case<'a> = (&'a str, Quota, Vec<&'a str>, &'a str, Option<QuotaExcess>);
    let cases: Vec<Case> = vec![
        ("no quota", Quota::default(), vec![], "3", None),
        (
            "fits exactly",
            quota(Some("1.5"), None, Some(3)),
            vec![],
            "3",
            None,
        ),
        (
            "too many CPUs",
            quota(Some("1"), None, None),
            vec![],
            "3",
            Some(QuotaExcess::Cpus {
                requested: cpus("1.5"),
                limit: cpus("1"),
            }),
        ),
        (
            "other apps count",
            quota(Some("2"), None, None),
            vec![other_app],
            "3",
            Some(QuotaExcess::Cpus {
                requested: cpus("2.5"),
                limit: cpus("2"),
            }),
        ),
        (
            "too much memory",
            quota(None, Some("512MiB"), None),
            vec![],
            "3",
            Some(QuotaExcess::Memory {
                requested: skiff_api::ByteSize(768 << 20),
                limit: skiff_api::ByteSize(512 << 20),
            }),
        ),
        (
            "too many tasks",
            quota(None, None, Some(2)),
            vec![],
            "3",
            Some(QuotaExcess::Tasks {
                requested: 3,
                limit: 2,
            }),
        ),
        // The app's own stored services are replaced, not added to; and an environment over
        // a lowered quota may still scale down.
        (
            "re-apply over quota, scaled down",
            quota(Some("0.5"), None, None),
            vec![RESERVING],
            "2",
            None,
        ),
    ];
    for (case, quota, first, replicas, want) in cases {
        let mut state = stored(None);
        for yaml in first {
            let plan = apply_app(&state, &name("dev"), &spec("dev", yaml)).unwrap();
            assert!(commit(&mut state, &plan.command).is_ok(), "{case}");
        }
        let mut env = environment("dev");
        env.quota = quota;
        assert!(commit(
            &mut state,
            &Command::put(Object::Environment(env), Expect::Any)
        )
        .is_ok());
        let yaml = RESERVING.replace("replicas: 3", &format!("replicas: {replicas}"));
        let got = apply_app(&state, &name("dev"), &spec("dev", &yaml));
        match want {
            None => assert!(got.is_ok(), "{case}: {got:?}"),
            Some(excess) => assert_eq!(
                got,
                Err(PlanError::QuotaExceeded {
                    env: name("dev"),
                    excess
                }),
                "{case}"
            ),
        }
    }
}

#[test]
fn two_applies_that_each_fit_the_quota_cannot_both_commit() {
    let blog = |cpus: &str| {
        format!(
            "name: blog\nservices:\n  web:\n    image: ghost:5\n    deploy:\n      \
             replicas: 1\n      resources:\n        reservations:\n          cpus: '{cpus}'\n"
        )
    };
    let mut state = stored(None);
    let first = apply_app(&state, &name("dev"), &spec("dev", &blog("0.5"))).unwrap();
    assert!(commit(&mut state, &first.command).is_ok());
    let mut env = environment("dev");
    env.quota.max_cpus = Some(skiff_api::Cpus::parse("2").unwrap());
    let put_env = Command::put(Object::Environment(env), Expect::Any);
    assert!(commit(&mut state, &put_env).is_ok());
    // Planned from the same state: the shop (1.5 CPUs) fits next to the blog at 0.5, and the
    // blog growing to 1 fits next to no shop. Together they would take 2.5.
    let shop = apply_app(&state, &name("dev"), &spec("dev", RESERVING)).unwrap();
    let grow = apply_app(&state, &name("dev"), &spec("dev", &blog("1"))).unwrap();
    assert!(commit(&mut state, &grow.command).is_ok());
    let late = commit(&mut state, &shop.command);
    assert!(
        matches!(late, Response::Conflict { ref key, .. } if key.to_string() == "/services/dev/blog/web"),
        "the shop's plan counted the blog's service as read: {late:?}"
    );
    // Planned again from the newer state, it is refused for the quota.
    let again = apply_app(&state, &name("dev"), &spec("dev", RESERVING));
    assert!(
        matches!(again, Err(PlanError::QuotaExceeded { .. })),
        "{again:?}"
    );
}

#[test]
fn a_global_service_counts_one_task_per_selected_node() {
    let node = |id: &str, zone: &str| {
        let resources = NodeResources::default();
        Object::Node(Node {
            id: name(id),
            name: id.into(),
            address: "10.0.0.1:7946".into(),
            labels: BTreeMap::from([("zone".into(), zone.into())]),
            capacity: resources,
            allocatable: resources,
            availability: Availability::Active,
            status: NodeStatus::Ready,
            pod_subnet: None,
            last_heartbeat: None,
        })
    };
    let mut env = environment("dev");
    env.quota.max_tasks = Some(2);
    env.node_selector = BTreeMap::from([("zone".into(), "a".into())]);
    let mut state = state_with(vec![
        Object::Environment(env),
        node("n1", "a"),
        node("n2", "a"),
        node("n3", "b"),
    ]);
    let global =
        "name: agent\nservices:\n  log:\n    image: fluent:1\n    deploy:\n      mode: global\n";
    let plan = apply_app(&state, &name("dev"), &spec("dev", global)).unwrap();
    assert!(commit(&mut state, &plan.command).is_ok());
    assert!(commit(&mut state, &Command::put(node("n4", "a"), Expect::Any)).is_ok());
    let more = format!("{global}  web:\n    image: nginx:1\n");
    assert_eq!(
        apply_app(&state, &name("dev"), &spec("dev", &more)),
        Err(PlanError::QuotaExceeded {
            env: name("dev"),
            excess: QuotaExcess::Tasks {
                requested: 4,
                limit: 2
            }
        })
    );
}

#[test]
fn the_diff_serializes_for_dry_run() {
    let state = stored(Some(WEB_DB));
    let plan = apply_app(
        &state,
        &name("dev"),
        &spec("dev", &edit("replicas: 2", "replicas: 3")),
    )
    .unwrap();
    let json = serde_json::to_value(&plan.diff).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "env": "dev",
            "app": "shop",
            "from_revision": 1,
            "to_revision": 2,
            "objects": [
                {"key": "/apps/dev/shop", "change": "changed", "fields": [
                    {"field": "spec_revision", "from": "1", "to": "2"}
                ]},
                {"key": "/services/dev/shop/db", "change": "unchanged"},
                {"key": "/services/dev/shop/web", "change": "changed", "fields": [
                    {"field": "deploy.replicas", "from": "2", "to": "3"}
                ]}
            ]
        })
    );
    let back: crate::plan::AppDiff = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan.diff);
    assert_eq!(back.objects[1].change, ChangeKind::Unchanged);
    // The whole plan round-trips too, as the server may hand it on.
    let text = serde_json::to_string(&plan).unwrap();
    assert_eq!(
        serde_json::from_str::<crate::plan::AppPlan>(&text).unwrap(),
        plan
    );
}

#[test]
fn history_stays_bounded_over_many_applies() {
    let mut state = stored(Some(WEB_DB));
    for n in 2..=15 {
        let yaml = edit("nginx:1", &format!("nginx:{n}"));
        let plan = apply_app(&state, &name("dev"), &spec("dev", &yaml)).unwrap();
        assert!(commit(&mut state, &plan.command).is_ok(), "apply {n}");
    }
    let Object::App(app) = &state.get(&key("/apps/dev/shop")).unwrap().object else {
        panic!()
    };
    assert_eq!(app.spec_revision, 15);
    assert_eq!(app.history.len(), APP_HISTORY_LIMIT);
    assert_eq!(app.history[0].spec_revision, 5);
}
