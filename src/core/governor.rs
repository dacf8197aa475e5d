//! The politeness governor: the rules that keep a marketplace open for everyone.
//!
//! It sits under every request the session makes, below anything a script can reach, so no strategy
//! can poll a real host faster than the floor or ignore a server that asked us to wait:
//! - two GETs (polls) to the same non-loopback host are never closer than [`FLOOR`];
//! - a `Retry-After` on any response blocks that host for at least that long (plus up to 20%);
//! - 429, 503 and 409 without one block it for 60, 30 and 5 s; network errors and other failures
//!   escalate 30, 60, 120, 240, then 300 s; all with ±20% jitter; a success resets the escalation.
//!
//! Loopback hosts are exempt from the floor (tests and rehearsals run fast) but not from backoff.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

// tokio's Instant is std's, except that tests with a paused clock can move it.
use tokio::time::Instant;

/// Minimum spacing of polls to one remote host.
pub const FLOOR: Duration = Duration::from_secs(2);
/// Intervals under this are allowed for remote hosts but earn a warning.
pub const WARN_BELOW: Duration = Duration::from_secs(5);
/// The escalation for network errors and other failures.
const ESCALATION: [u64; 5] = [30, 60, 120, 240, 300];

/// Whether a request polls (GET: spaced by the floor) or acts (POST: only backoff applies, so a
/// cart add goes out the instant a listing is seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Poll,
    Action,
}

/// How a request ended, as far as politeness is concerned.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    NetworkError,
}

/// Why the governor blocks a host for a while.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    pub delay: Duration,
    pub reason: String,
}

#[derive(Default)]
struct HostState {
    last_poll: Option<Instant>,
    blocked_until: Option<Instant>,
    failures: u32,
}

#[derive(Default)]
pub struct Governor {
    hosts: Mutex<HashMap<String, HostState>>,
}

/// `127.0.0.0/8`, `::1` and `localhost` (with or without a trailing dot).
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// `d` scaled by a uniform factor in `[1 - frac, 1 + frac]`.
pub fn jitter(d: Duration, frac: f64) -> Duration {
    let frac = frac.clamp(0.0, 1.0);
    if frac == 0.0 || d.is_zero() {
        return d;
    }
    d.mul_f64(rand::random_range((1.0 - frac)..=(1.0 + frac)))
}

/// A `Retry-After` value: delay-seconds or an HTTP date (past dates mean "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(24 * 3600)),
    )
}

/// The backoff an outcome earns before jitter, given the failures already counted for the host
/// (including this one). Pure, so the policy is tested on its own.
pub fn policy(outcome: Outcome, failures: u32) -> Option<(Duration, String)> {
    let escalated = || {
        let i = (failures.max(1) as usize - 1).min(ESCALATION.len() - 1);
        Duration::from_secs(ESCALATION[i])
    };
    match outcome {
        Outcome::Status {
            code,
            retry_after: Some(ra),
        } => Some((ra, format!("{code} with Retry-After"))),
        Outcome::Status { code: 429, .. } => Some((Duration::from_secs(60), "429".into())),
        Outcome::Status { code: 503, .. } => Some((Duration::from_secs(30), "503".into())),
        Outcome::Status { code: 409, .. } => Some((Duration::from_secs(5), "409".into())),
        Outcome::Status { code, .. } if is_failure(code) => {
            Some((escalated(), format!("{code}, failure #{failures}")))
        }
        Outcome::Status { .. } => None,
        Outcome::NetworkError => Some((escalated(), format!("network error #{failures}"))),
    }
}

/// Statuses that say "something is wrong on the way" rather than "here is an answer".
fn is_failure(code: u16) -> bool {
    code >= 500 || code == 403
}

fn counts_as_failure(outcome: Outcome) -> bool {
    match outcome {
        Outcome::NetworkError => true,
        Outcome::Status {
            code: 429 | 503 | 409,
            ..
        } => false,
        Outcome::Status { code, .. } => is_failure(code),
    }
}

impl Governor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until a request of `kind` to `host` is allowed, then books it. Returns the time waited.
    pub async fn admit(&self, host: &str, kind: Kind) -> Duration {
        let loopback = is_loopback(host);
        let mut waited = Duration::ZERO;
        loop {
            let wait = {
                let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
                let st = hosts.entry(host.to_ascii_lowercase()).or_default();
                let now = Instant::now();
                let mut until = st.blocked_until.filter(|t| *t > now);
                if kind == Kind::Poll && !loopback {
                    if let Some(next) = st.last_poll.map(|t| t + FLOOR).filter(|t| *t > now) {
                        until = Some(until.map_or(next, |u| u.max(next)));
                    }
                }
                match until {
                    Some(t) => t - now,
                    None => {
                        if kind == Kind::Poll {
                            st.last_poll = Some(now);
                        }
                        return waited;
                    }
                }
            };
            waited += wait;
            tokio::time::sleep(wait).await;
        }
    }

    /// Records how a request to `host` ended; returns the backoff it earned, if any.
    pub fn record(&self, host: &str, outcome: Outcome) -> Option<Backoff> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let st = hosts.entry(host.to_ascii_lowercase()).or_default();
        if counts_as_failure(outcome) {
            st.failures += 1;
        } else if matches!(outcome, Outcome::Status { code, .. } if code < 400) {
            st.failures = 0;
        }
        let (base, reason) = policy(outcome, st.failures)?;
        let delay = match outcome {
            // The server named a time: never come back earlier, only up to 20% later.
            Outcome::Status {
                retry_after: Some(_),
                ..
            } => base.mul_f64(rand::random_range(1.0..=1.2)),
            _ => jitter(base, 0.2),
        };
        let until = Instant::now() + delay;
        st.blocked_until = Some(st.blocked_until.map_or(until, |u| u.max(until)));
        Some(Backoff { delay, reason })
    }

    /// Consecutive failures currently counted for `host`.
    pub fn failures(&self, host: &str) -> u32 {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .get(&host.to_ascii_lowercase())
            .map_or(0, |s| s.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "tickets.example.com",
            "10.0.0.1",
            "128.0.0.1",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn policy_matches_the_documented_table() {
        let secs = |o, f| policy(o, f).map(|(d, _)| d.as_secs());
        assert_eq!(secs(status(429), 0), Some(60));
        assert_eq!(secs(status(503), 0), Some(30));
        assert_eq!(secs(status(409), 0), Some(5));
        assert_eq!(secs(status(200), 0), None);
        assert_eq!(secs(status(404), 0), None);
        let ra = Outcome::Status {
            code: 200,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(secs(ra, 0), Some(7));
        let net: Vec<_> = (1..=7)
            .map(|f| secs(Outcome::NetworkError, f).unwrap())
            .collect();
        assert_eq!(net, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(secs(status(500), 2), Some(60));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_766_662_316);
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn record_escalates_and_resets() {
        let g = Governor::new();
        let h = "tickets.example.com";
        for expected in [30.0, 60.0, 120.0] {
            let b = g.record(h, Outcome::NetworkError).unwrap();
            let s = b.delay.as_secs_f64();
            assert!(
                s >= expected * 0.8 && s <= expected * 1.2,
                "{s} not within 20% of {expected}"
            );
        }
        assert_eq!(g.failures(h), 3);
        assert!(g.record(h, status(200)).is_none());
        assert_eq!(g.failures(h), 0);
        let b = g
            .record(
                h,
                Outcome::Status {
                    code: 429,
                    retry_after: Some(Duration::from_secs(10)),
                },
            )
            .unwrap();
        assert!(b.delay >= Duration::from_secs(10) && b.delay <= Duration::from_secs(12));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(10), 0.2).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
        assert_eq!(jitter(Duration::from_secs(3), 0.0), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn remote_polls_are_spaced_by_the_floor_loopback_is_not() {
        let g = Governor::new();
        assert_eq!(
            g.admit("tickets.example.com", Kind::Poll).await,
            Duration::ZERO
        );
        let waited = g.admit("tickets.example.com", Kind::Poll).await;
        assert_eq!(waited, FLOOR);
        // Actions are not held by the floor.
        assert_eq!(
            g.admit("tickets.example.com", Kind::Action).await,
            Duration::ZERO
        );
        assert_eq!(g.admit("127.0.0.1", Kind::Poll).await, Duration::ZERO);
        assert_eq!(g.admit("127.0.0.1", Kind::Poll).await, Duration::ZERO);
        // Backoff holds loopback too, and actions.
        g.record(
            "127.0.0.1",
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(3)),
            },
        );
        let waited = g.admit("127.0.0.1", Kind::Action).await;
        assert!(waited >= Duration::from_secs(3), "{waited:?}");
    }
}
