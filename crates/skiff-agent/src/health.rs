//! Healthchecks (Compose's `healthcheck`): a pure state machine over check results, and the
//! runner that execs one check in a container.
//!
//! The rule, as Docker's: a container starts `starting`; a passing check makes it `healthy`;
//! `retries` failing checks in a row make it `unhealthy`, except that failures within
//! `start_period` of the start do not count (a pass within it still makes it healthy).
//! Checks run every `interval` (every `start_interval` during the start period, when set);
//! a check that takes longer than `timeout` is killed and counts as failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_api::app::{HealthTest, Healthcheck};
pub use skiff_proto::agent::Health;

use crate::reconcile::engine::{NodeEngine, NodeError};

/// How one task's container is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRule {
    /// The command run in the container.
    pub argv: Vec<String>,
    /// Time between checks.
    pub interval: Duration,
    /// Longest a check may take.
    pub timeout: Duration,
    /// Failures in a row that make the container unhealthy (at least 1).
    pub retries: u32,
    /// Failures within this time of the start do not count.
    pub start_period: Duration,
    /// Time between checks during the start period (`interval` when zero).
    pub start_interval: Duration,
}

impl HealthRule {
    /// The rule of a spec's healthcheck; `None` when nothing is to be run (`NONE`, or a
    /// healthcheck that keeps the image's, which the engine does not know).
    pub fn from_spec(hc: &Healthcheck) -> Option<HealthRule> {
        let argv = match &hc.test {
            HealthTest::Exec(argv) if !argv.is_empty() => argv.clone(),
            HealthTest::Shell(script) => vec!["/bin/sh".into(), "-c".into(), script.clone()],
            HealthTest::Exec(_) | HealthTest::Inherit | HealthTest::Disabled => return None,
        };
        Some(HealthRule {
            argv,
            interval: hc.interval.to_std().max(Duration::from_millis(10)),
            timeout: hc.timeout.to_std(),
            retries: hc.retries.max(1),
            start_period: hc.start_period.to_std(),
            start_interval: hc.start_interval.to_std(),
        })
    }
}

/// The health of one running container.
#[derive(Debug, Clone)]
pub struct HealthState {
    rule: HealthRule,
    started: Instant,
    status: Health,
    failures: u32,
    next: Instant,
}

impl HealthState {
    /// A container started (or adopted) at `started`: `starting`, first check one interval
    /// later.
    pub fn new(rule: HealthRule, started: Instant) -> Self {
        let mut state = HealthState {
            rule,
            started,
            status: Health::Starting,
            failures: 0,
            next: started,
        };
        state.next = started + state.interval_at(started);
        state
    }

    /// The rule.
    pub fn rule(&self) -> &HealthRule {
        &self.rule
    }

    /// The current verdict.
    pub fn status(&self) -> Health {
        self.status
    }

    /// When the next check is due.
    pub fn next_check(&self) -> Instant {
        self.next
    }

    fn in_start_period(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) < self.rule.start_period
    }

    fn interval_at(&self, now: Instant) -> Duration {
        if self.in_start_period(now) && !self.rule.start_interval.is_zero() {
            self.rule.start_interval
        } else {
            self.rule.interval
        }
    }

    /// Records a check's result at `now` and schedules the next; returns the new verdict
    /// when it changed.
    pub fn record(&mut self, passed: bool, now: Instant) -> Option<Health> {
        let before = self.status;
        if passed {
            self.failures = 0;
            self.status = Health::Healthy;
        } else if !(self.status == Health::Starting && self.in_start_period(now)) {
            self.failures += 1;
            if self.failures >= self.rule.retries {
                self.status = Health::Unhealthy;
            }
        }
        self.next = now + self.interval_at(now);
        (self.status != before).then_some(self.status)
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Whether it passed (exit code 0 within the timeout).
    pub passed: bool,
    /// What it said, or why it failed, for the task's message.
    pub detail: String,
}

/// Runs one check in container `id` (in a blocking thread), killing it at the rule's timeout.
pub async fn run_check(engine: Arc<dyn NodeEngine>, id: String, rule: &HealthRule) -> CheckResult {
    let (argv, timeout) = (rule.argv.clone(), rule.timeout);
    let ran = tokio::task::spawn_blocking(move || engine.exec(&id, &argv, timeout)).await;
    match ran {
        Ok(Ok(result)) => match result.exit_code {
            Some(0) => CheckResult {
                passed: true,
                detail: result.output.trim().to_owned(),
            },
            Some(code) => CheckResult {
                passed: false,
                detail: format!("exit code {code}: {}", result.output.trim()),
            },
            None => CheckResult {
                passed: false,
                detail: format!("timed out after {timeout:?}"),
            },
        },
        Ok(Err(NodeError { message, .. })) => CheckResult {
            passed: false,
            detail: format!("could not run: {message}"),
        },
        Err(e) => CheckResult {
            passed: false,
            detail: format!("could not run: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(retries: u32, start_period_s: u64) -> HealthRule {
        HealthRule {
            argv: vec!["true".into()],
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            retries,
            start_period: Duration::from_secs(start_period_s),
            start_interval: Duration::ZERO,
        }
    }

    const S: Duration = Duration::from_secs(1);

    /// Feeds (second, passed) results; returns the verdict after each.
    fn run(rule: HealthRule, results: &[(u32, bool)]) -> Vec<Health> {
        let t0 = Instant::now();
        let mut state = HealthState::new(rule, t0);
        results
            .iter()
            .map(|&(at, passed)| {
                state.record(passed, t0 + at * S);
                state.status()
            })
            .collect()
    }

    #[test]
    fn consecutive_results_decide_the_verdict() {
        use Health::*;
        // (retries, start period, results, verdicts)
        type Case<'a> = (u32, u64, &'a [(u32, bool)], &'a [Health]);
        let table: &[Case] = &[
            (3, 0, &[(10, true)], &[Healthy]),
            (
                3,
                0,
                &[(10, false), (20, false), (30, false)],
                &[Starting, Starting, Unhealthy],
            ),
            (
                2,
                0,
                &[
                    (10, true),
                    (20, false),
                    (30, true),
                    (40, false),
                    (50, false),
                ],
                &[Healthy, Healthy, Healthy, Healthy, Unhealthy],
            ),
            // Failures in the start period do not count; a pass in it does.
            (
                1,
                30,
                &[(10, false), (20, false), (40, false)],
                &[Starting, Starting, Unhealthy],
            ),
            (1, 30, &[(10, true), (20, false)], &[Healthy, Unhealthy]),
            (
                2,
                0,
                &[(10, false), (20, false), (30, true)],
                &[Starting, Unhealthy, Healthy],
            ),
        ];
        for (retries, start, results, want) in table {
            assert_eq!(&run(rule(*retries, *start), results), want, "{results:?}");
        }
    }

    #[test]
    fn checks_are_due_every_interval_and_start_interval_in_the_start_period() {
        let t0 = Instant::now();
        let mut r = rule(3, 20);
        r.start_interval = 2 * S;
        let mut state = HealthState::new(r, t0);
        assert_eq!(state.next_check(), t0 + 2 * S);
        assert_eq!(state.record(false, t0 + 2 * S), None);
        assert_eq!(state.next_check(), t0 + 4 * S);
        assert_eq!(state.record(true, t0 + 25 * S), Some(Health::Healthy));
        assert_eq!(state.next_check(), t0 + 35 * S);
    }

    #[test]
    fn the_test_forms_become_commands() {
        let mut hc = Healthcheck {
            test: HealthTest::Shell("wget -q localhost".into()),
            interval: skiff_api::units::Duration::from_secs(5),
            timeout: skiff_api::units::Duration::from_secs(2),
            retries: 0,
            start_period: skiff_api::units::Duration::default(),
            start_interval: skiff_api::units::Duration::default(),
        };
        let r = HealthRule::from_spec(&hc).unwrap();
        assert_eq!(r.argv, ["/bin/sh", "-c", "wget -q localhost"]);
        assert_eq!(r.retries, 1);
        hc.test = HealthTest::Exec(vec!["true".into()]);
        assert_eq!(HealthRule::from_spec(&hc).unwrap().argv, ["true"]);
        for none in [
            HealthTest::Disabled,
            HealthTest::Inherit,
            HealthTest::Exec(vec![]),
        ] {
            hc.test = none;
            assert_eq!(HealthRule::from_spec(&hc), None);
        }
    }
}
