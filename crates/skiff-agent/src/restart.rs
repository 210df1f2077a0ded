//! The restart policy of one task, in place on its node: after each exit of its container,
//! restart it (when, and which attempt) or give up.
//!
//! Pure: the caller passes the times. The rule (Compose's `restart_policy`, as Swarm reads
//! it):
//!
//! * `condition`: `none` never restarts; `on-failure` restarts after a non-zero exit; `any`
//!   after every exit.
//! * `max_attempts` counts restarts within the last `window` (all restarts without a window);
//!   when that many have been made, the task gives up: it is complete after a zero exit,
//!   failed otherwise.
//! * `delay` grows exponentially while the container keeps failing quickly: the n-th restart
//!   in a row waits `delay × 2^(n-1)`, capped at [`MAX_BACKOFF`] (5 minutes), so a crash loop
//!   backs off to one attempt every 5 minutes. A container that ran for at least
//!   [`BACKOFF_RESET`] (10 s, Docker's figure) before exiting starts the series again at
//!   `delay`.

use std::time::{Duration, Instant};

use skiff_api::app::{RestartCondition, RestartPolicy};

/// The longest wait between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A run at least this long resets the back-off.
pub const BACKOFF_RESET: Duration = Duration::from_secs(10);

/// What to do after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the container again at `at`; this is restart number `attempt` in a row.
    RestartAt {
        /// When.
        at: Instant,
        /// How many restarts in a row, this one included (1 after a first exit).
        attempt: u32,
    },
    /// Do not restart: the task is over.
    GiveUp {
        /// Complete (a zero exit) or failed.
        failed: bool,
        /// Why, for the task's message.
        reason: GiveUpReason,
    },
}

/// Why a task is not restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The condition does not ask for a restart after this exit.
    Condition,
    /// `max_attempts` restarts were made within the window.
    MaxAttempts(u32),
}

/// The restart history of one task.
#[derive(Debug, Clone)]
pub struct RestartState {
    policy: RestartPolicy,
    /// When each restart counted against `max_attempts` was decided, oldest first.
    attempts: Vec<Instant>,
    /// Restarts in a row since the back-off was last reset.
    in_a_row: u32,
}

impl RestartState {
    /// A task's state before its first exit.
    pub fn new(policy: RestartPolicy) -> Self {
        RestartState {
            policy,
            attempts: Vec::new(),
            in_a_row: 0,
        }
    }

    /// Decides what follows an exit with `exit_code` at `now`, the container having run
    /// `ran` (since its last start); records the restart when there is one.
    pub fn on_exit(&mut self, exit_code: i32, ran: Duration, now: Instant) -> Decision {
        let wanted = match self.policy.condition {
            RestartCondition::None => false,
            RestartCondition::OnFailure => exit_code != 0,
            RestartCondition::Any => true,
        };
        let failed = exit_code != 0;
        if !wanted {
            return Decision::GiveUp {
                failed,
                reason: GiveUpReason::Condition,
            };
        }
        if let Some(window) = self.policy.window.map(|w| w.to_std()) {
            self.attempts
                .retain(|t| now.saturating_duration_since(*t) < window);
        }
        if let Some(max) = self.policy.max_attempts {
            if self.attempts.len() >= max as usize {
                return Decision::GiveUp {
                    failed,
                    reason: GiveUpReason::MaxAttempts(max),
                };
            }
        }
        if ran >= BACKOFF_RESET {
            self.in_a_row = 0;
        }
        self.in_a_row += 1;
        self.attempts.push(now);
        Decision::RestartAt {
            at: now + backoff(self.policy.delay.to_std(), self.in_a_row),
            attempt: self.in_a_row,
        }
    }
}

/// The wait before restart number `attempt` in a row: `delay × 2^(attempt-1)`, at most
/// [`MAX_BACKOFF`] (a zero delay stays zero).
pub fn backoff(delay: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    delay.saturating_mul(factor).min(MAX_BACKOFF.max(delay))
}

#[cfg(test)]
mod tests {
    use skiff_api::units::Duration as ApiDuration;

    use super::*;

    fn policy(
        condition: RestartCondition,
        delay_ms: u64,
        max_attempts: Option<u32>,
        window_s: Option<u64>,
    ) -> RestartPolicy {
        RestartPolicy {
            condition,
            delay: ApiDuration::from_millis(delay_ms),
            max_attempts,
            window: window_s.map(ApiDuration::from_secs),
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_back_off_doubles_up_to_five_minutes() {
        let table = [
            (5, 1, 5),
            (5, 2, 10),
            (5, 3, 20),
            (5, 6, 160),
            (5, 7, 300),
            (5, 40, 300),
            (0, 9, 0),
            (600, 1, 600), // a delay above the cap is kept as given
            (600, 3, 600),
        ];
        for (delay, attempt, want) in table {
            assert_eq!(
                backoff(Duration::from_secs(delay), attempt),
                Duration::from_secs(want),
                "delay {delay}s attempt {attempt}"
            );
        }
    }

    #[test]
    fn the_condition_decides_which_exits_restart() {
        use RestartCondition::*;
        let t0 = Instant::now();
        // (condition, exit code, restarted?, failed when not)
        let table = [
            (None, 0, false, false),
            (None, 1, false, true),
            (OnFailure, 0, false, false),
            (OnFailure, 137, true, true),
            (Any, 0, true, false),
            (Any, 2, true, true),
        ];
        for (condition, code, restarts, failed) in table {
            let mut state = RestartState::new(policy(condition, 1000, Option::None, Option::None));
            let got = state.on_exit(code, S, t0);
            let want = if restarts {
                Decision::RestartAt {
                    at: t0 + S,
                    attempt: 1,
                }
            } else {
                Decision::GiveUp {
                    failed,
                    reason: GiveUpReason::Condition,
                }
            };
            assert_eq!(got, want, "{condition:?} exit {code}");
        }
    }

    #[test]
    fn quick_failures_back_off_and_a_long_run_resets_it() {
        let t0 = Instant::now();
        let mut state = RestartState::new(policy(RestartCondition::Any, 1000, None, None));
        // (at second, ran seconds, restart delay in seconds, attempt)
        let table = [
            (0, 1, 1, 1),
            (2, 1, 2, 2),
            (5, 1, 4, 3),
            (20, 30, 1, 1), // ran 30 s: back to the base delay
            (22, 1, 2, 2),
        ];
        for (at, ran, delay, attempt) in table {
            let now = t0 + at * S;
            assert_eq!(
                state.on_exit(1, ran * S, now),
                Decision::RestartAt {
                    at: now + delay * S,
                    attempt
                },
                "exit at {at}s"
            );
        }
    }

    #[test]
    fn max_attempts_are_counted_within_the_window() {
        let t0 = Instant::now();
        let mut state =
            RestartState::new(policy(RestartCondition::OnFailure, 0, Some(2), Some(60)));
        // (at second, exit code, restarted?)
        let table = [
            (0, 1, true),
            (10, 1, true),
            (20, 1, false), // two restarts in the last 60 s
            (65, 1, true),  // the first has left the window
            (69, 1, false),
            (71, 1, true),
        ];
        for (at, code, restarted) in table {
            let got = state.on_exit(code, S, t0 + at * S);
            match got {
                Decision::RestartAt { .. } => assert!(restarted, "{at}s: {got:?}"),
                Decision::GiveUp { failed, reason } => {
                    assert!(!restarted, "{at}s: {got:?}");
                    assert!(failed);
                    assert_eq!(reason, GiveUpReason::MaxAttempts(2));
                }
            }
        }
    }

    #[test]
    fn without_a_window_max_attempts_count_for_ever_and_a_zero_exit_completes() {
        let t0 = Instant::now();
        let mut state = RestartState::new(policy(RestartCondition::Any, 0, Some(1), None));
        assert!(matches!(
            state.on_exit(0, S, t0),
            Decision::RestartAt { .. }
        ));
        assert_eq!(
            state.on_exit(0, S, t0 + 3600 * S),
            Decision::GiveUp {
                failed: false,
                reason: GiveUpReason::MaxAttempts(1)
            }
        );
    }
}
