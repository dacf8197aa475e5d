//! A simulated pretix marketplace: a product feature (`pretix-race rehearse`) and the server every
//! integration test runs against.
//!
//! It speaks HTTPS with a certificate it generates (its CA is handed to the client as an extra
//! root, never by turning verification off), HTTP/2 via ALPN with HTTP/1.1 as fallback, and
//! behaves like a pretix shop where it matters to us: `__QXSESSION` from the "front proxy",
//! `__Host-pretix_csrftoken` / `__Host-pretix_session` with pretix's attributes, Django-style
//! masked CSRF tokens checked against the cookie and a same-origin `Referer`, buy forms that either
//! win (302 via `/checkout/start` to `/checkout/questions/`) or lose the race (302 back to the
//! marketplace), and a scenario of listings, rate limits, an inactive marketplace, flaky answers
//! and connections closed after N streams (GOAWAY). It records every request for tests to check.

mod pages;
mod routes;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use url::Url;

/// A listing the simulated market will offer.
#[derive(Clone, Debug)]
pub struct SimListing {
    pub id: String,
    pub item: u32,
    pub title: String,
    pub price_cents: u64,
    /// The price as the page shows it, when not in the locale's usual form ("" shows none).
    pub price_shown: Option<String>,
    /// Someone else buys it the moment we try: our POST lands back on the marketplace.
    pub lost: bool,
}

impl SimListing {
    pub fn new(id: &str, title: &str, price_cents: u64) -> Self {
        Self {
            id: id.into(),
            item: 965,
            title: title.into(),
            price_cents,
            price_shown: None,
            lost: false,
        }
    }

    /// Shows the price as `text` ("" for no price at all).
    pub fn shown(mut self, text: &str) -> Self {
        self.price_shown = Some(text.into());
        self
    }

    pub fn lost(mut self) -> Self {
        self.lost = true;
        self
    }

    pub fn item(mut self, item: u32) -> Self {
        self.item = item;
        self
    }
}

/// Something unusual the marketplace does on a given poll.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` value, if any).
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// Drop the request without an answer (stream reset / connection error).
    Reset,
    /// The ordinary page with an extra announcement, so it differs from the baseline.
    Banner(String),
    /// 200 with binary bytes (`application/octet-stream`).
    Garbage,
    /// 200 with the ordinary page cut off before its filter form.
    Cut,
    /// 200 with a maintenance page (no filter form, no pretix error alert).
    Maintenance,
    /// 200 with an empty marketplace in a theme without the filter form.
    NoFilter,
    /// 200 with pretix's "not currently active" error page.
    InactivePage,
    /// A redirect away from the marketplace, to the event page.
    RedirectAway,
    /// The ordinary page, then the connection is closed (GOAWAY; `Connection: close` on HTTP/1.1).
    Close,
    /// The ordinary page, this many milliseconds late.
    Slow(u64),
    /// The ordinary page; from now on the checkout page sends its headers and part of itself,
    /// then stalls for good (a cart whose confirmation never arrives, in a client or a browser).
    /// In a main shop, keyed by the event-page GET.
    CheckoutStall,
    /// The ordinary page, its forms carrying a CSRF token gone stale (Django answers their POST
    /// with 403); the next load carries fresh ones.
    StaleCsrf,
    // Added for bounded reading (issue 15):
    /// 200 with a hostile 5 MB page of unclosed, nested `<div>`s (a page no tree builder should
    /// be given).
    Deep,
    /// The headers and the first half of the ordinary page, then nothing, ever.
    Stall,
    /// The headers and the first half of the ordinary page, then the rest one byte every this
    /// many milliseconds.
    Trickle(u64),
    /// The ordinary page; from now on a won cart POST's answer (302 to the checkout, with its
    /// cookies) sends its headers and part of a body, then stalls, and so does the checkout page.
    CartAnswerStall,
    /// The ordinary page; the next cart is gone by the time its checkout is asked for (the shop
    /// said added, then dropped the reservation): `checkout/start` empties it and sends the
    /// session back to the event page, once. In a main shop, keyed by the event-page GET.
    CartDropped,
}

/// What the simulated marketplace does, poll by poll. Poll numbers count marketplace GETs from 1.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub event: String,
    pub locale: String,
    /// Event-page GETs that show no marketplace link (and the marketplace answers "inactive").
    pub inactive_event_pages: u32,
    /// Listings appear from this marketplace poll on (1 = the first poll already shows them).
    pub listings_from_poll: u32,
    pub listings: Vec<SimListing>,
    pub faults: HashMap<u32, Fault>,
    /// Close each connection gracefully (HTTP/2 GOAWAY) after this many requests.
    pub max_requests_per_connection: Option<usize>,
    /// Events the shop runs: `event`, then `event-2`, `event-3`, …; the listings appear on the
    /// last one only (the others stay empty), so a watch of several events must watch them all.
    pub events: u32,
    /// A main shop instead of a marketplace: the event page lists products.
    pub shop: Option<ShopSim>,
}

/// A product of the simulated main shop, and when it comes back.
#[derive(Clone, Debug)]
pub struct SimProduct {
    pub id: u32,
    /// For a product with variations: (variation id, its name).
    pub variation: Option<(u32, String)>,
    pub name: String,
    pub price_cents: u64,
    /// How many one order may hold (a checkbox when 1).
    pub max: u32,
    /// From this event-page GET it shows as reserved in someone else's cart.
    pub reserved_from: u32,
    /// From this event-page GET it is available again (an expired reservation).
    pub available_from: u32,
}

/// What the simulated main shop does.
#[derive(Clone, Debug, Default)]
pub struct ShopSim {
    pub products: Vec<SimProduct>,
    /// The first cart add is refused: someone else was faster.
    pub lose_first: bool,
    /// Waiting pages (`?async_id=…`) a cart add shows before its result, as shops with
    /// background workers do.
    pub waiting_pages: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            event: "rehearsal".into(),
            locale: "en".into(),
            inactive_event_pages: 0,
            listings_from_poll: 1,
            listings: Vec::new(),
            faults: HashMap::new(),
            max_requests_per_connection: None,
            events: 1,
            shop: None,
        }
    }
}

impl Scenario {
    /// The slugs of the events the shop runs.
    pub fn event_names(&self) -> Vec<String> {
        (1..=self.events.max(1))
            .map(|n| {
                if n == 1 {
                    self.event.clone()
                } else {
                    format!("{}-{n}", self.event)
                }
            })
            .collect()
    }

    /// The names `rehearse --scenario` accepts.
    pub const NAMES: [&'static str; 11] = [
        "standard",
        "instant",
        "inactive",
        "busy",
        "quiet",
        "chaos",
        "many",
        "pair",
        "shop",
        "shop-instant",
        "shop-busy",
    ];

    /// The same scenario with every `Retry-After` it sends set to `secs` (tests use 0: the rule
    /// is tested on its own, and the suite need not wait out a rehearsal's pauses).
    pub fn with_retry_after(mut self, secs: &str) -> Self {
        for f in self.faults.values_mut() {
            if let Fault::Status {
                retry_after: Some(ra),
                ..
            } = f
            {
                *ra = secs.to_string();
            }
        }
        self
    }

    /// Many listings (12), prices in every form a shop shows (`1.190,00 €`, `€ 75`, `0.00 EUR`,
    /// none at all), long titles, some sold under our nose: a test of a strategy's `choose`.
    pub fn many() -> Self {
        let long = "Weekend Ticket – Friday to Sunday incl. camping, early entry and the after-show party (non-transferable after checkout)";
        let forms: [(&str, u64, Option<&str>); 12] = [
            ("Ticket – Type A", 19_000, None),
            ("Ticket – Type B", 119_000, Some("1.190,00 €")),
            ("Day Ticket", 7_500, Some("€ 75")),
            ("Free Ticket", 0, Some("0.00 EUR")),
            ("Mystery Ticket", 5_000, Some("")),
            (long, 24_900, Some("249,00 EUR")),
            ("Child Ticket", 2_550, Some("EUR 25.50")),
            ("VIP Ticket", 120_000, Some("€1,200.00")),
            ("Ticket – Type C", 21_000, None),
            ("Zürich Ticket", 12_500, Some("CHF 125.–")),
            ("Ticket – Type D", 18_000, None),
            ("Ticket – Type E", 30_000, None),
        ];
        let listings = forms
            .iter()
            .enumerate()
            .map(|(i, (title, cents, shown))| {
                let l = SimListing::new(&format!("m{i:02}x7k2p9"), title, *cents)
                    .item(965 + (i as u32 % 3));
                let l = match shown {
                    Some(s) => l.shown(s),
                    None => l,
                };
                // Every third one is sold to someone else the moment we try.
                if i % 3 == 1 { l.lost() } else { l }
            })
            .collect();
        Scenario {
            listings_from_poll: 2,
            listings,
            ..Scenario::default()
        }
    }

    /// A main shop whose sold-out tickets come back: item 7 ("Day Ticket") is sold out, then
    /// reserved in someone's cart, then available again (the reservation expired); the first add
    /// loses to someone faster; a cart add shows two waiting pages. Item 12 has variations (S sold
    /// out, XL back later); item 9 stays sold out. No marketplace is linked.
    pub fn shop() -> Self {
        let p =
            |id, variation: Option<(u32, &str)>, name: &str, cents, max, reserved, available| {
                SimProduct {
                    id,
                    variation: variation.map(|(v, n)| (v, n.to_string())),
                    name: name.to_string(),
                    price_cents: cents,
                    max,
                    reserved_from: reserved,
                    available_from: available,
                }
            };
        Scenario {
            shop: Some(ShopSim {
                products: vec![
                    p(7, None, "Day Ticket", 9_000, 1, 2, 3),
                    p(9, None, "Weekend Ticket", 12_000, 1, u32::MAX, u32::MAX),
                    p(
                        12,
                        Some((3, "S")),
                        "Festival Shirt",
                        2_000,
                        2,
                        u32::MAX,
                        u32::MAX,
                    ),
                    p(12, Some((4, "XL")), "Festival Shirt", 2_500, 2, 2, 4),
                ],
                lose_first: true,
                waiting_pages: 2,
            }),
            ..Scenario::default()
        }
    }

    /// Two listings a strategy can win, one after the other (a couple wants two tickets).
    pub fn pair() -> Self {
        Scenario {
            listings_from_poll: 2,
            listings: vec![
                SimListing::new("p1a9k3x7", "Ticket – Type A", 19_000),
                SimListing::new("p2b8m4y6", "Ticket – Type A", 19_500),
            ],
            ..Scenario::default()
        }
    }

    /// A scenario drawn from `seed` (the same seed, the same scenario): 1 to 6 listings in
    /// assorted price forms, some lost, appearing after 1 to 8 polls, with rate limits, busy
    /// answers, resets and odd pages on the way.
    pub fn random(seed: u64) -> Self {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n.max(1)
        };
        let shapes = ["", "€ 75", "1.190,00 €", "0.00 EUR", "EUR 25.50"];
        let count = 1 + next(6) as usize;
        let mut listings: Vec<SimListing> = (0..count)
            .map(|i| {
                let mut l = SimListing::new(
                    &format!("r{seed:x}n{i}"),
                    &format!("Ticket – Type {}", (b'A' + i as u8) as char),
                    5_000 + next(20) * 1_000,
                );
                if next(3) == 0 {
                    l = l.shown(shapes[next(shapes.len() as u64) as usize]);
                }
                if next(3) == 0 {
                    l = l.lost();
                }
                l
            })
            .collect();
        // At least one can be won.
        if listings.iter().all(|l| l.lost) {
            listings[count - 1].lost = false;
        }
        let from = 1 + next(8) as u32;
        let mut s = Scenario {
            listings_from_poll: from,
            listings,
            ..Scenario::default()
        };
        // Never two odd answers in a row: a rehearsal shows recovery, not a long backoff.
        let mut prev = false;
        for n in 1..from {
            let roll = next(6);
            if std::mem::replace(&mut prev, roll < 4) {
                prev = false;
                continue;
            }
            let fault = match roll {
                0 => Some(Fault::Status {
                    code: 429,
                    retry_after: Some("1".into()),
                }),
                1 => Some(Fault::Status {
                    code: 503,
                    retry_after: Some("0".into()),
                }),
                2 => Some(Fault::Reset),
                3 => Some(Fault::Maintenance),
                _ => None,
            };
            if let Some(f) = fault {
                s.faults.insert(n, f);
            }
        }
        s
    }

    /// Everything odd a marketplace can answer, over and over for `polls` polls, then a listing:
    /// garbage bytes, cut pages, resets, closed connections, 500 and 503 with `Retry-After: 0`, a
    /// page without the filter form, a maintenance page, a slow answer. Each odd answer is
    /// followed by an ordinary one, so no streak of failures builds up.
    pub fn chaos(polls: u32) -> Self {
        let cycle = |n: u32| match n % 12 {
            1 => Some(Fault::Garbage),
            3 => Some(Fault::Cut),
            5 => Some(Fault::Reset),
            7 => Some(Fault::Status {
                code: 500,
                retry_after: Some("0".into()),
            }),
            9 => Some(Fault::Status {
                code: 503,
                retry_after: Some("0".into()),
            }),
            10 => Some(Fault::NoFilter),
            11 => Some(Fault::Maintenance),
            0 => Some(Fault::Close),
            _ => None,
        };
        let mut s = Scenario {
            listings_from_poll: polls,
            listings: vec![SimListing::new("c4a0s7x2k9m1", "Ticket – Type A", 19_000)],
            ..Scenario::default()
        };
        for n in 1..polls {
            if let Some(f) = cycle(n) {
                s.faults.insert(n, f);
            }
        }
        s.faults.insert(polls.clamp(2, 20) - 1, Fault::Slow(300));
        s
    }

    /// A named scenario; `None` for an unknown name.
    pub fn named(name: &str) -> Option<Self> {
        let a = || SimListing::new("r8k2m4p6q1w3e5t7", "Ticket – Type A", 19_000);
        let b = || SimListing::new("z9x8c7v6b5n4m3l2", "Ticket – Type B", 21_000);
        let mut s = Scenario::default();
        match name {
            // A few empty polls, one rate limit, then two listings: the cheaper one is sold to
            // someone else under our nose, the next one is ours.
            "standard" => {
                s.listings_from_poll = 4;
                s.listings = vec![a().lost(), b()];
                s.faults.insert(
                    2,
                    Fault::Status {
                        code: 429,
                        retry_after: Some("1".into()),
                    },
                );
            }
            "instant" => s.listings = vec![a()],
            // The organiser switches the marketplace on after a while.
            "inactive" => {
                s.inactive_event_pages = 2;
                s.listings_from_poll = 2;
                s.listings = vec![a()];
            }
            // The site is under load before a listing shows up.
            "busy" => {
                s.listings_from_poll = 6;
                s.listings = vec![a()];
                s.faults.insert(
                    1,
                    Fault::Status {
                        code: 503,
                        retry_after: Some("1".into()),
                    },
                );
                s.faults.insert(
                    2,
                    Fault::Status {
                        code: 409,
                        retry_after: Some("1".into()),
                    },
                );
                s.faults.insert(3, Fault::Reset);
                s.faults
                    .insert(5, Fault::Banner("Maintenance tonight".into()));
            }
            // Nothing is ever listed: a rehearsal for watching, Ctrl-C and dry runs.
            "quiet" => s.listings_from_poll = u32::MAX,
            "chaos" => return Some(Scenario::chaos(40)),
            "many" => return Some(Scenario::many()),
            "pair" => return Some(Scenario::pair()),
            "shop" => return Some(Scenario::shop()),
            // The day ticket can be had at the first look: nobody faster, no waiting pages.
            "shop-instant" => {
                let mut s = Scenario::shop();
                if let Some(shop) = &mut s.shop {
                    shop.products[0].available_from = 1;
                    shop.lose_first = false;
                    shop.waiting_pages = 0;
                }
                return Some(s);
            }
            // The shop under load while the day ticket comes back: an overloaded proxy, a rate
            // limit, a reset connection, a maintenance page, then three waiting pages.
            "shop-busy" => {
                let mut s = Scenario::shop();
                if let Some(shop) = &mut s.shop {
                    shop.products[0].reserved_from = 1;
                    shop.products[0].available_from = 6;
                    shop.lose_first = false;
                    shop.waiting_pages = 3;
                }
                for (n, code) in [(1, 503), (2, 429)] {
                    s.faults.insert(
                        n,
                        Fault::Status {
                            code,
                            retry_after: Some("1".into()),
                        },
                    );
                }
                s.faults.insert(3, Fault::Reset);
                s.faults.insert(4, Fault::Maintenance);
                return Some(s);
            }
            _ => return None,
        }
        Some(s)
    }
}

/// A request as the simulator saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When the request arrived.
    pub at: std::time::Instant,
    /// The same, by the wall clock (to compare with other processes' records).
    pub wall: std::time::SystemTime,
    /// When the answer was ready to go out (`None` for a dropped request).
    pub replied: Option<std::time::Instant>,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub version: String,
    pub connection: usize,
    /// Connections open (accepted and not yet closed) when the request arrived.
    pub open_connections: usize,
    pub cookies: Vec<(String, String)>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub origin: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Seen {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct SimSession {
    csrf_secret: String,
    cart: Vec<SimListing>,
    /// The message the next event page shows (pretix's flash): (success, text).
    message: Option<(bool, String)>,
    /// Waiting pages still to show for a cart add running "in the background".
    waiting: u32,
}

#[derive(Default)]
struct Inner {
    event_gets: u32,
    /// The checkout page stalls after its headers (see [`Fault::CheckoutStall`]).
    checkout_stall: bool,
    /// The next checkout finds its cart gone (see [`Fault::CartDropped`]).
    cart_dropped: bool,
    /// A won cart POST's answer stalls after its headers (see [`Fault::CartAnswerStall`]).
    cart_answer_stall: bool,
    /// The shop's first cart add was refused already.
    shop_lost_once: bool,
    market_gets: u32,
    offered: Option<Vec<SimListing>>,
    sessions: HashMap<String, SimSession>,
    seen: Vec<Seen>,
}

struct Shared {
    scenario: Scenario,
    /// HTTPS (pretix's `__Host-` cookies), or plain http (unprefixed cookies).
    https: bool,
    base: String,
    inner: Mutex<Inner>,
    connections: AtomicUsize,
    closed: AtomicUsize,
    /// Connections whose TLS handshake resumed an earlier session.
    resumed: Mutex<std::collections::HashSet<usize>>,
}

/// A running simulated marketplace; stops when dropped.
pub struct Sim {
    ca_pem: String,
    spki_hashes: Vec<String>,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_string(n: usize) -> String {
    (0..n)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

/// Django's CSRF masking: a random mask, and the secret shifted by it.
fn mask_token(secret: &str) -> String {
    let mask = random_string(secret.len());
    let idx = |c: u8| CHARS.iter().position(|x| *x == c).unwrap_or(0);
    let cipher: String = secret
        .bytes()
        .zip(mask.bytes())
        .map(|(s, m)| CHARS[(idx(s) + idx(m)) % CHARS.len()] as char)
        .collect();
    mask + &cipher
}

fn unmask_token(token: &str) -> Option<String> {
    if token.len() % 2 != 0 || !token.bytes().all(|c| CHARS.contains(&c)) {
        return None;
    }
    let (mask, cipher) = token.split_at(token.len() / 2);
    let idx = |c: u8| CHARS.iter().position(|x| *x == c).unwrap_or(0);
    Some(
        cipher
            .bytes()
            .zip(mask.bytes())
            .map(|(c, m)| CHARS[(idx(c) + CHARS.len() - idx(m)) % CHARS.len()] as char)
            .collect(),
    )
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// How an answer's body ends, when not at once ([`Fault::Stall`], [`Fault::Trickle`]).
#[derive(Clone, Copy, Debug)]
enum Tail {
    Stall,
    Trickle(std::time::Duration),
}

/// A body that sends its first half, then stalls for ever or trickles the rest a byte at a time.
fn tail_body(body: Vec<u8>, tail: Tail) -> Body {
    let body = Bytes::from(body);
    let half = body.len() / 2;
    let state = (Some(body.slice(..half)), body.slice(half..));
    let stream = futures_util::stream::unfold(state, move |(first, rest)| async move {
        if let Some(first) = first {
            return Some((Ok(hyper::body::Frame::data(first)), (None, rest)));
        }
        match tail {
            Tail::Stall => std::future::pending().await,
            Tail::Trickle(_) if rest.is_empty() => None,
            Tail::Trickle(every) => {
                tokio::time::sleep(every).await;
                let byte = rest.slice(..1);
                Some((Ok(hyper::body::Frame::data(byte)), (None, rest.slice(1..))))
            }
        }
    });
    http_body_util::StreamBody::new(stream).boxed_unsync()
}

impl Sim {
    /// Starts the marketplace on a free loopback port, over HTTPS.
    pub async fn start(scenario: Scenario) -> std::io::Result<Sim> {
        Self::start_with(scenario, true).await
    }

    /// The same over plain http, as a shop run locally serves: pretix's cookies are then
    /// `pretix_csrftoken` and `pretix_session`, without the `__Host-` prefix or `Secure`.
    pub async fn start_plain(scenario: Scenario) -> std::io::Result<Sim> {
        Self::start_with(scenario, false).await
    }

    async fn start_with(scenario: Scenario, https: bool) -> std::io::Result<Sim> {
        let certs = tls::generate().map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(certs.server_config.clone());
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let scheme = if https { "https" } else { "http" };
        let shared = Arc::new(Shared {
            scenario,
            https,
            base: format!("{scheme}://{addr}"),
            inner: Mutex::new(Inner::default()),
            connections: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            resumed: Mutex::new(std::collections::HashSet::new()),
        });
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = &mut stop_rx => break,
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                };
                let acceptor = acceptor.clone();
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let conn_id = shared.connections.fetch_add(1, Relaxed) + 1;
                    if shared.https {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            if tls.get_ref().1.handshake_kind()
                                == Some(rustls::HandshakeKind::Resumed)
                            {
                                shared
                                    .resumed
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(conn_id);
                            }
                            serve_connection(shared.clone(), TokioIo::new(tls), conn_id).await;
                        }
                    } else {
                        serve_connection(shared.clone(), TokioIo::new(tcp), conn_id).await;
                    }
                    shared.closed.fetch_add(1, Relaxed);
                });
            }
        });
        Ok(Sim {
            ca_pem: certs.ca_pem,
            spki_hashes: certs.spki_hashes,
            shared,
            _stop: stop_tx,
        })
    }

    /// `https://127.0.0.1:PORT`
    pub fn base_url(&self) -> Url {
        Url::parse(&self.shared.base).expect("valid base")
    }

    pub fn event(&self) -> &str {
        &self.shared.scenario.event
    }

    /// Every event's slug (one unless the scenario runs several).
    pub fn events(&self) -> Vec<String> {
        self.shared.scenario.event_names()
    }

    /// The PEM of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The same CA, parsed, for a client to trust.
    pub fn ca_certificates(&self) -> Vec<crate::core::http::Root> {
        crate::core::http::parse_roots(self.ca_pem.as_bytes()).unwrap_or_default()
    }

    /// The browser flag that makes Chromium accept the simulator's certificate (and only it).
    pub fn browser_trust_arg(&self) -> String {
        format!(
            "--ignore-certificate-errors-spki-list={}",
            self.spki_hashes.join(",")
        )
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .clone()
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Relaxed)
    }

    /// Requests seen so far (cheaper than `seen().len()`).
    pub fn request_count(&self) -> usize {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }

    /// Whether connection `conn` (numbered from 1) resumed an earlier TLS session (no full
    /// handshake, no certificate sent).
    pub fn tls_resumed(&self, conn: usize) -> bool {
        self.shared
            .resumed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&conn)
    }

    /// Connections that have ended (closed by either side) so far.
    pub fn closed(&self) -> usize {
        self.shared.closed.load(Relaxed)
    }

    /// The cart of the session holding this `__Host-pretix_session` value: listing titles.
    pub fn cart_of(&self, session: &str) -> Vec<String> {
        let inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .sessions
            .get(session)
            .map(|s| s.cart.iter().map(|l| l.title.clone()).collect())
            .unwrap_or_default()
    }
}

async fn serve_connection<IO>(shared: Arc<Shared>, io: TokioIo<IO>, conn_id: usize)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let served = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(Notify::new());
    let limit = shared.scenario.max_requests_per_connection;
    let svc = {
        let (served, close) = (served.clone(), close.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let (shared, close) = (shared.clone(), close.clone());
            let n = served.fetch_add(1, Relaxed) + 1;
            if limit.is_some_and(|l| n >= l) {
                close.notify_one();
            }
            async move {
                let (resp, close_after, delay) = shared.handle(req, conn_id).await?;
                if let Some(d) = delay {
                    tokio::time::sleep(d).await;
                }
                if close_after {
                    close.notify_one();
                }
                Ok::<_, Dropped>(resp)
            }
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = close.notified() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// pretix's (session, CSRF) cookie names: `__Host-` prefixed over HTTPS, plain over http.
pub(crate) fn cookie_names(https: bool) -> (&'static str, &'static str) {
    if https {
        ("__Host-pretix_session", "__Host-pretix_csrftoken")
    } else {
        ("pretix_session", "pretix_csrftoken")
    }
}

/// Raised by the service to drop a request without an answer.
#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated reset")
    }
}
impl std::error::Error for Dropped {}

fn parse_cookies(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Vec<u8>,
    /// Close the connection once this answer is out.
    close: bool,
    /// Hold the answer back this long.
    delay: Option<std::time::Duration>,
    retry_after: Option<String>,
    content_type: &'static str,
    /// How the body ends, when not at once.
    tail: Option<Tail>,
}

impl Reply {
    fn page(body: String) -> Self {
        Reply {
            status: StatusCode::OK,
            location: None,
            body: body.into_bytes(),
            close: false,
            delay: None,
            retry_after: None,
            content_type: "text/html; charset=utf-8",
            tail: None,
        }
    }
    fn redirect(to: String) -> Self {
        Reply {
            status: StatusCode::FOUND,
            location: Some(to),
            body: Vec::new(),
            close: false,
            delay: None,
            retry_after: None,
            content_type: "text/html; charset=utf-8",
            tail: None,
        }
    }
    fn status(code: u16, body: String) -> Self {
        Reply {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            location: None,
            body: body.into_bytes(),
            close: false,
            delay: None,
            retry_after: None,
            content_type: "text/html; charset=utf-8",
            tail: None,
        }
    }
}

impl Shared {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: usize,
    ) -> Result<(Response<Body>, bool, Option<std::time::Duration>), Dropped> {
        let method = req.method().clone();
        let (seen, authority) = self.read(req, conn).await;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.seen.push(seen.clone());
        let seen_index = inner.seen.len() - 1;
        let (session_id, set_cookies) = self.session(&mut inner, &seen);
        let sc = &self.scenario;
        let names = sc.event_names();
        let event = names
            .iter()
            .find(|n| seen.path.starts_with(&format!("/{n}/")))
            .unwrap_or(&names[0])
            .clone();
        let scheme = if self.https { "https" } else { "http" };
        let base = authority.map_or_else(|| self.base.clone(), |a| format!("{scheme}://{a}"));
        let mut ctx = routes::Ctx {
            sc,
            inner: &mut inner,
            seen: &seen,
            session_id: &session_id,
            sells: Some(&event) == names.last(),
            ev: format!("/{event}/"),
            event: &event,
            base: &base,
        };
        let reply = dispatch(&method, &mut ctx)?;
        inner.seen[seen_index].replied = Some(std::time::Instant::now());
        drop(inner);
        let (close, delay) = (reply.close, reply.delay);
        let http1 = seen.version == "HTTP/1.1";
        Ok((response(reply, set_cookies, http1), close, delay))
    }

    /// What a request is, as the scenario's pages and the tests see it (its form read whole), and
    /// the authority it named, if it is a plain host name.
    async fn read(&self, req: Request<Incoming>, conn: usize) -> (Seen, Option<String>) {
        let method = req.method().clone();
        let cookies = parse_cookies(&req);
        let header = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (user_agent, referer, origin) = (
            header(header::USER_AGENT),
            header(header::REFERER),
            header(header::ORIGIN),
        );
        // Links are absolute for the name the client used (as a real shop's are), so a client
        // that reaches us through `--resolve` stays on that name.
        let authority = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .or_else(|| header(header::HOST))
            .filter(|a| {
                a.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c))
            });
        let (path, query) = (
            req.uri().path().to_string(),
            req.uri().query().map(str::to_string),
        );
        let version = format!("{:?}", req.version());
        let form: Vec<(String, String)> = if method == Method::POST {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            url::form_urlencoded::parse(&body).into_owned().collect()
        } else {
            Vec::new()
        };
        let seen = Seen {
            at: std::time::Instant::now(),
            wall: std::time::SystemTime::now(),
            replied: None,
            method: method.to_string(),
            path,
            query,
            version,
            connection: conn,
            open_connections: self
                .connections
                .load(Relaxed)
                .saturating_sub(self.closed.load(Relaxed)),
            cookies,
            user_agent,
            referer,
            origin,
            form,
        };
        (seen, authority)
    }

    /// The visitor's session (a new one for a visitor without a known session cookie), and the
    /// cookies to set: the "front proxy" and pretix hand out theirs on the first visit.
    fn session(&self, inner: &mut Inner, seen: &Seen) -> (String, Vec<String>) {
        let cookie = |name: &str| seen.cookie(name).map(str::to_string);
        let mut set_cookies = Vec::new();
        if cookie("__QXSESSION").is_none() {
            set_cookies.push(format!(
                "__QXSESSION={}; Path=/",
                random_string(32).to_lowercase()
            ));
        }
        let (session_cookie, csrf_cookie) = cookie_names(self.https);
        if let Some(s) = cookie(session_cookie).filter(|s| inner.sessions.contains_key(s)) {
            return (s, set_cookies);
        }
        let id = random_string(32).to_lowercase();
        let secret = random_string(32);
        let secure = if self.https {
            "; Partitioned; Path=/; SameSite=None; Secure"
        } else {
            "; Path=/; SameSite=Lax"
        };
        set_cookies.push(format!(
            "{csrf_cookie}={secret}; expires=Thu, 24 Dec 2099 11:31:56 GMT; Max-Age=31449600{secure}"
        ));
        set_cookies.push(format!(
            "{session_cookie}={id}; expires=Thu, 08 Jan 2099 11:31:56 GMT; HttpOnly; Max-Age=1209600{secure}"
        ));
        inner.sessions.insert(
            id.clone(),
            SimSession {
                csrf_secret: secret,
                cart: Vec::new(),
                message: None,
                waiting: 0,
            },
        );
        (id, set_cookies)
    }
}

/// The page a request gets: one small function per route (`routes`).
fn dispatch(method: &Method, ctx: &mut routes::Ctx) -> Result<Reply, Dropped> {
    let shop = ctx.sc.shop.is_some();
    Ok(match routes::route(method, &ctx.seen.path, &ctx.ev) {
        routes::Route::Event if shop => routes::shop_page(ctx)?,
        routes::Route::CartAdd if shop => routes::cart_add(ctx),
        routes::Route::Event => routes::event_page(ctx),
        routes::Route::Market => routes::market(ctx)?,
        routes::Route::Buy => routes::buy(ctx),
        routes::Route::Theme => routes::theme(),
        routes::Route::CheckoutStart => routes::checkout_start(ctx),
        routes::Route::CheckoutQuestions => routes::checkout_questions(ctx),
        routes::Route::Head => Reply::status(200, String::new()),
        routes::Route::CartAdd | routes::Route::NotFound => Reply::status(404, pages::not_found()),
        routes::Route::Hostile => routes::hostile(ctx),
    })
}

/// A reply as the HTTP answer, with the cookies to set.
fn response(reply: Reply, set_cookies: Vec<String>, http1: bool) -> Response<Body> {
    let body = match reply.tail {
        None => http_body_util::Full::new(Bytes::from(reply.body)).boxed_unsync(),
        Some(tail) => tail_body(reply.body, tail),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    h.insert(header::SERVER, HeaderValue::from_static("pretix-race-sim"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie, Host"),
    );
    if let Some(loc) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    if let Some(ra) = reply
        .retry_after
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert(header::RETRY_AFTER, ra);
    }
    for c in set_cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    if reply.close && http1 {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_round_trip_and_differ_per_mask() {
        let secret = random_string(32);
        let a = mask_token(&secret);
        let b = mask_token(&secret);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(unmask_token(&a).as_deref(), Some(secret.as_str()));
        assert_eq!(unmask_token(&b).as_deref(), Some(secret.as_str()));
        assert_eq!(unmask_token("abc"), None);
        assert_eq!(unmask_token("ab-d"), None);
    }

    #[test]
    fn every_named_scenario_exists() {
        for n in Scenario::NAMES {
            assert!(Scenario::named(n).is_some(), "{n}");
        }
        assert!(Scenario::named("nope").is_none());
    }
}
