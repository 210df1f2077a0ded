//! The processes a benchmark starts: each logs to a file of its own and is killed (SIGKILL) and
//! reaped when its guard is dropped, so none outlives the benchmark, also when it panics or fails.

use std::fs::{self, File};
use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

/// A process the benchmark started (a cluster member), with its log file.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr going to `log`. Call it from the main thread: the
    /// process is also sent SIGKILL when the thread that started it ends (the benchmark killed by
    /// Ctrl-C), which Linux ties to the starting thread, not to the process.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {name}: {cmd:?}"))?;
        Ok(Proc {
            name: name.to_string(),
            child: Some(child),
            log,
        })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGKILL (to its pid) and reaps it. Returns the instant the signal was sent, or
    /// `None` when it was already killed.
    pub fn kill(&mut self) -> Option<Instant> {
        let mut child = self.child.take()?;
        // A process that already exited on its own is reaped all the same.
        let _ = child.kill();
        let sent = Instant::now();
        let _ = child.wait();
        Some(sent)
    }

    /// Fails, with the end of its log, if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = &mut self.child else {
            return Ok(());
        };
        if let Some(status) = child.try_wait()? {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            bail!(
                "{} exited ({status}); the end of its log:\n{tail}",
                self.name
            );
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` distinct free TCP ports on 127.0.0.1 (all bound at once, then released for the members).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<_>>()?)
}

/// Polls `ready` every 50 ms until it answers true. Fails after `limit`, or at once with its
/// log when one of `procs` exits.
pub async fn wait_until<F, Fut>(
    what: &str,
    procs: &mut [Proc],
    limit: Duration,
    mut ready: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        for p in procs.iter_mut() {
            p.check_running()
                .with_context(|| format!("waiting for {what}"))?;
        }
        if ready().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what}: not after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A temporary directory for one cluster's data and logs, removed when dropped.
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("create a temporary directory")
}
