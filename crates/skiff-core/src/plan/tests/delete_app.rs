use super::*;
use crate::plan::{apply_app, delete_app, PlanError};

const SHOP: &str =
    "name: shop\nservices:\n  web:\n    image: nginx:1\n  db:\n    image: postgres:16\n";
const BLOG: &str = "name: blog\nservices:\n  web:\n    image: ghost:5\n";

/// dev (1), shop (2), blog (3), tasks t1 and t3 of shop, t2 of blog (4–6).
fn populated() -> State {
    let mut state = state_with(vec![Object::Environment(environment("dev"))]);
    for yaml in [SHOP, BLOG] {
        let plan = apply_app(&state, &name("dev"), &spec("dev", yaml)).unwrap();
        assert!(commit(&mut state, &plan.command).is_ok());
    }
    for object in [
        task("t1", "shop", "web"),
        task("t2", "blog", "web"),
        task("t3", "shop", "db"),
    ] {
        assert!(commit(&mut state, &Command::put(object, Expect::Absent)).is_ok());
    }
    state
}

#[test]
fn delete_removes_the_app_its_services_and_its_tasks() {
    let mut state = populated();
    let command = delete_app(&state, &name("dev"), &name("shop")).unwrap();
    assert_eq!(
        summary(&command),
        [
            "delete /tasks/t1 @4",
            "delete /tasks/t3 @6",
            "delete /services/dev/shop/db @2",
            "delete /services/dev/shop/web @2",
            "delete /apps/dev/shop @2",
        ]
    );
    assert!(commit(&mut state, &command).is_ok());
    let keys: Vec<String> = state.list("/").iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        keys,
        [
            "/apps/dev/blog",
            "/envs/dev",
            "/services/dev/blog/web",
            "/tasks/t2"
        ]
    );
    // Once the last app is gone, the environment can go.
    let blog = delete_app(&state, &name("dev"), &name("blog")).unwrap();
    assert!(commit(&mut state, &blog).is_ok());
    let env = Command::Delete {
        key: key("/envs/dev"),
        expect: Expect::Any,
    };
    assert!(commit(&mut state, &env).is_ok());
    assert!(state.is_empty());
}

#[test]
fn delete_cases() {
    // (case, app, write between planning and committing, answer)
    let status = Command::put(
        {
            let Object::Task(mut t) = task("t3", "shop", "db") else {
                unreachable!()
            };
            t.observed = TaskState::Running;
            Object::Task(t)
        },
        Expect::Any,
    );
    type Case<'a> = (&'a str, &'a str, Option<Command>, Result<(), &'a str>);
    let cases: Vec<Case> = vec![
        ("an app without tasks", "blog", None, Ok(())),
        (
            "a task changed in between",
            "shop",
            Some(status),
            Err("/tasks/t3"),
        ),
        (
            "the app re-applied in between",
            "shop",
            Some({
                let state = populated();
                let yaml = SHOP.replace("nginx:1", "nginx:2");
                apply_app(&state, &name("dev"), &spec("dev", &yaml))
                    .unwrap()
                    .command
            }),
            Err("/services/dev/shop/web"),
        ),
    ];
    for (case, app, between, want) in cases {
        let mut state = populated();
        let command = delete_app(&state, &name("dev"), &name(app)).unwrap();
        if let Some(write) = between {
            assert!(commit(&mut state, &write).is_ok(), "{case}");
        }
        let got = commit(&mut state, &command);
        match want {
            Ok(()) => assert!(got.is_ok(), "{case}: {got:?}"),
            Err(at) => {
                let Response::Conflict { key: k, .. } = &got else {
                    panic!("{case}: {got:?}");
                };
                assert_eq!(k, &key(at), "{case}");
                assert!(state.get(&key("/apps/dev/shop")).is_some(), "{case}");
            }
        }
    }
    assert_eq!(
        delete_app(&populated(), &name("dev"), &name("nope")),
        Err(PlanError::NoSuchApp {
            env: name("dev"),
            app: name("nope")
        })
    );
    assert_eq!(
        delete_app(&populated(), &name("qa"), &name("shop")),
        Err(PlanError::NoSuchApp {
            env: name("qa"),
            app: name("shop")
        })
    );
}
