//! `rollout undo`: a new app revision restoring an earlier spec, its services marked
//! `rollback_started`.

use super::*;
use crate::plan::{apply_app, rollback, PlanError};

const V1: &str = "
name: shop
services:
  web:
    image: nginx:1
    deploy:
      replicas: 2
  db:
    image: postgres:16
";

/// The dev environment and the app applied once per compose file, in order.
fn applied(files: &[&str]) -> State {
    let mut state = state_with(vec![Object::Environment(environment("dev"))]);
    for yaml in files {
        let plan = apply_app(&state, &name("dev"), &spec("dev", yaml)).unwrap();
        assert!(commit(&mut state, &plan.command).is_ok());
    }
    state
}

fn service(state: &State, svc: &str) -> Service {
    match state
        .get(&key(&format!("/services/dev/shop/{svc}")))
        .map(|r| &r.object)
    {
        Some(Object::Service(s)) => (**s).clone(),
        other => panic!("{other:?}"),
    }
}

fn undo(state: &mut State, svc: Option<&str>) -> Result<(), PlanError> {
    let svc = svc.map(name);
    let plan = rollback(
        state,
        &name("dev"),
        &name("shop"),
        svc.as_ref(),
        Timestamp(7),
    )?;
    assert!(commit(state, &plan.command).is_ok());
    Ok(())
}

#[test]
fn a_service_goes_back_to_its_last_different_spec_at_its_current_scale() {
    let v2 = V1.replace("nginx:1", "nginx:2");
    let v3 = v2.replace("replicas: 2", "replicas: 5");
    let mut state = applied(&[V1, &v2, &v3]);
    undo(&mut state, Some("web")).unwrap();
    let web = service(&state, "web");
    assert_eq!(web.spec_revision, 4, "a new revision");
    assert_eq!(
        web.spec.image, "nginx:1",
        "revision 1's image (revision 2 only scaled)"
    );
    assert_eq!(
        web.spec.deploy.mode,
        skiff_api::ServiceMode::Replicated { replicas: 5 },
        "the current scale"
    );
    let rollout = web.rollout.unwrap();
    assert_eq!(rollout.state, RolloutState::RollbackStarted);
    assert_eq!(
        (
            rollout.from_revision,
            rollout.to_revision,
            rollout.restores_revision
        ),
        (3, 4, Some(1))
    );
    assert_eq!(rollout.started_at, Timestamp(7));
    assert_eq!(service(&state, "db").rollout, None, "db did not change");
}

#[test]
fn the_app_goes_back_to_its_previous_revision() {
    let v2 = V1
        .replace("nginx:1", "nginx:2")
        .replace("postgres:16", "postgres:17");
    let mut state = applied(&[V1, &v2]);
    undo(&mut state, None).unwrap();
    assert_eq!(service(&state, "web").spec.image, "nginx:1");
    assert_eq!(service(&state, "db").spec.image, "postgres:16");
    for svc in ["web", "db"] {
        let rollout = service(&state, svc).rollout.unwrap();
        assert_eq!(rollout.state, RolloutState::RollbackStarted, "{svc}");
        assert_eq!(rollout.restores_revision, Some(1));
    }
    // Undoing again goes forward to revision 2's spec, as `kubectl rollout undo` does.
    undo(&mut state, None).unwrap();
    assert_eq!(service(&state, "web").spec.image, "nginx:2");
}

#[test]
fn nothing_to_roll_back_to_is_refused_with_what_to_do() {
    let mut state = applied(&[V1]);
    let err = undo(&mut state, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("no earlier revision is kept; `skiff rollout history`"),
        "{err}"
    );
    let scaled = V1.replace("replicas: 2", "replicas: 3");
    let mut state = applied(&[V1, &scaled]);
    let err = undo(&mut state, Some("web")).unwrap_err();
    assert!(
        err.to_string()
            .contains("service web ran the same containers"),
        "{err}"
    );
    assert!(matches!(
        undo(&mut state, Some("cache")),
        Err(PlanError::NoSuchService { .. })
    ));
    assert!(matches!(
        rollback(&state, &name("dev"), &name("nope"), None, Timestamp(1)),
        Err(PlanError::NoSuchApp { .. })
    ));
}

#[test]
fn an_apply_keeps_the_rollout_status_for_the_orchestrator() {
    let v2 = V1.replace("nginx:1", "nginx:2");
    let mut state = applied(&[V1, &v2]);
    undo(&mut state, Some("web")).unwrap();
    let v4 = V1.replace("nginx:1", "nginx:4");
    let plan = apply_app(&state, &name("dev"), &spec("dev", &v4)).unwrap();
    assert!(commit(&mut state, &plan.command).is_ok());
    let web = service(&state, "web");
    assert_eq!(web.spec_revision, 4);
    assert_eq!(
        web.rollout.map(|r| r.to_revision),
        Some(3),
        "the previous rollout's status stays until the orchestrator starts the next"
    );
}
