//! A `skiff` process run inside a host's network namespace (`nsenter --net` execs it, so the
//! child's PID is skiff's own), its stderr kept for the failure report, and signals sent to that
//! PID only.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::skiff_bin;

/// Everything a process (and its predecessors under the same name) wrote on stderr.
#[derive(Default)]
struct Log {
    text: Mutex<String>,
    grew: Condvar,
}

/// One started process.
pub struct Proc {
    name: String,
    netns: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    log: Arc<Log>,
    /// Where the current process's output starts in the log.
    since: usize,
}

impl Proc {
    /// Starts `skiff ARGS` in network namespace `netns` with only `env` as its environment.
    pub fn spawn(name: &str, netns: &str, args: &[String], env: &[(&str, &str)]) -> Proc {
        Self::spawn_with_log(name, netns, args, env, Arc::new(Log::default()))
    }

    fn spawn_with_log(
        name: &str,
        netns: &str,
        args: &[String],
        env: &[(&str, &str)],
        log: Arc<Log>,
    ) -> Proc {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{netns}"))
            .arg(skiff_bin())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start skiff");
        let since = {
            let mut text = log.text.lock().unwrap();
            text.push_str(&format!("--- process {} started: {args:?}\n", child.id()));
            text.len()
        };
        let stderr = child.stderr.take().expect("piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
                sink.grew.notify_all();
            }
        });
        Proc {
            name: name.to_owned(),
            netns: netns.to_owned(),
            args: args.to_vec(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: Some(child),
            log,
            since,
        }
    }

    /// Starts the same command again (after it was stopped), appending to the same log.
    pub fn respawn(&mut self) {
        assert!(self.child.is_none(), "{} still runs", self.name);
        let fresh = Self::spawn_with_log(
            &self.name,
            &self.netns,
            &self.args,
            &self.env_refs(),
            self.log.clone(),
        );
        *self = fresh;
    }

    fn env_refs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Waits until the current process wrote a line containing `needle`.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut text = self.log.text.lock().unwrap();
        loop {
            if text[self.since..].contains(needle) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{} did not print {needle:?} in {timeout:?}",
                    self.name
                ));
            }
            text = self.log.grew.wait_timeout(text, left).unwrap().0;
        }
    }

    /// The PID of the running process.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("it runs").id() as i32)
    }

    /// Sends `signal` to the running process.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the process");
        self.note(&format!(
            "--- process {} sent {signal} by the test",
            self.pid()
        ));
    }

    /// SIGKILLs the process (if it runs) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGKILL);
            let _ = child.wait();
            self.note(&format!("--- process {pid} killed by the test"));
        }
    }

    /// SIGTERMs the process and waits up to `timeout` for it to exit (then SIGKILLs it).
    pub fn terminate(&mut self, timeout: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.note(&format!("--- process {pid} exited after SIGTERM: {status}"));
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not exit within {timeout:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn note(&self, line: &str) {
        let mut text = self.log.text.lock().unwrap();
        text.push_str(line);
        text.push('\n');
    }

    /// Prints everything the process wrote.
    pub fn print_log(&self) {
        eprintln!(
            "--- stderr of {}:\n{}",
            self.name,
            self.log.text.lock().unwrap()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
