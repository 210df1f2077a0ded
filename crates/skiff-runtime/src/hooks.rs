//! OCI hooks: programs run at fixed points of the lifecycle with the state on stdin.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::state::State;

/// A hook that failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// It could not be started.
    #[error("{phase} hook {path}: cannot start: {source}")]
    Spawn {
        /// Lifecycle phase.
        phase: &'static str,
        /// Program.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited non-zero.
    #[error("{phase} hook {path} failed: {status}")]
    Failed {
        /// Lifecycle phase.
        phase: &'static str,
        /// Program.
        path: String,
        /// Exit status.
        status: std::process::ExitStatus,
    },
    /// It ran past its timeout and was killed.
    #[error("{phase} hook {path} timed out after {seconds}s and was killed")]
    Timeout {
        /// Lifecycle phase.
        phase: &'static str,
        /// Program.
        path: String,
        /// The timeout.
        seconds: i64,
    },
}

/// Runs the hooks of one phase in order, stopping at the first failure.
pub fn run(phase: &'static str, hooks: &[Hook], state: &State) -> Result<(), HookError> {
    if hooks.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(state).unwrap_or_default();
    for hook in hooks {
        run_one(phase, hook, &json)?;
    }
    Ok(())
}

fn run_one(phase: &'static str, hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((arg0, rest)) = args.split_first() {
            cmd.arg0(arg0).args(rest);
        }
    }
    cmd.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((k, v)) = entry.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        phase,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                return Err(HookError::Spawn {
                    phase,
                    path,
                    source,
                })
            }
        }
        if let Some((seconds, at)) = deadline {
            if Instant::now() >= at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout {
                    phase,
                    path,
                    seconds,
                });
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed {
            phase,
            path,
            status,
        })
    }
}
