//! The politeness governor: the rules that keep a marketplace open for everyone.
//!
//! It sits under every request the session makes, below anything a script can reach, so no strategy
//! can poll a real host faster than the floor or ignore a server that asked us to wait:
//! - hosts are normalised first ([`Target::of`]: case, trailing dot, IP literal forms), so no
//!   spelling of a host gets a budget of its own;
//! - two GETs (polls) to the same non-loopback host are never closer than [`FLOOR`];
//! - requests of any method to a non-loopback host draw from a token bucket: a burst of
//!   [`BURST`], then one per [`REFILL`] on average. Polls at the floor leave the bucket nearly
//!   full, so the cart POSTs right after a poll are never held back;
//! - a `Retry-After` on any response blocks that host for at least that long (plus up to 20%);
//! - 429, 503 and 409 without one block it for 60, 30 and 5 s; other failures escalate 30, 60,
//!   120, 240, then 300 s; all with ±20% jitter; a success resets the escalation. Status-based
//!   backoff holds the host; a network error holds only its origin (scheme, host, port), so a
//!   refused connection to another port never stalls the marketplace.
//!
//! Loopback hosts are exempt from the floor and the bucket (tests and rehearsals run fast) but not
//! from backoff; a network error to loopback holds its origin for [`LOOPBACK_NETWORK_BACKOFF`]
//! at most (a refused local port ends a watch in seconds, not 27 s + 52 s). A loopback *address* reached through a name (`--resolve`) is judged by the name.
//!
//! Many events of one remote shop share its floor: 100 events polled every 15 s would want
//! 6.7 polls a second, the host gets one every 2 s. Who gets the next slot is decided here, not
//! by which sleeping task the timer happens to wake first: the polls waiting for a host are
//! served in weighted round-robin ([`Share`]: start-time fair queueing, each waiter tagged with
//! the virtual time its share has reached), so equal events take turns and an event of weight 3
//! gets three slots for another's one while both are waiting. A session that was not waiting
//! (its own interval is longer than its share) builds up no credit: its tag starts at the host's
//! virtual time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

// tokio's Instant is std's, except that tests with a paused clock can move it.
use tokio::time::Instant;
use url::{Host, Url};

/// Minimum spacing of polls to one remote host.
pub const FLOOR: Duration = Duration::from_secs(2);
/// Intervals under this are allowed for remote hosts but earn a warning.
pub const WARN_BELOW: Duration = Duration::from_secs(5);
/// Requests of any kind a remote host may get at once, before the bucket's rate applies.
pub const BURST: f64 = 6.0;
/// One token comes back this often.
pub const REFILL: Duration = Duration::from_secs(2);
/// The escalation for network errors and other failures.
const ESCALATION: [u64; 5] = [30, 60, 120, 240, 300];
/// The longest a network error holds a loopback origin.
pub const LOOPBACK_NETWORK_BACKOFF: Duration = Duration::from_secs(1);

/// Whether a request polls (GET: spaced by the floor) or acts (POST: only the bucket and backoff
/// apply, so a cart add goes out the instant a listing is seen).
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

/// Whose poll it is, for sharing a host's floor: the session (one per watched event) and its
/// weight (`--event day2:3`, a target's `weight`; 1 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub key: u64,
    pub weight: u32,
}

/// Where a request goes, as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The normalised host: lower case, no trailing dot, IPs in canonical form (IPv6 in brackets,
    /// IPv4-mapped IPv6 as IPv4).
    pub host: String,
    /// `scheme://host:port`, with the scheme's default port filled in.
    pub origin: String,
    pub loopback: bool,
}

impl Target {
    pub fn of(url: &Url) -> Self {
        let host = normalise_host(url);
        let port = url.port_or_known_default().unwrap_or(0);
        Target {
            origin: format!("{}://{host}:{port}", url.scheme()),
            loopback: is_loopback(&host),
            host,
        }
    }
}

/// The host of `url` in the one spelling the rules use.
pub fn normalise_host(url: &Url) -> String {
    match url.host() {
        Some(Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(Host::Ipv4(a)) => a.to_string(),
        Some(Host::Ipv6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{a}]"),
        },
        None => String::new(),
    }
}

#[derive(Default)]
struct HostState {
    last_poll: Option<Instant>,
    blocked_until: Option<Instant>,
    failures: u32,
    /// Token bucket: tokens left at `refilled`.
    tokens: f64,
    refilled: Option<Instant>,
    /// The polls waiting for the floor, in the order they are to be served (see the module).
    queue: Queue,
}

/// The weighted round-robin of the polls waiting for one host's floor.
#[derive(Default)]
struct Queue {
    /// Waiting polls: (start tag, ticket). The smallest goes next; equal tags by arrival.
    waiting: Vec<(f64, u64)>,
    /// The start tag of the poll served last: the host's virtual time.
    now: f64,
    /// Each share's finish tag: where its next poll starts, if it comes at once.
    finish: HashMap<u64, f64>,
    tickets: u64,
    /// Woken whenever a poll is served or leaves: the next in line may go.
    turn: std::sync::Arc<tokio::sync::Notify>,
}

impl Queue {
    fn join(&mut self, share: Share) -> u64 {
        self.tickets += 1;
        let start = self
            .finish
            .get(&share.key)
            .copied()
            .unwrap_or(0.0)
            .max(self.now);
        self.waiting.push((start, self.tickets));
        self.tickets
    }

    fn first(&self) -> Option<u64> {
        self.waiting
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|w| w.1)
    }

    /// `ticket` is served: the host's virtual time moves to its tag, its share's next tag is one
    /// weighted step on.
    fn serve(&mut self, ticket: u64, share: Share) {
        if let Some(i) = self.waiting.iter().position(|w| w.1 == ticket) {
            let (start, _) = self.waiting.swap_remove(i);
            self.now = self.now.max(start);
            self.finish
                .insert(share.key, start + 1.0 / f64::from(share.weight.max(1)));
        }
        self.turn.notify_waiters();
    }

    fn leave(&mut self, ticket: u64) {
        self.waiting.retain(|w| w.1 != ticket);
        self.turn.notify_waiters();
    }
}

/// A poll's place in its host's queue; given up if the poll is (the waiting task was cancelled).
struct Place<'a> {
    governor: &'a Governor,
    host: &'a str,
    ticket: u64,
    served: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if !self.served {
            let mut st = self
                .governor
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(h) = st.hosts.get_mut(self.host) {
                h.queue.leave(self.ticket);
            }
        }
    }
}

#[derive(Default)]
struct OriginState {
    blocked_until: Option<Instant>,
    failures: u32,
}

#[derive(Default)]
struct State {
    hosts: HashMap<String, HostState>,
    origins: HashMap<String, OriginState>,
}

#[derive(Default)]
pub struct Governor {
    state: Mutex<State>,
}

/// `127.0.0.0/8`, `::1` and `localhost` (with or without a trailing dot).
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
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

/// The `n`th step (from 1) of the failure escalation.
pub fn escalation(n: u32) -> Duration {
    let i = (n.max(1) as usize - 1).min(ESCALATION.len() - 1);
    Duration::from_secs(ESCALATION[i])
}

/// The backoff an outcome earns before jitter, given the failures already counted for the host
/// (including this one). Pure, so the policy is tested on its own.
pub fn policy(outcome: Outcome, failures: u32) -> Option<(Duration, String)> {
    match outcome {
        Outcome::Status {
            code,
            retry_after: Some(ra),
        } => Some((ra, format!("{code} with Retry-After"))),
        Outcome::Status { code: 429, .. } => Some((Duration::from_secs(60), "429".into())),
        Outcome::Status { code: 503, .. } => Some((Duration::from_secs(30), "503".into())),
        Outcome::Status { code: 409, .. } => Some((Duration::from_secs(5), "409".into())),
        Outcome::Status { code, .. } if is_failure(code) => {
            Some((escalation(failures), format!("{code}, failure #{failures}")))
        }
        Outcome::Status { .. } => None,
        Outcome::NetworkError => Some((escalation(failures), format!("network error #{failures}"))),
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

fn later(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl HostState {
    /// Tokens in the bucket at `now` (a new host starts full).
    fn tokens_at(&self, now: Instant) -> f64 {
        match self.refilled {
            None => BURST,
            Some(t) => {
                let back = now.saturating_duration_since(t).as_secs_f64() / REFILL.as_secs_f64();
                (self.tokens + back).min(BURST)
            }
        }
    }
}

impl Governor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until a request of `kind` to `t` is allowed, then books it. Returns the time waited.
    pub async fn admit(&self, t: &Target, kind: Kind) -> Duration {
        self.admit_as(t, kind, None).await
    }

    /// [`Governor::admit`] for a poll of `share`: polls waiting for a remote host's floor take
    /// their turns by weight (see the module).
    pub async fn admit_as(&self, t: &Target, kind: Kind, share: Option<Share>) -> Duration {
        let share = share.filter(|_| kind == Kind::Poll && !t.loopback);
        let (mut place, turn) = match share {
            Some(share) => {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let q = &mut st.hosts.entry(t.host.clone()).or_default().queue;
                let ticket = q.join(share);
                let place = Place {
                    governor: self,
                    host: &t.host,
                    ticket,
                    served: false,
                };
                (Some(place), Some(q.turn.clone()))
            }
            None => (None, None),
        };
        let mut waited = Duration::ZERO;
        loop {
            // Registered before the state is read, so a turn given in between is not missed.
            let notified = turn.as_ref().map(|n| n.notified());
            let mut notified = std::pin::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let (wait, my_turn) = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let origin_block = st.origins.get(&t.origin).and_then(|o| o.blocked_until);
                let h = st.hosts.entry(t.host.clone()).or_default();
                let my_turn = place
                    .as_ref()
                    .is_none_or(|p| h.queue.first() == Some(p.ticket));
                let mut until = later(h.blocked_until, origin_block).filter(|u| *u > now);
                if !t.loopback {
                    if kind == Kind::Poll {
                        let next = h.last_poll.map(|p| p + FLOOR).filter(|n| *n > now);
                        until = later(until, next);
                    }
                    let tokens = h.tokens_at(now);
                    if tokens < 1.0 {
                        let short = REFILL.mul_f64(1.0 - tokens);
                        until = later(until, Some(now + short));
                    }
                }
                match until {
                    Some(u) => (u - now, my_turn),
                    // Free, but another poll is first in line: it goes (it is woken too).
                    None if !my_turn => (FLOOR, false),
                    None => {
                        if kind == Kind::Poll {
                            h.last_poll = Some(now);
                        }
                        if !t.loopback {
                            h.tokens = h.tokens_at(now) - 1.0;
                            h.refilled = Some(now);
                        }
                        if let (Some(p), Some(share)) = (place.as_mut(), share) {
                            h.queue.serve(p.ticket, share);
                            p.served = true;
                        }
                        return waited;
                    }
                }
            };
            let start = Instant::now();
            match notified.as_mut().as_pin_mut() {
                // The first in line sleeps until the host is free; the others until a turn is
                // given (or, at the latest, as long as the host is held).
                Some(n) if !my_turn => {
                    let _ = tokio::time::timeout(wait.max(FLOOR), n).await;
                }
                _ => tokio::time::sleep(wait).await,
            }
            waited += start.elapsed();
        }
    }

    /// Records how a request to `t` ended; returns the backoff it earned, if any. A network
    /// error holds the origin; an answer's status holds the host.
    pub fn record(&self, t: &Target, outcome: Outcome) -> Option<Backoff> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Outcome::NetworkError = outcome {
            let o = st.origins.entry(t.origin.clone()).or_default();
            o.failures += 1;
            let (base, reason) = policy(outcome, o.failures)?;
            let mut delay = jitter(base, 0.2);
            if t.loopback {
                // This machine: a refused port is an answer that comes in microseconds, and
                // nobody's marketplace to spare (a rehearsal, a shop run locally). Fail fast.
                delay = delay.min(LOOPBACK_NETWORK_BACKOFF);
            }
            o.blocked_until = later(o.blocked_until, Some(now + delay));
            return Some(Backoff { delay, reason });
        }
        // The origin answered: it is reachable again.
        if let Some(o) = st.origins.get_mut(&t.origin) {
            o.failures = 0;
        }
        let h = st.hosts.entry(t.host.clone()).or_default();
        if counts_as_failure(outcome) {
            h.failures += 1;
        } else if matches!(outcome, Outcome::Status { code, .. } if code < 400) {
            h.failures = 0;
        }
        let (base, reason) = policy(outcome, h.failures)?;
        let delay = match outcome {
            // The server named a time: never come back earlier, only up to 20% later.
            Outcome::Status {
                retry_after: Some(_),
                ..
            } => base.mul_f64(rand::random_range(1.0..=1.2)),
            _ => jitter(base, 0.2),
        };
        h.blocked_until = later(h.blocked_until, Some(now + delay));
        Some(Backoff { delay, reason })
    }

    /// Blocks the host for the `nth` step of the escalation (±20%): for answers that say nothing
    /// we can read, over and over (a challenge or maintenance page).
    pub fn escalate(&self, t: &Target, nth: u32, reason: String) -> Backoff {
        let delay = jitter(escalation(nth), 0.2);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let h = st.hosts.entry(t.host.clone()).or_default();
        h.blocked_until = later(h.blocked_until, Some(Instant::now() + delay));
        Backoff { delay, reason }
    }

    /// Consecutive failures currently counted for the host of `t` (status-based) and its origin
    /// (network errors).
    pub fn failures(&self, t: &Target) -> (u32, u32) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (
            st.hosts.get(&t.host).map_or(0, |s| s.failures),
            st.origins.get(&t.origin).map_or(0, |s| s.failures),
        )
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

    fn t(url: &str) -> Target {
        Target::of(&Url::parse(url).unwrap())
    }

    #[test]
    fn hosts_are_normalised_before_any_rule() {
        let same = [
            "https://Tickets.Example.COM/a",
            "https://tickets.example.com./b",
            "https://tickets.example.com:443/c",
        ];
        for u in same {
            assert_eq!(t(u), t("https://tickets.example.com/"), "{u}");
        }
        for u in [
            "https://127.0.0.1/",
            "https://127.1/",
            "https://0x7f.0.0.1/",
            "https://2130706433/",
            "https://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(t(u).host, "127.0.0.1", "{u}");
            assert!(t(u).loopback, "{u}");
        }
        assert_eq!(t("https://[0:0::1]/").host, "[::1]");
        assert!(t("https://LOCALHOST./").loopback);
        assert!(!t("https://market.test/").loopback);
        assert_ne!(
            t("https://127.0.0.1:9/").origin,
            t("https://127.0.0.1:8443/").origin
        );
        assert_eq!(t("http://h.example/").origin, "http://h.example:80");
    }

    #[test]
    fn record_escalates_and_resets() {
        let g = Governor::new();
        let h = t("https://tickets.example.com/");
        for expected in [30.0, 60.0, 120.0] {
            let b = g.record(&h, Outcome::NetworkError).unwrap();
            let s = b.delay.as_secs_f64();
            assert!(
                s >= expected * 0.8 && s <= expected * 1.2,
                "{s} not within 20% of {expected}"
            );
        }
        assert_eq!(g.failures(&h), (0, 3));
        assert!(g.record(&h, status(200)).is_none());
        assert_eq!(g.failures(&h), (0, 0));
        for _ in 0..2 {
            g.record(&h, status(500));
        }
        assert_eq!(g.failures(&h), (2, 0));
        let b = g
            .record(
                &h,
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
        let remote = t("https://tickets.example.com/");
        assert_eq!(g.admit(&remote, Kind::Poll).await, Duration::ZERO);
        let waited = g.admit(&remote, Kind::Poll).await;
        assert_eq!(waited, FLOOR);
        // Another spelling of the same host is the same host.
        let waited = g
            .admit(&t("https://TICKETS.example.com./x"), Kind::Poll)
            .await;
        assert_eq!(waited, FLOOR);
        // Actions are not held by the floor.
        assert_eq!(g.admit(&remote, Kind::Action).await, Duration::ZERO);
        let lo = t("https://127.0.0.1:8443/");
        assert_eq!(g.admit(&lo, Kind::Poll).await, Duration::ZERO);
        assert_eq!(g.admit(&lo, Kind::Poll).await, Duration::ZERO);
        // Backoff holds loopback too, and actions.
        g.record(
            &lo,
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(3)),
            },
        );
        let waited = g.admit(&lo, Kind::Action).await;
        assert!(waited >= Duration::from_secs(3), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn any_mix_of_requests_is_a_burst_then_one_per_two_seconds() {
        let g = Governor::new();
        let h = t("https://tickets.example.com/");
        let start = Instant::now();
        // A burst of six actions goes at once; then one every REFILL.
        for _ in 0..6 {
            assert_eq!(g.admit(&h, Kind::Action).await, Duration::ZERO);
        }
        for n in 1..=4u32 {
            g.admit(&h, Kind::Action).await;
            let at = Instant::now() - start;
            assert!(at >= REFILL * n, "request {} at {at:?}", 6 + n);
        }
        // 40 POSTs and 10 GETs in any order: never more than BURST + elapsed/REFILL.
        let g = Governor::new();
        let start = Instant::now();
        for i in 0..50 {
            let kind = if i % 5 == 0 { Kind::Poll } else { Kind::Action };
            g.admit(&h, kind).await;
            let allowed = BURST + (Instant::now() - start).as_secs_f64() / REFILL.as_secs_f64();
            assert!(f64::from(i + 1) <= allowed + 1e-9, "request {i}");
        }
        // Loopback is exempt from the bucket.
        let lo = t("https://127.0.0.1/");
        for _ in 0..50 {
            assert_eq!(g.admit(&lo, Kind::Action).await, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_at_the_floor_leave_room_for_cart_posts() {
        let g = Governor::new();
        let h = t("https://tickets.example.com/");
        for _ in 0..20 {
            g.admit(&h, Kind::Poll).await;
            tokio::time::advance(FLOOR).await;
        }
        g.admit(&h, Kind::Poll).await;
        for _ in 0..4 {
            assert_eq!(g.admit(&h, Kind::Action).await, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_network_error_holds_its_origin_not_the_host() {
        let g = Governor::new();
        let dead = t("https://tickets.example.com:9/");
        let market = t("https://tickets.example.com:8443/secondhand/");
        g.record(&dead, Outcome::NetworkError).unwrap();
        assert_eq!(g.admit(&market, Kind::Poll).await, Duration::ZERO);
        assert!(g.admit(&dead, Kind::Poll).await >= Duration::from_secs(24));
        // A status answer holds the whole host.
        g.record(&market, status(503)).unwrap();
        let other_port = t("https://tickets.example.com:7/");
        assert!(g.admit(&other_port, Kind::Poll).await >= Duration::from_secs(24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_network_error_holds_a_loopback_origin_briefly() {
        let g = Governor::new();
        let dead = t("https://127.0.0.1:9/");
        for _ in 0..3 {
            let b = g.record(&dead, Outcome::NetworkError).unwrap();
            assert!(b.delay <= LOOPBACK_NETWORK_BACKOFF, "{:?}", b.delay);
            assert!(g.admit(&dead, Kind::Poll).await <= LOOPBACK_NETWORK_BACKOFF);
        }
    }

    /// Polls served, in order, when sessions of these weights all keep a poll waiting for one
    /// remote host, until `n` polls went out.
    async fn served(weights: &[u32], n: usize) -> Vec<u64> {
        let g = std::sync::Arc::new(Governor::new());
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (key, &weight) in (1u64..).zip(weights) {
            let (g, order) = (g.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let h = t("https://tickets.example.com/");
                let share = Share { key, weight };
                loop {
                    g.admit_as(&h, Kind::Poll, Some(share)).await;
                    let mut o = order.lock().unwrap();
                    if o.len() == n {
                        return;
                    }
                    o.push(key);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        std::sync::Arc::try_unwrap(order)
            .unwrap()
            .into_inner()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_polls_of_one_host_take_turns() {
        let order = served(&[1, 1, 1], 12).await;
        // Round-robin: every three polls, each session once.
        for turn in order.chunks(3) {
            let mut keys = turn.to_vec();
            keys.sort();
            assert_eq!(keys, [1, 2, 3], "{order:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_polls_take_turns_by_weight() {
        let order = served(&[1, 3, 1], 20).await;
        let count = |k| order.iter().filter(|&&o| o == k).count();
        assert_eq!((count(1), count(2), count(3)), (4, 12, 4), "{order:?}");
        // Spread out, not in runs: the heavy session never waits more than two others' polls.
        for w in order.windows(3) {
            assert!(w.contains(&2), "{order:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_given_up_while_waiting_gives_its_turn_away() {
        let g = std::sync::Arc::new(Governor::new());
        let h = t("https://tickets.example.com/");
        let share = |key| Some(Share { key, weight: 1 });
        g.admit_as(&h, Kind::Poll, share(1)).await;
        // Session 2 waits first in line for the floor, and is cancelled (its task ended).
        let g2 = g.clone();
        let h2 = h.clone();
        let first = tokio::spawn(async move { g2.admit_as(&h2, Kind::Poll, share(2)).await });
        tokio::task::yield_now().await;
        first.abort();
        let _ = first.await;
        // Session 3 gets the next slot, at the floor.
        let waited = tokio::time::timeout(FLOOR * 3, g.admit_as(&h, Kind::Poll, share(3)))
            .await
            .expect("the given-up place does not hold the queue");
        assert!(waited <= FLOOR, "{waited:?}");
    }
}
