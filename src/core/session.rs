//! The HTTP session: one cookie jar, the politeness governor in front of every request, and the
//! connection of each origin it reaches, shared with every other session of the run.
//!
//! One connection per shop, not per session: a run watching 1000 events of one shop holds one
//! HTTP/2 connection to it, not 1000 TLS connections (≈ 150 KB each). So the connection (a
//! reqwest client, see [`Net`]) belongs to the origin, and keeps no cookies: each session adds its
//! own `Cookie` header from its jar to every request and stores every hop's `Set-Cookie` into it
//! ([`Session::attempt`]; the core follows redirects hop by hop, so every hop's cookies pass
//! there). The jar is a `cookie_store::CookieStore` and not reqwest's own because the hand-over
//! needs every cookie with its attributes (Secure, HttpOnly, SameSite, expiry).
//!
//! Connections: a pretix front end closes an HTTP/2 connection after about 1000 streams. The
//! origin's connection is swapped for a fresh client before [`RECONNECT_AFTER`] requests on it
//! (the connection's requests, whichever session sent them). The fresh client's connection is
//! opened in the background a few polls earlier (one `HEAD` of the polled URL, without cookies,
//! under the same rules as any request), so no poll and no cart POST waits for a handshake,
//! and the handshake resumes the TLS session (the clients share one TLS set-up). A server's
//! GOAWAY or a dead connection moves every session at once: they share the client. It retries once
//! on a transport error: always for GETs, and for POSTs only when the request never left (connect
//! error), so a cart add is never sent twice. It never POSTs to a checkout page: paying is the
//! person's step, whatever a script asks. It follows redirects itself, one hop at a time, each hop
//! through the same gate as a first request (see `core::gate` for why).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::{Client, Method, header};
use std::collections::HashMap;
use url::Url;

use super::cookies::CookieInfo;
use super::failure::Cause;
use super::governor::{Backoff, Governor, Kind, Outcome, Share, Target, parse_retry_after};
pub use super::http::{ClientConfig, SetupError, chain};
use super::stats::Stats;

/// Requests on one client before a fresh connection is opened.
pub const RECONNECT_AFTER: u32 = 950;
/// Requests after which the replacement connection is opened in the background: a few polls
/// ahead, so it is up in time, and idle only briefly (a front end closes idle connections).
pub const WARM_AFTER: u32 = RECONNECT_AFTER - 10;
/// If the replacement is still not up by then, the swap waits for a handshake after all (still
/// under a front end's ~1000 streams).
const SWAP_BY: u32 = RECONNECT_AFTER + 30;
/// Bodies larger than this are cut off: no marketplace page is anywhere near it.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// An answer whose body is not complete this long after its headers (a server that stalls, or
/// trickles a byte a second), or a GET whose headers take this long, is given up as a network
/// error: in a race a page that late is stale, and the watch goes on with a fresh request instead
/// of waiting out the client's 30 s timeout. Not retried at once: the next poll is the fresh
/// request.
pub const STALL_AFTER: Duration = Duration::from_secs(15);
/// The most of an answer's stated length reserved before its bytes arrive.
const PRESIZE_MAX: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: the answer stalled: not complete within {secs} s", secs = after.as_secs_f64())]
    Stalled {
        method: &'static str,
        url: Box<str>,
        after: Duration,
    },
    #[error("{method} {url}: {detail}")]
    Transport {
        method: &'static str,
        url: Box<str>,
        detail: String,
        /// Why, from the error's types (`core::failure`).
        cause: Cause,
        /// The URL whose answer was awaited or being read when it failed: after redirects, the
        /// last hop's. A cart POST whose redirect reached the checkout before the failure put a
        /// ticket in the cart (see `market::add_to_cart`).
        at: Option<Box<Url>>,
    },
    #[error("dry run: refusing to POST to the marketplace ({url})")]
    DryRun { url: Box<str> },
    #[error("refusing to POST to a checkout page ({url}): a person checks out, never pretix-race")]
    Checkout { url: Box<str> },
    #[error("{url}: only http and https URLs can be fetched")]
    Scheme { url: Box<str> },
    #[error("refusing plain http to {url}: only loopback hosts may be reached without https")]
    Insecure { url: Box<str> },
    #[error("refusing to reach {host}: {}", not_allowed_why(.rehearsal, .host))]
    NotAllowed { host: String, rehearsal: bool },
    #[error(
        "{url}: more than {} redirects (a redirect loop? the last one went to {last})",
        super::gate::MAX_HOPS
    )]
    RedirectLoop { url: Box<str>, last: Box<str> },
    #[error("the {name} header cannot be set per request{hint}")]
    Header { name: String, hint: &'static str },
    /// A request that cannot be sent as asked (a header name or value HTTP does not allow):
    /// the caller's mistake, said before anything leaves, never a network failure.
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Why a host cannot be reached, and the way out where there is one.
fn not_allowed_why(rehearsal: &bool, host: &str) -> String {
    if *rehearsal {
        "a rehearsal sends nothing off this machine".into()
    } else {
        format!(
            "the strategy may reach only the targets' hosts, the --webhook host, loopback and hosts given with --allow-host (add --allow-host {host} if you trust it)"
        )
    }
}

impl HttpError {
    /// Why a request got no answer (`None`: it got one, or was never sent).
    pub fn cause(&self) -> Option<Cause> {
        match self {
            HttpError::Transport { cause, .. } => Some(*cause),
            _ => None,
        }
    }

    /// The connection was not made, or its TLS handshake failed.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.cause(),
            Some(Cause::Dns | Cause::Refused | Cause::Tls | Cause::Connect)
        )
    }

    /// The host name did not resolve (a typo, or no network).
    pub fn is_dns(&self) -> bool {
        self.cause() == Some(Cause::Dns)
    }

    /// The TLS handshake failed: retrying will not help.
    pub fn is_tls(&self) -> bool {
        self.cause() == Some(Cause::Tls)
    }

    /// For a request that failed on the way, the URL it had reached (after redirects).
    pub fn reached(&self) -> Option<&Url> {
        match self {
            HttpError::Transport { at, .. } => at.as_deref(),
            _ => None,
        }
    }

    /// A short stable name scripts can branch on (`err.kind` in Lua).
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::DryRun { .. } => "dry_run",
            HttpError::NotAllowed { .. } => "not_allowed",
            HttpError::RedirectLoop { .. } => "redirect_loop",
            HttpError::Checkout { .. }
            | HttpError::Insecure { .. }
            | HttpError::Header { .. }
            | HttpError::Malformed(_) => "refused",
            e if e.is_tls() => "tls",
            _ => "network",
        }
    }
}

/// What the whole process shares between sessions: the governor (so no number of sessions gets
/// around it), the stats, the request counter, the secured carts (handed over at exit) and the
/// connections (one per origin, whatever the number of sessions).
#[derive(Default)]
pub struct Net {
    pub governor: Governor,
    pub stats: Stats,
    seq: AtomicU64,
    /// Every cart secured, until it is handed over.
    pub carts: super::carts::Carts,
    /// Each origin's (`Target::origin`) connection, made at its first request.
    conns: Mutex<HashMap<String, Arc<Mutex<Live>>>>,
}

/// What a session may do and whom it tells: set when it is made, the same for every session of a
/// run.
#[derive(Clone, Default)]
pub struct Policy {
    /// Dry run: POSTs to these hosts, and to any marketplace buy or cart-add URL, are refused.
    pub dry_run: Option<DryRun>,
    /// Where events raised below the script go (`watcher_failing`, the marketplace found).
    pub events: Option<Arc<dyn super::events::EventSink>>,
    /// The hosts requests may reach (`None`: any, for the commands that name their one URL).
    pub reach: Option<super::gate::Reach>,
}

impl Net {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The connection to `origin`, every session's; built from `cfg` at the first request (every
    /// session of a run has the same configuration).
    fn conn(&self, origin: &str, cfg: &ClientConfig) -> Result<Arc<Mutex<Live>>, SetupError> {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = conns.get(origin) {
            return Ok(c.clone());
        }
        let live = Arc::new(Mutex::new(Live {
            client: cfg.build()?,
            used: 0,
            generation: 0,
            spare: None,
            first: None,
        }));
        conns.insert(origin.to_string(), live.clone());
        Ok(live)
    }

    /// Origins with a connection (made, not necessarily open now): for tests and benchmarks.
    pub fn origins(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Every answer from `target` passes here: the governor records it (Retry-After, backoff on
    /// 429/409/503), the status line shows it, and a backoff it earned is said once. What every
    /// request of a session does, and the background `HEAD` that opens its next connection too.
    fn answered(
        &self,
        target: &Target,
        status: u16,
        retry_after: Option<Duration>,
    ) -> Option<Backoff> {
        let backoff = self.governor.record(
            target,
            Outcome::Status {
                code: status,
                retry_after,
            },
        );
        if let Some(b) = backoff.as_ref().filter(|b| !b.delay.is_zero()) {
            self.stats
                .set_live(|l| l.backoff = Some((Instant::now() + b.delay, b.reason.clone())));
            crate::log::warn(format!(
                "{} answered {status}: waiting {:.0} s before the next request ({})",
                target.host,
                b.delay.as_secs_f64(),
                b.reason
            ));
        }
        backoff
    }

    /// A request to `target` that got no answer: its origin backs off, and the line says so.
    fn failed(&self, target: &Target, error: &dyn std::fmt::Display) {
        if let Some(b) = self.governor.record(target, Outcome::NetworkError) {
            self.stats
                .set_live(|l| l.backoff = Some((Instant::now() + b.delay, b.reason.clone())));
            crate::log::warn(format!(
                "network error: {error}; waiting {:.0} s before the next request to {}",
                b.delay.as_secs_f64(),
                target.origin
            ));
        }
    }
}

/// An answer's `Retry-After`, read (seconds or an HTTP date).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// What a dry run refuses: every POST to a watched host, and every POST that could put a ticket
/// in a cart on any host (a marketplace buy URL, a shop's `cart/add`). Shared by every session of
/// a run; a strategy's own targets join the watched hosts once it names them.
#[derive(Clone, Debug, Default)]
pub struct DryRun {
    /// Normalised hosts (see [`Target`]).
    hosts: Arc<Mutex<Vec<String>>>,
}

impl DryRun {
    pub fn add_host(&self, url: &Url) {
        let host = Target::of(url).host;
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }

    pub fn refuses(&self, url: &Url, target: &Target) -> bool {
        super::pretix::could_fill_a_cart(url)
            || self
                .hosts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&target.host)
    }
}

/// Request headers only the core sets: the identity (`--user-agent`), the session (the jar) and
/// the host (the URL). A script that sets one is refused.
pub const RESERVED_HEADERS: [(&str, &str); 3] = [
    (
        "user-agent",
        ": pretix-race says who it is; change it with --user-agent",
    ),
    ("cookie", ": the session's cookie jar sends the cookies"),
    ("host", ": it comes from the URL"),
];

/// The reserved header among `headers`, or one HTTP does not allow (a name with a space or a
/// colon, a value with a line break), as an error: refused before any request.
pub fn check_headers(headers: &[(String, String)]) -> Result<(), HttpError> {
    for (k, v) in headers {
        if header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            return Err(HttpError::Malformed(format!(
                "{k:?} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
            )));
        }
        if header::HeaderValue::from_str(v).is_err() {
            return Err(HttpError::Malformed(format!(
                "the value of the {k} header is not a valid HTTP header value (no line breaks or control characters)"
            )));
        }
        let k = k.trim();
        if let Some((name, hint)) = RESERVED_HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
        {
            return Err(HttpError::Header {
                name: (*name).to_string(),
                hint,
            });
        }
    }
    Ok(())
}

/// One answer, fully read.
#[derive(Clone, Debug)]
pub struct Response {
    pub seq: u64,
    pub method: Method,
    pub status: u16,
    /// The last hop's URL (the session follows redirects itself, each hop under the rules).
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub ttfb: Duration,
    pub ttlb: Duration,
    /// Time the governor held the request back.
    pub waited: Duration,
    pub retry_after: Option<Duration>,
    /// The backoff this answer earned for its host.
    pub backoff: Option<Backoff>,
    /// A short, non-secret tag of the session cookie, for log lines.
    pub session_tag: String,
}

impl Response {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Logs this answer's line at info, with its fields for JSON logs.
    pub fn log(&self, result: &str) {
        self.log_at(crate::log::Level::Info, result);
    }

    /// Logs a routine answer (an empty poll): under a live status line it is in the line itself,
    /// so its own line shows only with `-v`.
    pub fn log_routine(&self, result: &str) {
        let level = if crate::log::status_shown() {
            crate::log::Level::Debug
        } else {
            crate::log::Level::Info
        };
        self.log_at(level, result);
    }

    pub fn log_at(&self, level: crate::log::Level, result: &str) {
        if !crate::log::enabled(level) {
            return;
        }
        crate::log::request(level, &self.log_line(result), || {
            let mut f = serde_json::Map::new();
            f.insert("req".into(), self.seq.into());
            f.insert("method".into(), self.method.as_str().into());
            f.insert("url".into(), self.url.as_str().into());
            f.insert("status".into(), self.status.into());
            f.insert("ttfb_ms".into(), (self.ttfb.as_secs_f64() * 1000.0).into());
            f.insert("ttlb_ms".into(), (self.ttlb.as_secs_f64() * 1000.0).into());
            f.insert("size".into(), self.body.len().into());
            f.insert(
                "waited_ms".into(),
                (self.waited.as_secs_f64() * 1000.0).into(),
            );
            f.insert("result".into(), result.into());
            f
        });
    }

    /// `REQ# | STATUS | TTFB | TTLB | SIZE | SESSION | RESULT`
    pub fn log_line(&self, result: &str) -> String {
        format!(
            "#{:04} | {} | {:>6} | {:>6} | {:>8} | {} | {}",
            self.seq,
            self.status,
            ms(self.ttfb),
            ms(self.ttlb),
            size(self.body.len()),
            self.session_tag,
            result
        )
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

fn size(n: usize) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{:.1} KB", n as f64 / 1024.0)
    }
}

/// One origin's connection: its client, the requests sent on it (by any session), and its
/// replacement.
struct Live {
    client: Client,
    used: u32,
    /// Which client this is (one more at each swap), so that a session retrying after a failed
    /// request replaces the client it failed on, not one another session already put in.
    generation: u64,
    /// While the first request on a fresh client opens its connection: the others wait for it
    /// (until its sender is dropped), then share that connection. Without this, sessions that
    /// start together would each open one: which protocol (HTTP/2 or 1.1) the server speaks is
    /// only known once a connection is up, so the client cannot tell them to wait for one.
    first: Option<tokio::sync::watch::Receiver<()>>,
    /// The replacement client, and how the opening of its connection in the background goes.
    spare: Option<(Client, tokio::sync::watch::Receiver<Spare>)>,
}

/// What [`Session::pick`] decided: a client to send on (with, for the request that opens its
/// connection, the guard the others wait on), or what to wait for first.
enum Pick {
    Send(Client, u64, Option<tokio::sync::watch::Sender<()>>),
    /// The replacement connection, past the last moment to swap.
    Spare(tokio::sync::watch::Receiver<Spare>),
    /// The first request on this client, opening its connection.
    First(tokio::sync::watch::Receiver<()>),
}

/// Where the replacement connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spare {
    Opening,
    Ready,
    Failed,
}

pub struct Session {
    /// Tells this session's carts apart from another's (and its polls, for the fair share).
    id: u64,
    /// Its share of a remote host's polls against other sessions' (see `core::governor`).
    weight: AtomicU32,
    cfg: ClientConfig,
    jar: Mutex<cookie_store::CookieStore>,
    net: Arc<Net>,
    policy: Policy,
    /// Per watched URL: consecutive failed polls, and whether `watcher_failing` went out.
    failing: Mutex<std::collections::HashMap<String, (u32, bool)>>,
    /// The last [`Session::session_tag`]: the jar only changes with a `Set-Cookie`, so an answer
    /// without one reuses it (no walk through the jar on every poll).
    tag: Mutex<Option<String>>,
}

impl Session {
    pub fn new(cfg: ClientConfig, net: Arc<Net>, policy: Policy) -> Result<Self, SetupError> {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Ok(Self {
            id: IDS.fetch_add(1, Relaxed),
            weight: AtomicU32::new(1),
            cfg,
            jar: Mutex::new(cookie_store::CookieStore::default()),
            net,
            policy,
            failing: Mutex::new(std::collections::HashMap::new()),
            tag: Mutex::new(None),
        })
    }

    pub fn net(&self) -> &Arc<Net> {
        &self.net
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// This session's share of a busy remote host's polls, against the others' (1 by default;
    /// `--event day2:3`, a target's `weight`): while they all wait, weight 3 gets three polls
    /// for weight 1's one.
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight.max(1), Relaxed);
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }

    /// A new session (own cookie jar; the connections are every session's) under the same
    /// process-wide rules and policy.
    pub fn sibling(&self) -> Result<Self, SetupError> {
        Self::new(self.cfg.clone(), self.net.clone(), self.policy.clone())
    }

    /// Counts a failed poll of `key` (`None`: it succeeded). Returns the streak, and whether it
    /// just reached `alert_at` for the first time.
    pub fn poll_failed(&self, key: &str, failed: bool, alert_at: u32) -> (u32, bool) {
        let mut map = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) {
            map.insert(key.to_string(), (0, false));
        }
        let f = map.get_mut(key).expect("just inserted");
        if !failed {
            *f = (0, false);
            return (0, false);
        }
        f.0 += 1;
        let first = f.0 >= alert_at && !f.1;
        f.1 |= first;
        (f.0, first)
    }

    /// The client of `url`'s origin for the next request, and its generation; a fresh one (new
    /// connection) every [`RECONNECT_AFTER`] requests on it, or when a request on generation
    /// `failed` went wrong (`None`: none did). Only a poll swaps the connection for a due
    /// reconnect: never a cart add or the steps that confirm it, so no handshake ever sits between
    /// a poll that found a ticket and its POST (the front end's limit, ~1000 streams, leaves room
    /// for the few actions past 950). The swap takes the replacement opened in the background once
    /// it is up (see [`Session::warm_up`]).
    async fn client(
        &self,
        failed: Option<u64>,
        kind: Kind,
        url: &Url,
    ) -> Result<(Client, u64, Option<tokio::sync::watch::Sender<()>>), HttpError> {
        let conn = self.net.conn(&Target::of(url).origin, &self.cfg)?;
        loop {
            let pick = {
                let mut live = conn.lock().unwrap_or_else(|e| e.into_inner());
                // Another session may have replaced the failed client already: take that one.
                let fresh = failed == Some(live.generation);
                self.pick(&mut live, fresh, kind, url)?
            };
            match pick {
                Pick::Send(client, generation, first) => return Ok((client, generation, first)),
                // Past the last moment to swap and the replacement is still opening: wait for it
                // (no longer than a swap's own handshake would take), then decide again.
                Pick::Spare(mut opening) => {
                    let _ = opening.wait_for(|s| *s != Spare::Opening).await;
                }
                // Another request is opening the connection: it is up (or failed) when that
                // request's guard is dropped.
                Pick::First(mut first) => while first.changed().await.is_ok() {},
            }
        }
    }

    /// [`Session::client`]'s decision, under the lock: the client to use, or the replacement's
    /// state to wait on.
    fn pick(&self, live: &mut Live, fresh: bool, kind: Kind, url: &Url) -> Result<Pick, HttpError> {
        if let Some(first) = &live.first {
            // Its sender alive: the first request on this client is still opening the connection.
            if first.has_changed().is_ok() && !fresh {
                return Ok(Pick::First(first.clone()));
            }
            live.first = None;
        }
        let spare = live.spare.as_ref().map(|(_, state)| match *state.borrow() {
            // Its task ended without a word (the runtime is stopping): as good as failed.
            Spare::Opening if state.has_changed().is_err() => Spare::Failed,
            s => s,
        });
        let due = !fresh && kind == Kind::Poll && live.used >= RECONNECT_AFTER;
        match spare {
            Some(Spare::Ready) if due => {
                crate::log::debug(format!(
                    "moving to the connection opened in the background, after {} on this one",
                    crate::log::plural(live.used as u64, "request", "requests")
                ));
                let (client, _) = live.spare.take().expect("a spare is ready");
                live.client = client;
                live.generation += 1;
                live.used = 1;
            }
            Some(Spare::Opening) if due && live.used >= SWAP_BY => {
                return Ok(Pick::Spare(live.spare.as_ref().expect("opening").1.clone()));
            }
            Some(Spare::Opening) if !fresh => {}
            _ if fresh || due => {
                crate::log::debug(format!(
                    "opening a fresh connection after {}",
                    crate::log::plural(live.used as u64, "request", "requests")
                ));
                live.client = self.cfg.build()?;
                live.generation += 1;
                live.used = 0;
                live.spare = None;
            }
            None if kind == Kind::Poll && live.used >= WARM_AFTER => {
                let client = self.cfg.build()?;
                let (tx, rx) = tokio::sync::watch::channel(Spare::Opening);
                let warm = Self::warm_up(self.net.clone(), client.clone(), url.clone(), tx);
                tokio::spawn(warm);
                live.spare = Some((client, rx));
            }
            _ => {}
        }
        let first = (live.used == 0).then(|| {
            let (tx, rx) = tokio::sync::watch::channel(());
            live.first = Some(rx);
            tx
        });
        live.used += 1;
        Ok(Pick::Send(live.client.clone(), live.generation, first))
    }

    /// Opens `client`'s connection ahead of need with one `HEAD` of `url` (the page being polled;
    /// a cheap request, and a real one: it passes the governor and its answer counts like any
    /// other's). `state` says when the connection is up, or that it failed (then the swap opens
    /// one as it always did).
    async fn warm_up(
        net: Arc<Net>,
        client: Client,
        url: Url,
        state: tokio::sync::watch::Sender<Spare>,
    ) {
        let target = Target::of(&url);
        net.governor.admit(&target, Kind::Action).await;
        let seq = net.seq.fetch_add(1, Relaxed) + 1;
        net.stats.requests.fetch_add(1, Relaxed);
        let start = Instant::now();
        match client.head(url.clone()).send().await {
            Ok(r) => {
                let code = r.status().as_u16();
                net.answered(&target, code, retry_after(r.headers()));
                crate::log::debug(format!(
                    "#{seq:04} | {code} | {:>6} | HEAD {url}: the next connection is open",
                    ms(start.elapsed())
                ));
                let _ = state.send(Spare::Ready);
            }
            Err(e) => {
                let e = chain(&e);
                net.failed(&target, &format!("HEAD {url}: {e}"));
                crate::log::debug(format!(
                    "#{seq:04} | HEAD {url}: opening the next connection failed ({e}); the swap will open one"
                ));
                let _ = state.send(Spare::Failed);
            }
        }
    }

    /// A GET that counts as a poll: spaced by the governor's floor for remote hosts.
    pub async fn get(
        &self,
        url: &Url,
        headers: &[(String, String)],
    ) -> Result<Response, HttpError> {
        self.send(Method::GET, url, None, headers, Kind::Poll, None)
            .await
    }

    /// A GET that is part of an action (following a shop's waiting page, confirming a cart): held
    /// by the burst limit and any backoff, not by the polls' floor.
    pub async fn get_action(
        &self,
        url: &Url,
        headers: &[(String, String)],
    ) -> Result<Response, HttpError> {
        self.send(Method::GET, url, None, headers, Kind::Action, None)
            .await
    }

    /// A form POST (an action: not held by the floor, but by any backoff).
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(String, String)],
        headers: &[(String, String)],
    ) -> Result<Response, HttpError> {
        self.send(Method::POST, url, Some(form), headers, Kind::Action, None)
            .await
    }

    /// [`Session::post_form`], but a redirect to a URL `stop_at` accepts is handed back as it is,
    /// not followed: a cart POST's redirect to the checkout is its outcome, recorded before the
    /// checkout page is asked for (which may stall, or be cut short by Ctrl-C).
    pub async fn post_form_until(
        &self,
        url: &Url,
        form: &[(String, String)],
        headers: &[(String, String)],
        stop_at: &(dyn Fn(&Url) -> bool + Sync),
    ) -> Result<Response, HttpError> {
        self.send(
            Method::POST,
            url,
            Some(form),
            headers,
            Kind::Action,
            Some(stop_at),
        )
        .await
    }

    /// One request as the caller sees it: the first hop and every redirect after it, each hop a
    /// request of its own through [`Session::hop`] (the gate, the governor, its answer recorded
    /// for its own host). 301/302/303 turn a POST into a GET without its form, 307/308 repeat it
    /// (and so pass the POST rules again on the new URL). The answer is the last hop's, with its
    /// URL; the time waited and taken is the whole chain's.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        form: Option<&[(String, String)]>,
        headers: &[(String, String)],
        kind: Kind,
        stop_at: Option<&(dyn Fn(&Url) -> bool + Sync)>,
    ) -> Result<Response, HttpError> {
        check_headers(headers)?;
        let first = url;
        let (mut method, mut url, mut form) = (method, url.clone(), form);
        let mut hop_headers = headers.to_vec();
        let (mut waited, mut took, mut cookies_set) = (Duration::ZERO, Duration::ZERO, false);
        for hop in 0..=super::gate::MAX_HOPS {
            let mut r = self.hop(&method, &url, form, &hop_headers, kind).await?;
            waited += r.waited;
            cookies_set |= hop > 0 || r.headers.iter().any(|(k, _)| k == "set-cookie");
            let next = super::gate::is_redirect(r.status)
                .then(|| super::gate::location(&url, &r.headers))
                .flatten();
            let next = next.filter(|n| !stop_at.is_some_and(|stop| stop(n)));
            let Some(next) = next else {
                r.waited = waited;
                r.ttfb += took;
                r.ttlb += took;
                r.session_tag = self.session_tag(cookies_set);
                return Ok(r);
            };
            took += r.ttlb;
            if hop == super::gate::MAX_HOPS {
                return Err(HttpError::RedirectLoop {
                    url: first.as_str().into(),
                    last: next.as_str().into(),
                });
            }
            crate::log::debug(format!(
                "#{:04} | {} | {} {url} redirects to {next}",
                r.seq, r.status, method
            ));
            let m = super::gate::next_method(r.status, &method);
            if m != method {
                form = None;
            }
            let cross = Target::of(&next).origin != Target::of(&url).origin;
            hop_headers.retain(|(k, _)| {
                let k = k.to_ascii_lowercase();
                // A body's headers go with the body; credentials stay with the origin they were for.
                let body_gone = form.is_none() && k.starts_with("content-");
                let credential =
                    cross && matches!(k.as_str(), "authorization" | "proxy-authorization");
                !(body_gone || credential)
            });
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("referer"))
            {
                hop_headers.retain(|(k, _)| !k.eq_ignore_ascii_case("referer"));
                if let Some(r) = super::gate::referer(&url, &next) {
                    hop_headers.push(("referer".into(), r));
                }
            }
            // A hop keeps its first request's kind (`kind` is never changed): a poll's hops keep
            // the 2 s floor (a redirecting name must not make polls faster), an action's only
            // the budget.
            method = m;
            url = next;
        }
        unreachable!("the loop returns at its last hop")
    }

    /// One hop: the gate (scheme, plain http to a remote host, the hosts the user named, no POST
    /// to a checkout page, the dry run's refusals), then the governor for its host, then the
    /// request (retried once as the module comment says), its answer recorded for its host.
    async fn hop(
        &self,
        method: &Method,
        url: &Url,
        form: Option<&[(String, String)]>,
        headers: &[(String, String)],
        kind: Kind,
    ) -> Result<Response, HttpError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Scheme {
                url: url.as_str().into(),
            });
        }
        let target = Target::of(url);
        if url.scheme() == "http" && !target.loopback {
            return Err(HttpError::Insecure {
                url: url.as_str().into(),
            });
        }
        if let Some(Err(why)) = self.policy.reach.as_ref().map(|r| r.check(&target)) {
            return Err(HttpError::NotAllowed {
                host: target.host.clone(),
                rehearsal: why == super::gate::Refusal::Rehearsal,
            });
        }
        if *method == Method::POST && super::pretix::routes_to_checkout(url) {
            return Err(HttpError::Checkout {
                url: url.as_str().into(),
            });
        }
        let dry = self.policy.dry_run.as_ref();
        if *method == Method::POST && dry.is_some_and(|d| d.refuses(url, &target)) {
            return Err(HttpError::DryRun {
                url: url.as_str().into(),
            });
        }
        let share = Share {
            key: self.id,
            weight: self.weight(),
        };
        let waited = self.net.governor.admit_as(&target, kind, Some(share)).await;
        let mut failed = None;
        loop {
            let (client, generation, opening) = self.client(failed, kind, url).await?;
            let seq = self.net.seq.fetch_add(1, Relaxed) + 1;
            self.net.stats.requests.fetch_add(1, Relaxed);
            match self
                .attempt(&client, opening, seq, method, url, form, headers)
                .await
            {
                Ok(mut r) => {
                    r.waited = waited;
                    let ms = r.ttlb.as_secs_f64() * 1000.0;
                    self.net.stats.set_live(|l| l.last = Some((r.status, ms)));
                    // A POST refused with 403 is Django's CSRF check (a stale token): its cure is
                    // a fresh token at once, not a pause (a host that refuses everything still
                    // backs off on its GETs).
                    let code = if method == Method::POST && r.status == 403 {
                        400
                    } else {
                        r.status
                    };
                    r.backoff = self.net.answered(&target, code, r.retry_after);
                    return Ok(r);
                }
                // A request that could not even be built is not the network's failure.
                Err(e @ HttpError::Malformed(_)) => return Err(e),
                Err(e) => {
                    // A refused certificate is not transient: no retry (the backoff still holds).
                    let stalled = matches!(e, HttpError::Stalled { .. });
                    let retry = failed.is_none()
                        && !e.is_tls()
                        && !stalled
                        && (*method == Method::GET || e.is_connect());
                    if retry {
                        crate::log::debug(format!("retrying once on a fresh connection: {e}"));
                        failed = Some(generation);
                        continue;
                    }
                    // A stall already gave the host its 15 s of rest: no backoff on top, the
                    // next poll is the fresh request.
                    if stalled {
                        crate::log::warn(format!("{e}; the next request is a fresh one"));
                    } else if e.is_dns() {
                        // No connection was made: no server to spare, so no backoff that
                        // another target of the same name would wait out (each target's
                        // failures are its own; the floor still spaces the polls).
                        crate::log::warn(format!("{e}"));
                    } else {
                        self.net.failed(&target, &e);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// One request on `client` (its origin's shared connection) with this session's cookies, its
    /// answer's cookies kept in this session's jar. `opening`: this request opens the client's
    /// connection, and the other sessions wait until it is dropped (at the answer's headers, or
    /// a failure).
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        client: &Client,
        opening: Option<tokio::sync::watch::Sender<()>>,
        seq: u64,
        method: &Method,
        url: &Url,
        form: Option<&[(String, String)]>,
        headers: &[(String, String)],
    ) -> Result<Response, HttpError> {
        let mut req = client.request(method.clone(), url.clone());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(cookies) = self.cookie_header(url) {
            req = req.header(header::COOKIE, cookies);
        }
        if let Some(form) = form {
            req = req.form(form);
        }
        // Reading the answer's body: the URL its headers came from (the last hop's).
        let mut reading: Option<Url> = None;
        let transport = |e: reqwest::Error, reading: &Option<Url>| {
            let detail = chain(&e);
            if e.is_builder() {
                return HttpError::Malformed(detail);
            }
            HttpError::Transport {
                at: reading.clone().or_else(|| e.url().cloned()).map(Box::new),
                method: if *method == Method::POST {
                    "POST"
                } else {
                    "GET"
                },
                url: url.as_str().into(),
                cause: super::failure::classify(&e),
                detail,
            }
        };
        let after = self.cfg.stall_after.unwrap_or(STALL_AFTER);
        let stalled = || HttpError::Stalled {
            method: if *method == Method::POST {
                "POST"
            } else {
                "GET"
            },
            url: url.as_str().into(),
            after,
        };
        let start = Instant::now();
        // A GET's headers are held to the same bound (a POST's answer says what became of a cart:
        // it gets the client's whole timeout).
        let sent = req.send();
        let sent = if *method == Method::GET {
            tokio::time::timeout(after, sent)
                .await
                .map_err(|_| stalled())?
        } else {
            sent.await
        };
        let mut resp = sent.map_err(|e| transport(e, &reading))?;
        let ttfb = start.elapsed();
        // The connection is up: the sessions waiting for it go.
        drop(opening);
        let status = resp.status().as_u16();
        let final_url = resp.url().clone();
        reading = Some(final_url.clone());
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let retry_after = retry_after(resp.headers());
        self.keep_cookies(resp.headers(), &final_url);
        // Sized once from the length the answer states (a live page arrives in several DATA
        // frames: without it, each grows and copies the buffer again), up to a size no server
        // can make us reserve for nothing.
        let stated = resp.content_length().unwrap_or(0) as usize;
        let mut body = BytesMut::with_capacity(stated.min(PRESIZE_MAX));
        // A redirect's headers are its whole answer (its cookies and where it goes): its body is
        // never read, so one that stalls cannot hold back a cart POST's outcome.
        let redirect = super::gate::is_redirect(status) && resp.headers().contains_key("location");
        let deadline = tokio::time::Instant::now() + after;
        while let Some(chunk) = if redirect {
            None
        } else {
            tokio::time::timeout_at(deadline, resp.chunk())
                .await
                .map_err(|_| stalled())?
                .map_err(|e| transport(e, &reading))?
        } {
            if body.len() + chunk.len() > MAX_BODY {
                crate::log::warn(format!("{url}: answer cut off at {MAX_BODY} bytes"));
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let ttlb = start.elapsed();
        Ok(Response {
            seq,
            method: method.clone(),
            status,
            url: final_url,
            headers,
            body: body.freeze(),
            ttfb,
            ttlb,
            waited: Duration::ZERO,
            retry_after,
            backoff: None,
            // Read once for the whole chain (see `send`).
            session_tag: String::new(),
        })
    }

    /// This session's `Cookie` header for `url` (what a browser would send there), if any.
    fn cookie_header(&self, url: &Url) -> Option<header::HeaderValue> {
        let store = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        let mut value = String::new();
        for (name, v) in store.get_request_values(url) {
            if !value.is_empty() {
                value.push_str("; ");
            }
            value.push_str(name);
            value.push('=');
            value.push_str(v);
        }
        // A value the jar accepted is a valid header value; skip one that is not, as a browser would.
        (!value.is_empty())
            .then(|| header::HeaderValue::from_str(&value).ok())
            .flatten()
    }

    /// Stores an answer's `Set-Cookie`s from `url` in this session's jar (by the cookie rules:
    /// domain, path, Secure, expiry), as a browser does.
    fn keep_cookies(&self, headers: &header::HeaderMap, url: &Url) {
        let mut set = headers.get_all(header::SET_COOKIE).iter().peekable();
        if set.peek().is_none() {
            return;
        }
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let secure_origin = url.scheme() == "https" || Target::of(url).loopback;
        let own_site = self
            .policy
            .reach
            .as_ref()
            .is_none_or(|r| r.is_target_site(url));
        let mut store = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: std::collections::HashSet<String> = store
            .iter_any()
            .filter(|c| match &c.domain {
                cookie_store::CookieDomain::HostOnly(d) | cookie_store::CookieDomain::Suffix(d) => {
                    *d == host
                }
                _ => false,
            })
            .map(|c| c.name().to_string())
            .collect();
        let cookies: Vec<_> = set
            .filter_map(|v| {
                let s = std::str::from_utf8(v.as_bytes()).ok()?;
                cookie_store::RawCookie::parse(s)
                    .ok()
                    .map(|c| c.into_owned())
            })
            .filter(|c| {
                let admitted = super::cookies::admit(c, &host, secure_origin, own_site)
                    .inspect_err(|why| {
                        crate::log::debug(format!("{host}: cookie {} not kept: {why}", c.name()))
                    })
                    .is_ok();
                // A new name past the host's share is not kept; a known one may be replaced.
                let room = names.contains(c.name()) || names.len() < super::cookies::MAX_PER_HOST;
                if admitted && room {
                    names.insert(c.name().to_string());
                }
                admitted && room
            })
            .collect();
        store.store_response_cookies(cookies.into_iter(), url);
    }

    /// Takes back this session's newest cart not yet handed over, and its count, when the shop
    /// has shown positively that there is no cart after all (see `shop::confirm`).
    pub fn secured_taken_back(&self) {
        if self.net().carts.withdraw(self.id()) {
            self.net().stats.carts_won.fetch_sub(1, Relaxed);
        }
    }

    /// Records a cart this session secured (its cookies now) with the run's carts, and counts it:
    /// where every cart add, marketplace or shop, passes.
    pub fn secured(&self, checkout_url: &Url, expires: Option<String>, ticket: &str, price: &str) {
        self.net().stats.carts_won.fetch_add(1, Relaxed);
        self.net().carts.record(super::carts::SecuredCart {
            session: self.id(),
            checkout_url: checkout_url.clone(),
            cookies: self.cookies(),
            expires,
            ticket: ticket.to_string(),
            price: price.to_string(),
            at: std::time::Instant::now(),
        });
    }

    /// Every unexpired cookie in the jar, with its attributes.
    pub fn cookies(&self) -> Vec<CookieInfo> {
        let store = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        store.iter_unexpired().map(CookieInfo::from_store).collect()
    }

    /// First characters of the pretix session (or proxy session) cookie: enough to tell sessions
    /// apart in a log, too little to be worth stealing.
    fn session_tag(&self, changed: bool) -> String {
        let mut cached = self.tag.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tag) = cached.as_ref().filter(|_| !changed) {
            return tag.clone();
        }
        let tag = self.read_session_tag();
        *cached = Some(tag.clone());
        tag
    }

    fn read_session_tag(&self) -> String {
        let store = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        let cookies: Vec<_> = store
            .iter_unexpired()
            .map(|c| (c.name(), c.value()))
            .collect();
        super::pretix::session_cookie(&cookies)
            .map(|v| v.chars().take(6).collect::<String>() + "…")
            .unwrap_or_else(|| "-".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str) -> Result<(), HttpError> {
        check_headers(&[(name.to_string(), value.to_string())])
    }

    #[test]
    fn a_dry_run_refuses_buy_and_cart_add_urls_in_every_spelling_on_any_host() {
        let dry = DryRun::default();
        dry.add_host(&Url::parse("https://shop.example/").unwrap());
        for u in [
            "https://other.example/ev/cart/add",
            "https://other.example/ev/cart/%61dd",
            "https://other.example/ev/cart%2Fadd",
            "https://other.example/ev/CART/ADD/",
            "https://other.example/ev//cart//add",
            "https://other.example/ev/cart/add;x",
            "https://other.example/ev/secondhand/%62uy/abc/",
            "https://other.example/ev/SecondHand/Buy/abc/",
        ] {
            let url = Url::parse(u).unwrap();
            assert!(dry.refuses(&url, &Target::of(&url)), "{u}");
        }
        let fine = Url::parse("https://other.example/hook").unwrap();
        assert!(!dry.refuses(&fine, &Target::of(&fine)));
    }

    #[test]
    fn a_checkout_page_is_known_in_every_spelling() {
        for u in [
            "https://t.example/ev/checkout/confirm/",
            "https://t.example/ev/%63heckout/confirm/",
            "https://t.example/ev/checkout%2Fconfirm/",
            "https://t.example/ev/CHECKOUT/confirm/",
            "https://t.example/ev//checkout//confirm/",
        ] {
            let url = Url::parse(u).unwrap();
            assert!(super::super::pretix::routes_to_checkout(&url), "{u}");
        }
    }

    #[test]
    fn headers_http_does_not_allow_are_refused_before_sending() {
        assert!(check("X-Strategy", "one two").is_ok());
        for (name, value) in [
            ("X Bad", "1"),
            ("X:Bad", "1"),
            ("", "1"),
            (" X-Pad", "1"),
            ("X-Ok", "line\r\nInjected: yes"),
        ] {
            let e = check(name, value).unwrap_err();
            assert!(matches!(e, HttpError::Malformed(_)), "{name:?}: {e}");
            assert_eq!(e.kind(), "refused");
        }
        assert!(matches!(
            check("cookie", "a=b"),
            Err(HttpError::Header { .. })
        ));
    }
}
