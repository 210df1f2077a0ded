//! Which server to try next and how long to wait first: rotation through the configured
//! servers, exponential back-off with jitter, and the leader a refusing follower names. Pure:
//! the randomness of the jitter is passed in.

use std::time::Duration;

/// The first back-off delay.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest back-off delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// How an attempt to hold a session (or register) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The session was established and later lost: start over quickly.
    Lost,
    /// The server could not be reached or failed before the session was established.
    Failed,
    /// The server refused: it does not lead; `leader` is the address it named, if any.
    NotLeader {
        /// The leader's `host:port`.
        leader: Option<String>,
    },
}

/// The dialling state of one session: where to go next and how many attempts in a row failed.
#[derive(Debug, Clone)]
pub struct Dialer {
    servers: Vec<String>,
    /// Index into `servers` of the next server in rotation.
    next: usize,
    /// A leader named by a refusing server: tried before the rotation goes on.
    redirect: Option<String>,
    /// Attempts that failed since the last established session.
    failures: u32,
    /// Redirects followed in a row (two servers naming each other must not spin).
    redirects: u32,
}

/// The next attempt: where, and after how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The server's `host:port`.
    pub server: String,
    /// How long to wait before trying it.
    pub delay: Duration,
}

impl Dialer {
    /// A dialer over `servers` (never empty: the session's config is checked before),
    /// starting with the first.
    pub fn new(servers: Vec<String>) -> Self {
        Self::starting_at(servers, 0)
    }

    /// A dialer starting at the `first`-th server (modulo their number): simulated nodes
    /// spread their first attempts over the servers.
    pub fn starting_at(servers: Vec<String>, first: usize) -> Self {
        let next = first % servers.len().max(1);
        Dialer {
            servers,
            next,
            redirect: None,
            failures: 0,
            redirects: 0,
        }
    }

    /// The server to try now: a named leader, else the next in rotation.
    pub fn target(&self) -> String {
        match &self.redirect {
            Some(leader) => leader.clone(),
            None => self.servers[self.next].clone(),
        }
    }

    /// Records how the attempt at [`Dialer::target`] ended and says what to try next.
    /// `jitter` is a random number in `[0, 1)`.
    pub fn after(&mut self, outcome: Outcome, jitter: f64) -> Attempt {
        let tried = self.target();
        let was_redirect = self.redirect.take().is_some();
        if !was_redirect {
            self.next = (self.next + 1) % self.servers.len();
        }
        match outcome {
            Outcome::Lost => {
                self.failures = 0;
                self.redirects = 0;
            }
            Outcome::NotLeader {
                leader: Some(leader),
            } if leader != tried => {
                self.redirects += 1;
                self.failures += 1;
                self.redirect = Some(leader);
                // The first redirect is followed at once; a chain of them backs off.
                if self.redirects == 1 {
                    return Attempt {
                        server: self.target(),
                        delay: Duration::ZERO,
                    };
                }
            }
            Outcome::NotLeader { .. } | Outcome::Failed => {
                self.failures += 1;
                self.redirects = 0;
            }
        }
        Attempt {
            server: self.target(),
            delay: backoff(self.failures, jitter),
        }
    }

    /// Records that a session was established: the next loss starts the back-off over.
    pub fn established(&mut self) {
        self.failures = 0;
        self.redirects = 0;
    }
}

/// The delay before an attempt after `failures` failed ones in a row: 100 ms doubling to a
/// 5 s cap, of which a random half (`jitter` in `[0, 1)`) is taken off, so that many agents
/// that lost the same server do not come back in step. No failure: a short random pause.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let jitter = jitter.clamp(0.0, 1.0);
    if failures == 0 {
        return BACKOFF_BASE.mul_f64(jitter);
    }
    exp.mul_f64(1.0 - jitter / 2.0)
}

/// The leader's `host:port` named in a refusal's message, when it names one: the first
/// `host:port` after the word `leader` or `at` (as in `leader=10.0.0.2:7400` or `server 2 at
/// 10.0.0.2:7400 does`). The message must speak of leading at all, so that a transport error
/// that happens to hold an address is not taken for a redirect.
pub fn leader_in(message: &str) -> Option<String> {
    if !message.to_ascii_lowercase().contains("lead") {
        return None;
    }
    let mut armed = false;
    for word in message.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')')) {
        let lower = word.to_ascii_lowercase();
        let (key, value) = match lower.split_once('=') {
            Some((k, _)) => (k.to_owned(), &word[k.len() + 1..]),
            None => (lower.clone(), ""),
        };
        if key == "leader" && !value.is_empty() {
            if let Some(addr) = host_port(value) {
                return Some(addr);
            }
        }
        if armed {
            if let Some(addr) = host_port(word) {
                return Some(addr);
            }
        }
        let key = key.trim_end_matches(':');
        if matches!(key, "leader" | "at" | "leader_addr" | "leader-addr") {
            armed = true;
        }
    }
    None
}

/// `word` as `host:port` (trailing punctuation and an `http://` scheme dropped), if it is one.
fn host_port(word: &str) -> Option<String> {
    let word = word.trim_end_matches(['.', ',', ';', ')', '"', '\'']);
    let word = word.trim_start_matches(['"', '\'']);
    let word = word
        .strip_prefix("http://")
        .unwrap_or(word)
        .trim_end_matches('/');
    let (host, port) = word.rsplit_once(':')?;
    port.parse::<u16>().ok().filter(|p| *p > 0)?;
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    host_ok.then(|| word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_are_found_in_refusals() {
        let cases = [
            ("leader=10.0.0.2:7400", Some("10.0.0.2:7400")),
            ("not the leader; leader=node-b:7400", Some("node-b:7400")),
            (
                "this server does not lead the cluster; server 2 at 127.0.0.1:7401 does",
                Some("127.0.0.1:7401"),
            ),
            (
                "not the leader, the leader is at 10.1.1.1:7400.",
                Some("10.1.1.1:7400"),
            ),
            ("leader: http://10.0.0.9:7400/", Some("10.0.0.9:7400")),
            (
                "not leader (leader at [fd00::1]:7400)",
                Some("[fd00::1]:7400"),
            ),
            // No address, or no talk of leading: rotate instead.
            (
                "this server does not lead the cluster; no leader is known yet",
                None,
            ),
            ("tcp connect error at 127.0.0.1:7400", None),
            ("leader at 10.0.0.2", None),
            ("leader at host:99999", None),
            ("", None),
        ];
        for (message, want) in cases {
            assert_eq!(leader_in(message).as_deref(), want, "{message:?}");
        }
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_up_to_half_taken_off() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(3, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(3, 0.999_999).as_millis(), 200);
        assert_eq!(backoff(7, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(1000, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(1000, 1.0), Duration::from_millis(2500));
        assert!(backoff(0, 0.5) < BACKOFF_BASE);
    }

    fn servers() -> Vec<String> {
        vec!["a:1".into(), "b:1".into(), "c:1".into()]
    }

    #[test]
    fn failures_rotate_and_back_off_and_a_session_resets_them() {
        let mut d = Dialer::new(servers());
        assert_eq!(d.target(), "a:1");
        let steps: Vec<_> = (0..4)
            .map(|_| d.after(Outcome::Failed, 0.0))
            .map(|a| (a.server, a.delay.as_millis()))
            .collect();
        assert_eq!(
            steps,
            [
                ("b:1".into(), 100),
                ("c:1".into(), 200),
                ("a:1".into(), 400),
                ("b:1".into(), 800)
            ]
        );
        d.established();
        let next = d.after(Outcome::Lost, 0.0);
        assert_eq!((next.server.as_str(), next.delay), ("c:1", Duration::ZERO));
        assert_eq!(Dialer::starting_at(servers(), 4).target(), "b:1");
    }

    #[test]
    fn a_named_leader_is_tried_next_at_once_then_the_rotation_goes_on() {
        let mut d = Dialer::new(servers());
        let leader = Some("l:9".to_string());
        let next = d.after(Outcome::NotLeader { leader }, 0.0);
        assert_eq!((next.server.as_str(), next.delay), ("l:9", Duration::ZERO));
        // The leader is gone: back to the rotation where it stood.
        let next = d.after(Outcome::Failed, 0.0);
        assert_eq!(next.server, "b:1");
        // Servers naming each other: the second redirect in a row backs off.
        let next = d.after(
            Outcome::NotLeader {
                leader: Some("c:1".into()),
            },
            0.0,
        );
        assert_eq!((next.server.as_str(), next.delay), ("c:1", Duration::ZERO));
        let next = d.after(
            Outcome::NotLeader {
                leader: Some("b:1".into()),
            },
            0.0,
        );
        assert_eq!(next.server, "b:1");
        assert!(next.delay > Duration::ZERO);
        // A server naming itself, or nobody: rotate.
        let next = d.after(
            Outcome::NotLeader {
                leader: Some("b:1".into()),
            },
            0.0,
        );
        assert_eq!(next.server, "c:1");
        let next = d.after(Outcome::NotLeader { leader: None }, 0.0);
        assert_eq!(next.server, "a:1");
    }
}
