//! Scaling a service: a new revision of its app whose spec differs only in the service's
//! replica count, planned as any apply is (so it is in the app's history and `rollout undo`
//! can take it back). The orchestrator re-stamps the running tasks rather than replacing them,
//! since only the count changed.

use skiff_api::ServiceMode;

use super::{apply_app, AppPlan, PlanError};
use crate::objects::{Key, Name, Object};
use crate::state::State;

/// The most replicas one service may ask for, as the manifest allows.
pub const MAX_REPLICAS: u32 = 10_000;

/// Plans setting service `service` of app `app` in `env` to `replicas` tasks.
pub fn scale_service(
    state: &State,
    env: &Name,
    app: &Name,
    service: &Name,
    replicas: u32,
) -> Result<AppPlan, PlanError> {
    let key = Key::App {
        env: env.clone(),
        app: app.clone(),
    };
    let Some(Object::App(stored)) = state.get(&key).map(|r| &r.object) else {
        return Err(PlanError::NoSuchApp {
            env: env.clone(),
            app: app.clone(),
        });
    };
    let mut spec = stored.spec.clone();
    let Some(svc) = spec.services.get_mut(service.as_str()) else {
        return Err(PlanError::NoSuchService {
            env: env.clone(),
            app: app.clone(),
            service: service.clone(),
        });
    };
    if replicas > MAX_REPLICAS {
        return Err(PlanError::TooManyReplicas {
            service: service.clone(),
            replicas,
            limit: MAX_REPLICAS,
        });
    }
    match &mut svc.deploy.mode {
        ServiceMode::Replicated { replicas: r } => *r = replicas,
        ServiceMode::Global => {
            return Err(PlanError::ScaleGlobal {
                service: service.clone(),
            })
        }
    }
    apply_app(state, env, &spec)
}
