//! Running another process in a running container (`skiff container exec`).
//!
//! The engine may be a multi-threaded async process, which must not fork into a container;
//! so an exec is carried out by a fresh process: `skiff shim exec …` (the built-in runtime's
//! exec, single-threaded) or the external runtime's own `exec`. [`Engine::exec_command`] gives
//! that command; the caller chooses its stdio and waits for its exit code.

use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::error::ContainerError;
use super::record::{read_json, Paths, Status};
use super::shim::{builtin_root, external_root};
use crate::engine::Engine;
use crate::engine::RuntimeChoice;
use crate::error::Error;

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// The program and its arguments.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to the container's environment.
    pub env: Vec<String>,
    /// `user[:group]` (names or numbers, resolved in the container); the container's user
    /// when absent.
    pub user: Option<String>,
    /// Working directory; the container's when absent.
    pub workdir: Option<String>,
}

impl Engine {
    /// The command that runs `exec` in the running container `what`. Its exit code is the
    /// process's (126/127 when it cannot be started, as Docker).
    pub fn exec_command(&self, what: &str, exec: &ExecConfig) -> Result<Command, Error> {
        let info = self.container(what)?;
        if info.status != Status::Running {
            return Err(ContainerError::WrongStatus {
                id: info.record.id.clone(),
                status: info.status,
                hint: "exec needs a running container",
            }
            .into());
        }
        if exec.args.is_empty() {
            return Err(ContainerError::EmptyExec {
                id: info.record.id.clone(),
            }
            .into());
        }
        let id = info.record.id;
        let mut cmd = match &info.record.runtime {
            RuntimeChoice::Builtin => {
                let mut cmd = Command::new(&self.opts.shim_program);
                cmd.args(["shim", "exec", "--data-dir"])
                    .arg(&self.opts.data_dir)
                    .arg("--id")
                    .arg(&id);
                cmd
            }
            RuntimeChoice::External(program) => {
                let mut cmd = Command::new(program);
                cmd.arg("--root")
                    .arg(external_root(&self.opts.data_dir))
                    .arg("exec");
                cmd
            }
        };
        for e in &exec.env {
            cmd.arg("--env").arg(e);
        }
        if let Some(user) = &exec.user {
            cmd.arg("--user").arg(user);
        }
        if let Some(dir) = &exec.workdir {
            cmd.arg("--cwd").arg(dir);
        }
        match info.record.runtime {
            // runc-style CLIs stop parsing flags at the container id.
            RuntimeChoice::External(_) => cmd.arg(&id).args(&exec.args),
            RuntimeChoice::Builtin => cmd.arg("--").args(&exec.args),
        };
        Ok(cmd)
    }
}

/// Arguments of `skiff shim exec`.
#[derive(Debug, Clone)]
pub struct ShimExecArgs {
    /// The engine's data directory.
    pub data_dir: PathBuf,
    /// The container.
    pub id: String,
    /// What to run.
    pub exec: ExecConfig,
}

/// Runs `skiff shim exec`: the built-in runtime's exec with the container's process settings
/// and the given overrides; returns the exit code.
pub fn shim_exec_main(args: &ShimExecArgs) -> Result<i32, String> {
    let paths = Paths::new(&args.data_dir.join("containers"), &args.id);
    let _record: super::record::ContainerRecord = read_json(&paths.record())
        .map_err(|e| format!("{}: {e}", paths.record().display()))?
        .ok_or_else(|| format!("no container {}", args.id))?;
    let runtime = skiff_runtime::Runtime::new(builtin_root(&args.data_dir));
    let mut process = runtime
        .exec_process(&args.id, args.exec.args.clone())
        .map_err(|e| e.to_string())?;
    if !args.exec.env.is_empty() {
        let mut env = process.env().clone().unwrap_or_default();
        for kv in &args.exec.env {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        process.set_env(Some(env));
    }
    if let Some(dir) = &args.exec.workdir {
        process.set_cwd(PathBuf::from(dir));
    }
    if let Some(user) = &args.exec.user {
        // Names and a user's own group come from the running container's /etc/passwd and
        // /etc/group, as for `run --user`.
        let (passwd, group) = super::user::read_account_files(&paths.rootfs());
        let resolved = super::user::resolve(user, passwd.as_deref(), group.as_deref())
            .map_err(|e| e.to_string())?;
        let mut u = process.user().clone();
        u.set_uid(resolved.uid);
        u.set_gid(resolved.gid);
        u.set_additional_gids(Some(resolved.additional_gids).filter(|g| !g.is_empty()));
        process.set_user(u);
    }
    runtime
        .exec(&args.id, &process, &skiff_runtime::ExecOptions::default())
        .map_err(|e| e.to_string())
}
