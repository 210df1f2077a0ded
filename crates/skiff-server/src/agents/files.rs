//! The secret and config files of a node's tasks: each `AssignedTask` of a service that
//! declares `secrets:` or `configs:` gets their payloads (secrets opened with the cluster's
//! key, see [`crate::sealing`]) on its way to the one node that runs it.
//!
//! A declared secret or config that is not stored (or does not open) does not stop the
//! assignment: the task gets `files_error`, which the agent reports as the task's failure
//! message instead of starting it.
//!
//! Where a grant's source leads: the service's `secrets: [{source: KEY, …}]` names the app's
//! top-level `secrets.KEY`, whose `name` is the secret's name in the environment
//! (`/secrets/{env}/{name}`).

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use skiff_api::app::{FileGrant, ServiceSpec};
use skiff_api::AppSpec;
use skiff_core::{Key, Name, Object, State};
use skiff_proto::agent::{self as proto, server_message::Kind, ServerMessage};
use tonic::Status;

use crate::control::{Consistency, ControlPlane};
use crate::sealing::Sealer;

/// Where secrets go unless a grant's target says otherwise.
pub const SECRETS_DIR: &str = "/run/secrets";

/// Fills in `task.files` (or `task.files_error`) from `state`. Tasks whose service declares
/// no files are left as they are.
pub fn attach(state: &State, sealer: &Sealer, task: &mut proto::AssignedTask) {
    if task.desired != proto::DesiredState::Running as i32 {
        return;
    }
    let (Ok(env), Ok(app), Ok(service)) = (
        Name::new(&task.env),
        Name::new(&task.app),
        Name::new(&task.service),
    ) else {
        return;
    };
    // The spec the task runs: the stored service's when it is the same revision, else the
    // one sent (a few bytes of JSON to parse only then).
    let stored = match state.get(&Key::Service {
        env: env.clone(),
        app: app.clone(),
        service,
    }) {
        Some(record) => match &record.object {
            Object::Service(s) if s.spec_revision == task.spec_revision => Some(&s.spec),
            _ => None,
        },
        None => None,
    };
    // Borrowed when stored: most tasks declare no files, and this runs for every task sent.
    let spec: std::borrow::Cow<'_, ServiceSpec> = match stored {
        Some(spec) => std::borrow::Cow::Borrowed(spec),
        None => match serde_json::from_slice(&task.spec_json) {
            Ok(spec) => std::borrow::Cow::Owned(spec),
            Err(_) => return,
        },
    };
    if spec.secrets.is_empty() && spec.configs.is_empty() {
        return;
    }
    let app_spec = match state.get(&Key::App {
        env: env.clone(),
        app,
    }) {
        Some(record) => match &record.object {
            Object::App(a) => Some(&a.spec),
            _ => None,
        },
        None => None,
    };
    match files(state, sealer, &env, app_spec, &spec) {
        Ok(files) => task.files = files,
        Err(message) => task.files_error = message,
    }
}

/// The files `spec` declares, or what is missing.
pub fn files(
    state: &State,
    sealer: &Sealer,
    env: &Name,
    app: Option<&AppSpec>,
    spec: &ServiceSpec,
) -> Result<Vec<proto::TaskFile>, String> {
    let mut out = Vec::with_capacity(spec.secrets.len() + spec.configs.len());
    for grant in &spec.secrets {
        let name = stored_name(app.map(|a| &a.secrets), grant, env, "secret")?;
        let key = Key::Secret {
            env: env.clone(),
            name: name.clone(),
        };
        let data = match state.get(&key).map(|r| &r.object) {
            Some(Object::Secret(s)) => sealer
                .open(env.as_str(), name.as_str(), &s.key_id, &s.ciphertext)
                .map_err(|e| format!("secret {:?} of environment {env}: {e}", name.as_str()))?,
            _ => return Err(missing("secret", &name, env, grant)),
        };
        out.push(file(grant, data, true));
    }
    for grant in &spec.configs {
        let name = stored_name(app.map(|a| &a.configs), grant, env, "config")?;
        let key = Key::Config {
            env: env.clone(),
            name: name.clone(),
        };
        let data = match state.get(&key).map(|r| &r.object) {
            Some(Object::Config(c)) => c.data.clone(),
            _ => return Err(missing("config", &name, env, grant)),
        };
        out.push(file(grant, data, false));
    }
    Ok(out)
}

/// The stored name a grant's source leads to (the app's `secrets.KEY.name`, else the source
/// itself), as a valid object name.
fn stored_name(
    declared: Option<&std::collections::BTreeMap<String, skiff_api::app::PayloadSpec>>,
    grant: &FileGrant,
    env: &Name,
    what: &str,
) -> Result<Name, String> {
    let name = declared
        .and_then(|d| d.get(&grant.source))
        .map_or(grant.source.as_str(), |p| p.name.as_str());
    Name::new(name).map_err(|e| {
        format!(
            "{what} {:?} (the app's {what}s.{}) cannot be stored under that name: {e}; create \
             it with `skiff {what} create --env {env} NAME FILE` and declare it in the compose \
             file with `external: true` and `name: NAME`",
            name, grant.source
        )
    })
}

fn missing(what: &str, name: &Name, env: &Name, grant: &FileGrant) -> String {
    format!(
        "{what} {:?} (the app's {what}s.{}) is not stored in environment {env}: create it \
         with `skiff {what} create --env {env} {name} FILE` (`skiff apply` does not upload \
         {what}s)",
        name.as_str(),
        grant.source
    )
}

fn file(grant: &FileGrant, data: Vec<u8>, secret: bool) -> proto::TaskFile {
    proto::TaskFile {
        target: target(grant, secret),
        data,
        mode: grant.mode,
        uid: grant.uid.unwrap_or(0),
        gid: grant.gid.unwrap_or(0),
        secret,
    }
}

/// A grant's target: absolute as given; a relative one is under `/run/secrets` for a secret,
/// under `/` for a config (as Compose does).
fn target(grant: &FileGrant, secret: bool) -> String {
    if grant.target.starts_with('/') {
        grant.target.clone()
    } else if secret {
        format!("{SECRETS_DIR}/{}", grant.target)
    } else {
        format!("/{}", grant.target)
    }
}

/// The session's outgoing stream with every assignment's files filled in.
pub type Filled = Pin<Box<dyn Stream<Item = Result<ServerMessage, Status>> + Send>>;

/// `outbox` with [`attach`] run on each task of each `Assignments` message, on this server's
/// state as it is when the message leaves (one read per message with tasks to run).
pub fn fill<S>(outbox: S, control: ControlPlane, sealer: Sealer) -> Filled
where
    S: Stream<Item = Result<ServerMessage, Status>> + Send + 'static,
{
    Box::pin(outbox.then(move |message| {
        let (control, sealer) = (control.clone(), sealer.clone());
        async move {
            let mut message = message?;
            if let Some(Kind::Assignments(a)) = &mut message.kind {
                let running = proto::DesiredState::Running as i32;
                if a.tasks.iter().any(|t| t.desired == running) {
                    let tasks = &mut a.tasks;
                    // Stale: this server leads (it holds the session) and the assignments were
                    // built from this same state.
                    let _ = control
                        .read(Consistency::Stale, |state| {
                            for task in tasks.iter_mut() {
                                attach(state, &sealer, task);
                            }
                        })
                        .await;
                }
            }
            Ok(message)
        }
    }))
}

#[cfg(test)]
mod tests {
    use skiff_core::objects::{Config, Secret};
    use skiff_core::{Command, Expect};

    use super::*;

    const APP: &str = "services:
  web:
    image: busybox
    secrets:
      - api-token
      - {source: db, target: /etc/db.pw, mode: 0400, uid: \"70\", gid: \"71\"}
    configs:
      - {source: conf, target: /etc/app.conf}
  plain:
    image: busybox
secrets:
  api-token: {external: true}
  db: {external: true, name: shop-db}
configs:
  conf: {external: true}
";

    fn app() -> AppSpec {
        let loader = skiff_manifest::MemoryLoader::new().with("/app/compose.yaml", APP);
        let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        skiff_manifest::load(&options, &loader)
            .unwrap_or_else(|d| panic!("{d}"))
            .spec
    }

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn state(sealer: &Sealer, secrets: &[(&str, &[u8])]) -> State {
        let mut state = State::new();
        let mut rev = 0;
        let mut put = |object| {
            rev += 1;
            state.apply(rev, &Command::put(object, Expect::Any));
        };
        put(serde_json::from_value(serde_json::json!({"environment": {"name": "dev"}})).unwrap());
        for (n, data) in secrets {
            let (ciphertext, key_id) = sealer.seal("dev", n, data).unwrap();
            put(Object::Secret(Secret {
                env: name("dev"),
                name: name(n),
                ciphertext,
                key_id,
                labels: Default::default(),
            }));
        }
        put(Object::Config(Config {
            env: name("dev"),
            name: name("conf"),
            data: b"listen 80".to_vec(),
            labels: Default::default(),
        }));
        state
    }

    #[test]
    fn declared_files_come_opened_with_their_targets_modes_and_owners() {
        let sealer = Sealer::fixed([3; 32]);
        let state = state(&sealer, &[("api-token", b"t0k3n"), ("shop-db", b"pw")]);
        let app = app();
        let web = files(
            &state,
            &sealer,
            &name("dev"),
            Some(&app),
            &app.services["web"],
        );
        let web: Vec<_> = web
            .unwrap()
            .into_iter()
            .map(|f| (f.target, f.data, f.mode, f.uid, f.gid, f.secret))
            .collect();
        assert_eq!(
            web,
            [
                (
                    "/run/secrets/api-token".into(),
                    b"t0k3n".to_vec(),
                    0o444,
                    0,
                    0,
                    true
                ),
                ("/etc/db.pw".into(), b"pw".to_vec(), 0o400, 70, 71, true),
                (
                    "/etc/app.conf".into(),
                    b"listen 80".to_vec(),
                    0o444,
                    0,
                    0,
                    false
                ),
            ]
        );
        let plain = files(
            &state,
            &sealer,
            &name("dev"),
            Some(&app),
            &app.services["plain"],
        );
        assert_eq!(plain.unwrap(), []);
    }

    #[test]
    fn a_missing_or_unopenable_secret_is_named() {
        let sealer = Sealer::fixed([3; 32]);
        let app = app();
        let web = &app.services["web"];
        let state = state(&sealer, &[("api-token", b"t0k3n")]);
        let e = files(&state, &sealer, &name("dev"), Some(&app), web).unwrap_err();
        assert!(
            e.starts_with(
                "secret \"shop-db\" (the app's secrets.db) is not stored in environment dev: \
                 create it with `skiff secret create --env dev shop-db FILE`"
            ),
            "{e}"
        );
        let other_key = Sealer::fixed([4; 32]);
        let e = files(&state, &other_key, &name("dev"), Some(&app), web).unwrap_err();
        assert!(e.contains("secret \"api-token\" of environment dev"), "{e}");
        assert!(e.contains("does not open"), "{e}");
    }

    #[test]
    fn a_secret_apply_would_have_to_upload_says_how_to_create_it() {
        let loader = skiff_manifest::MemoryLoader::new()
            .with(
                "/app/compose.yaml",
                "services:\n  web:\n    image: busybox\n    secrets: [db_password]\n\
                 secrets:\n  db_password:\n    file: ./pw.txt\n",
            )
            .with("/app/pw.txt", "x");
        let mut options = skiff_manifest::Options::new(["/app/compose.yaml"]);
        options.project_name = Some("shop".to_owned());
        let app = skiff_manifest::load(&options, &loader)
            .unwrap_or_else(|d| panic!("{d}"))
            .spec;
        let sealer = Sealer::fixed([3; 32]);
        let state = state(&sealer, &[]);
        let e = files(
            &state,
            &sealer,
            &name("dev"),
            Some(&app),
            &app.services["web"],
        );
        let e = e.unwrap_err();
        assert!(
            e.starts_with("secret \"shop_db_password\" (the app's secrets.db_password) cannot be stored under that name"),
            "{e}"
        );
        assert!(
            e.ends_with("create it with `skiff secret create --env dev NAME FILE` and declare it in the compose file with `external: true` and `name: NAME`"),
            "{e}"
        );
    }

    #[test]
    fn attach_fills_running_tasks_only() {
        let sealer = Sealer::fixed([3; 32]);
        let state = state(&sealer, &[]);
        let app = app();
        let mut task = proto::AssignedTask {
            id: "t1".into(),
            env: "dev".into(),
            app: "shop".into(),
            service: "web".into(),
            spec_revision: 1,
            desired: proto::DesiredState::Running as i32,
            spec_json: serde_json::to_vec(&app.services["web"]).unwrap(),
            ..Default::default()
        };
        let mut stopping = task.clone();
        stopping.desired = proto::DesiredState::Shutdown as i32;
        attach(&state, &sealer, &mut task);
        attach(&state, &sealer, &mut stopping);
        // No app stored: the grant's source is the name; neither secret is stored.
        assert!(
            task.files_error.starts_with("secret \"api-token\""),
            "{}",
            task.files_error
        );
        assert!(task.files.is_empty());
        assert_eq!(stopping.files_error, "");
    }
}
