//! The marketplace operations a strategy is built from: discover, poll, add to cart. Each is one
//! request plus what [`super::pretix`] knows about the answer, with the per-request log line and
//! the saving of unusual answers.
//!
//! Hot path: a poll answer is read once into bytes; an empty page costs a byte search and a
//! fingerprint (no DOM); a page with listings is parsed once; saving it to disk happens on a
//! blocking thread after the listings are handed back, so it never delays the cart POST.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use url::Url;

use super::budget::OverBudget;
use super::governor::Target;
use super::pretix::{self, CartOutcome, Checkout, Listing, Page, PageState};
use super::session::{HttpError, Response, Session};

/// A failure a strategy is expected to handle (returned to Lua as `nil, err`).
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the event page ({url}) answered HTTP {status}")]
    Status { url: Url, status: u16 },
    #[error("the event page ({url}) has no link to the secondhand marketplace")]
    NoLink { url: Url, response: Box<Response> },
    #[error("the event page ({url}) answered with something that is not a page we can read")]
    Unrecognised { url: Url },
}

impl MarketError {
    /// A short stable name scripts can branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            MarketError::Http(e) => e.kind(),
            // The event page answered, without a link: what it answered is data (the status),
            // never a failure kind of its own.
            MarketError::Status { .. }
            | MarketError::NoLink { .. }
            | MarketError::Unrecognised { .. } => "no_link",
        }
    }
}

/// One poll of the marketplace.
#[derive(Debug)]
pub struct Polled {
    pub response: Response,
    pub page: Page,
    /// Listings on this page not seen on any earlier poll.
    pub new_listings: usize,
}

/// One cart add.
#[derive(Debug)]
pub struct Carted {
    /// The last answer read (`None` when the cart's confirmation never arrived).
    pub response: Option<Response>,
    pub outcome: CartOutcome,
    pub checkout: Option<Checkout>,
    /// A shop's cart add: how many of the product it put in the cart, as the checkout's row for
    /// it shows (beyond what the session held before); `None` where that row can't be read.
    pub reserved: Option<u32>,
}

/// Saves unusual answers under `--log-dir`, judging "unusual" against the first empty page seen
/// for each URL (the baseline) once per-load bits are stripped. Each distinct page is saved once:
/// a banner that stays, or a listing that stays up through a dry run, does not fill the disk.
pub struct ResponseLog {
    dir: Option<PathBuf>,
    /// Per URL: every page fingerprint seen, and what that page was.
    pages: Mutex<HashMap<String, HashMap<u64, PageState>>>,
    saved: Arc<Mutex<HashSet<(u16, u64)>>>,
    /// The pages this run saved, oldest first, and their bytes: the total stays under
    /// [`SAVED_TOTAL_MAX`].
    files: Arc<Mutex<SavedFiles>>,
    pending: Mutex<tokio::task::JoinSet<()>>,
    /// URLs whose answer was over the reading budget, said once each (a watch polls on).
    over_budget: Mutex<HashSet<String>>,
}

impl ResponseLog {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            pages: Mutex::new(HashMap::new()),
            saved: Arc::new(Mutex::new(HashSet::new())),
            files: Arc::new(Mutex::new(SavedFiles::default())),
            pending: Mutex::new(tokio::task::JoinSet::new()),
            over_budget: Mutex::new(HashSet::new()),
        }
    }

    /// Says, once per URL, that its answer was not read for being over the reading budget (the
    /// poll itself logs `unrecognised answer` as for any page we can't read).
    pub fn over_budget(&self, url: &Url, why: &OverBudget) {
        let first = self
            .over_budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url.to_string());
        if first {
            crate::log::warn(format!(
                "{url}: an answer too big to read ({why}): read as unrecognised; the watch goes on"
            ));
        }
    }

    /// For a 200 page without listings: `Ok(state)` when this page was seen before at its
    /// URL, `Err(fingerprint)` when it is new (the caller parses it and calls [`Self::remember`]).
    fn known(&self, r: &Response) -> Result<PageState, u64> {
        let fp = pretix::fingerprint(&r.body);
        let map = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        map.get(r.url.as_str())
            .and_then(|m| m.get(&fp))
            .copied()
            .ok_or(fp)
    }

    /// Records a new page by its fingerprint; true when it is the first (the baseline) for its URL.
    fn remember(&self, r: &Response, fp: u64, state: PageState) -> bool {
        let mut map = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let seen = map.entry(r.url.to_string()).or_default();
        let first = seen.is_empty();
        seen.insert(fp, state);
        first
    }

    /// Writes the answer to a file of its own, once per distinct page (per-load bits stripped).
    /// All of it happens in the background and a moment later, so a listing's cart POST goes out
    /// first: the hot path pays for one clone of the answer and a task spawn.
    pub fn save(&self, r: &Response, reason: &str) {
        let Some(dir) = self.dir.clone() else { return };
        let (r, reason, saved) = (r.clone(), reason.to_string(), self.saved.clone());
        let files = self.files.clone();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        while pending.try_join_next().is_some() {}
        pending.spawn(async move {
            tokio::time::sleep(SAVE_DELAY).await;
            let _ = tokio::task::spawn_blocking(move || {
                write_response(&dir, &r, &reason, &saved, &files)
            })
            .await;
        });
    }

    /// Waits (up to `max`) for saves still under way, before the process exits.
    pub async fn flush(&self, max: Duration) {
        let mut set = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let all = async { while set.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(max, all).await;
    }
}

/// How long a save waits before it starts, so it never competes with a cart POST.
const SAVE_DELAY: Duration = Duration::from_millis(20);

/// A saved page keeps at most this much of the answer (with a note where it was cut): a pretix
/// page is well under it, and 10 s of 8 MB answers once filled 40 MB.
pub const SAVED_PAGE_MAX: usize = 1024 * 1024;
/// The pages one run saves stay under this in all: past it, the oldest are deleted first.
pub const SAVED_TOTAL_MAX: u64 = 50 * 1024 * 1024;

/// The pages saved so far, oldest first.
#[derive(Default)]
struct SavedFiles {
    files: std::collections::VecDeque<(PathBuf, u64)>,
    total: u64,
}

impl SavedFiles {
    /// Records a page just written; returns the oldest pages to delete to stay under `max`
    /// (never the one just written).
    fn add(&mut self, path: PathBuf, bytes: u64, max: u64) -> Vec<PathBuf> {
        self.files.push_back((path, bytes));
        self.total += bytes;
        let mut gone = Vec::new();
        while self.total > max && self.files.len() > 1 {
            let (p, b) = self.files.pop_front().expect("more than one");
            self.total -= b;
            gone.push(p);
        }
        gone
    }
}

fn write_response(
    dir: &std::path::Path,
    r: &Response,
    reason: &str,
    saved: &Mutex<HashSet<(u16, u64)>>,
    files: &Mutex<SavedFiles>,
) {
    let fp = pretix::fingerprint(&r.body);
    if !saved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((r.status, fp))
    {
        return;
    }
    let stem = format!(
        "{}-req{:05}-{}-{}",
        crate::clock::compact(SystemTime::now()),
        r.seq,
        r.status,
        reason
    );
    let mut text = format!(
        "<!-- pretix-race: {} {}\n     status {} ({reason})\n",
        r.method, r.url, r.status
    );
    for (k, v) in &r.headers {
        // Cookies are the user's session; the response log is not the place for them.
        let v = if k.eq_ignore_ascii_case("set-cookie") {
            "<redacted>"
        } else {
            v
        };
        text.push_str(&format!("     {k}: {}\n", v.replace("--", "- -")));
    }
    let body = &r.body[..r.body.len().min(SAVED_PAGE_MAX)];
    if body.len() < r.body.len() {
        text.push_str(&format!(
            "     (cut: the first {} of {} bytes)\n",
            body.len(),
            r.body.len()
        ));
    }
    text.push_str("-->\n");
    text.push_str(&String::from_utf8_lossy(body));
    // A new file under the first free name: never an existing file, never through a link.
    let name = |n: u32| match n {
        1 => dir.join(format!("{stem}.html")),
        n => dir.join(format!("{stem}-{n}.html")),
    };
    match super::cookies::write_private_free(name, &text) {
        Ok(path) => {
            crate::log::debug(format!("saved {}", path.display()));
            let gone = files.lock().unwrap_or_else(|e| e.into_inner()).add(
                path,
                text.len() as u64,
                SAVED_TOTAL_MAX,
            );
            for p in gone {
                let _ = std::fs::remove_file(&p);
            }
        }
        Err(e) => crate::log::warn(format!(
            "could not save response to {}: {e}",
            name(1).display()
        )),
    }
}

/// GETs the event page and follows its link to the marketplace.
pub async fn discover(session: &Session, event_url: &Url, event: &str) -> Result<Url, MarketError> {
    let r = session.get(event_url, &[]).await?;
    // Positive evidence of an event page: links, or a shop's product list.
    let readable = r.ok() && pretix::is_html(r.header("content-type")) && {
        let t = r.text();
        t.contains("<a ") || t.contains("<A ") || pretix::names_cart_add(&t)
    };
    let found = readable
        .then(|| pretix::find_marketplace_link(&r.text(), &r.url, event))
        .flatten();
    let result = match &found {
        Some(u) => format!("marketplace link: {u}"),
        None if readable => "no marketplace link".to_string(),
        None if r.ok() => "unrecognised page".to_string(),
        None => format!("HTTP {}", r.status),
    };
    r.log(&result);
    match found {
        Some(u) => {
            if let Some(events) = &session.policy().events {
                events.found(u.as_str());
            }
            Ok(u)
        }
        None if !r.ok() => Err(MarketError::Status {
            url: r.url,
            status: r.status,
        }),
        None if !readable => Err(MarketError::Unrecognised { url: r.url }),
        None => Err(MarketError::NoLink {
            url: r.url.clone(),
            response: Box::new(r),
        }),
    }
}

/// The marketplace URL with the `item` and `sort` filters.
pub fn filtered_url(market: &Url, item: Option<&str>, sort: Option<&str>) -> Url {
    let set = [("item", item), ("sort", sort)];
    let add = set
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.filter(|s| !s.is_empty())?)));
    super::web::rewrite_query(market, &["item", "sort"], add)
}

/// Polls in a row that must fail before `watcher_failing` goes out.
pub const FAILING_AFTER: u32 = 5;

/// Counts failed polls (network errors, error statuses, unrecognised answers) of one watched URL;
/// after [`FAILING_AFTER`] in a row, sends `watcher_failing` once, until a poll succeeds again.
/// Lives below the script so no strategy can leave a blocked watcher unnoticed. Returns the streak.
pub(crate) fn track_failures(session: &Session, url: &Url, failure: Option<String>) -> u32 {
    let mut key = url.clone();
    key.set_query(None);
    let (streak, alert) = session.poll_failed(key.as_str(), failure.is_some(), FAILING_AFTER);
    if let (true, Some(reason)) = (alert, failure) {
        crate::log::warn(format!(
            "{} in a row failed (last: {reason})",
            crate::log::plural(streak, "poll", "polls")
        ));
        if let Some(events) = &session.policy().events {
            let mut fields = serde_json::Map::new();
            fields.insert("failures".into(), streak.into());
            fields.insert("last_error".into(), reason.into());
            events.event(url.as_str(), "watcher_failing", fields);
        }
    }
    streak
}

/// Reads a marketplace answer: (page, why it is worth saving). Positive evidence only: a 404/410
/// or a redirect away from the marketplace on the same site is a closed marketplace; an error
/// status, a body that is not HTML, or a page we can't read is unrecognised.
fn read_answer(r: &Response, asked: &Url, log: &ResponseLog) -> (Page, Option<String>) {
    let page = |state| Page {
        listings: Vec::new(),
        state,
    };
    if matches!(r.status, 404 | 410) {
        return (
            page(PageState::Inactive),
            Some(format!("status{}", r.status)),
        );
    }
    if !r.ok() {
        return (
            page(PageState::Unrecognised),
            Some(format!("status{}", r.status)),
        );
    }
    let moved_away = r.url.path() != asked.path()
        && !pretix::in_marketplace(r.url.path())
        && Target::of(&r.url).host == Target::of(asked).host;
    if moved_away {
        return (page(PageState::Inactive), Some("redirected".into()));
    }
    if !pretix::is_html(r.header("content-type")) {
        return (page(PageState::Unrecognised), Some("unrecognised".into()));
    }
    let read = |r: &Response| {
        pretix::try_parse_page(&r.text(), &r.url).unwrap_or_else(|why| {
            log.over_budget(asked, &why);
            Page::default()
        })
    };
    if pretix::may_have_listings(&r.body) {
        let p = read(r);
        let reason = if p.listings.is_empty() {
            p.state.label()
        } else {
            "listings"
        };
        return (p, Some(reason.to_string()));
    }
    match log.known(r) {
        Ok(state) => (page(state), None),
        Err(fp) => {
            let p = read(r);
            let first = log.remember(r, fp, p.state);
            let reason = match (first, p.state) {
                (true, PageState::Open) => "baseline",
                (false, PageState::Open) => "changed",
                (_, s) => s.label(),
            };
            (p, Some(reason.to_string()))
        }
    }
}

/// GETs the marketplace once and reads its listings.
pub async fn poll(session: &Session, url: &Url, log: &ResponseLog) -> Result<Polled, HttpError> {
    let r = match session.get(url, &[]).await {
        Ok(r) => r,
        Err(e) => {
            track_failures(session, url, Some(e.to_string()));
            return Err(e);
        }
    };
    let stats = &session.net().stats;
    stats.polls.fetch_add(1, Relaxed);
    let (page, save) = read_answer(&r, url, log);
    let failure = if !r.ok() && page.state != PageState::Inactive {
        Some(format!("HTTP {}", r.status))
    } else if page.state == PageState::Unrecognised {
        Some("an unrecognised answer".to_string())
    } else {
        None
    };
    let streak = track_failures(session, url, failure);
    let new_listings = page
        .listings
        .iter()
        .filter(|l| stats.see_listing(&l.id))
        .count();
    let result = match page.state {
        _ if !r.ok() && page.state != PageState::Inactive => format!("HTTP {}", r.status),
        PageState::Inactive => "marketplace inactive".to_string(),
        PageState::Unrecognised => "unrecognised answer".to_string(),
        PageState::Open if page.listings.is_empty() => "empty".to_string(),
        PageState::Open => {
            format!(
                "{} ({new_listings} new)",
                crate::log::plural(page.listings.len() as u64, "listing", "listings")
            )
        }
    };
    if page.state == PageState::Open && page.listings.is_empty() && r.ok() {
        r.log_routine(&result);
    } else {
        r.log(&result);
    }
    // Unreadable 2xx answers over and over: a challenge or maintenance page, perhaps. Slow down
    // as for any failure (error statuses already earned their backoff in the session).
    if r.ok() && page.state == PageState::Unrecognised && streak >= FAILING_AFTER {
        let b = session.net().governor.escalate(
            &Target::of(url),
            streak + 1 - FAILING_AFTER,
            format!(
                "{} in a row",
                crate::log::plural(streak, "unrecognised answer", "unrecognised answers")
            ),
        );
        crate::log::warn(format!(
            "{}: {} in a row we can't read (a challenge or maintenance page?); waiting {:.0} s before the next request",
            Target::of(url).host,
            crate::log::plural(streak, "answer", "answers"),
            b.delay.as_secs_f64()
        ));
    }
    if let Some(reason) = save {
        log.save(&r, &reason);
    }
    Ok(Polled {
        response: r,
        page,
        new_listings,
    })
}

/// POSTs a listing's form (with its hidden fields, `Referer` and `Origin`), following redirects.
///
/// The cart is the POST's outcome: pretix answers a won listing with a redirect to the checkout
/// (the session cookie set on the way), so once the answer has reached a checkout page the ticket
/// is ours and is recorded (`Net::carts`) with the cookies of that moment. Reading the checkout
/// page only adds what it says (the deadline, the cart rows): when that read stalls or fails, the
/// cart stays recorded and the outcome is still `InCart`, the deadline unknown.
///
/// A 403 is Django's CSRF refusal (a token gone stale while the page sat there): the page is
/// fetched again at once for a fresh token and the POST retried, once.
pub async fn add_to_cart(
    session: &Session,
    listing: &Listing,
    referer: &Url,
    log: &ResponseLog,
) -> Result<Carted, HttpError> {
    let stats = &session.net().stats;
    stats.cart_attempts.fetch_add(1, Relaxed);
    let mut r = match post_listing(session, listing, referer).await {
        Ok(r) => r,
        Err(e) => return unconfirmed(session, listing, e),
    };
    if r.status == 403 {
        r.log("cart add refused (403: a stale CSRF token?); fetching a fresh one");
        log.save(&r, "cart-403");
        match fresh_listing(session, listing, referer).await {
            Some(fresh) => match post_listing(session, &fresh, referer).await {
                Ok(again) => r = again,
                Err(e) => return unconfirmed(session, listing, e),
            },
            None => crate::log::warn(format!(
                "{} is no longer on {referer} after a fresh look",
                listing.title
            )),
        }
    }
    if let Some(to) = redirect_to_checkout(&r) {
        // The POST's own answer, handed back unfollowed: its Location is the outcome. Recorded
        // before the confirmation is asked for, which only adds what the page says.
        r.log(&format!("IN CART: {} -> {to}", listing.title));
        record(session, listing, &to, None);
        let unknown = |why: String| {
            crate::log::info(format!(
                "the checkout page did not load ({why}): the cart is ours all the same, its deadline unknown"
            ));
            None
        };
        let mut checkout_url = to.clone();
        let checkout = match session.get_action(&to, &[]).await {
            Ok(c) if c.ok() => {
                let checkout = pretix::parse_checkout(&c.text());
                log.save(&c, "cart-in_cart");
                if pretix::is_checkout(&c.url) {
                    checkout_url = pretix::without_empty_query(c.url.clone());
                }
                session.net().carts.confirmed(
                    session.id(),
                    &checkout_url,
                    checkout.expires.clone(),
                );
                Some(checkout)
            }
            Ok(c) => unknown(format!("it answered {}", c.status)),
            Err(e) => unknown(e.to_string()),
        };
        return Ok(Carted {
            response: Some(r),
            outcome: CartOutcome::InCart { checkout_url },
            checkout,
            reserved: None,
        });
    }
    let outcome = pretix::classify_cart(r.status, &r.url);
    let checkout = match &outcome {
        CartOutcome::InCart { checkout_url } => {
            let checkout = pretix::parse_checkout(&r.text());
            record(session, listing, checkout_url, checkout.expires.clone());
            Some(checkout)
        }
        CartOutcome::Lost => {
            stats.races_lost.fetch_add(1, Relaxed);
            None
        }
        CartOutcome::Failed { .. } => None,
    };
    let result = match &outcome {
        CartOutcome::InCart { checkout_url } => {
            format!("IN CART: {} -> {checkout_url}", listing.title)
        }
        CartOutcome::Lost => format!("lost the race for {} ({})", listing.title, listing.id),
        CartOutcome::Failed { reason } => format!("cart add failed: {reason}"),
    };
    r.log(&result);
    log.save(&r, &format!("cart-{}", outcome.label()));
    Ok(Carted {
        response: Some(r),
        outcome,
        checkout,
        reserved: None,
    })
}

async fn post_listing(
    session: &Session,
    listing: &Listing,
    referer: &Url,
) -> Result<Response, HttpError> {
    let headers = [
        ("Referer".to_string(), referer.to_string()),
        (
            "Origin".to_string(),
            listing.action.origin().ascii_serialization(),
        ),
    ];
    // The redirect to the checkout comes back unfollowed: see `redirect_to_checkout`.
    session
        .post_form_until(&listing.action, &listing.fields, &headers, &|next: &Url| {
            pretix::own_checkout(next, &listing.action)
        })
        .await
}

/// The same listing on a fresh load of the page it was found on (a fresh CSRF token); `None`
/// when it is gone or the page cannot be had.
async fn fresh_listing(session: &Session, listing: &Listing, page: &Url) -> Option<Listing> {
    let r = session.get_action(page, &[]).await.ok()?;
    r.log("fresh page for the cart add");
    if !r.ok() {
        return None;
    }
    pretix::parse_page(&r.text(), &r.url)
        .listings
        .into_iter()
        .find(|l| l.action == listing.action)
}

/// A redirect (the answer itself, not followed) whose `Location` is a checkout page of the same
/// site: the cart is ours (`pretix::redirect_to_checkout`).
fn redirect_to_checkout(r: &Response) -> Option<Url> {
    pretix::redirect_to_checkout(r.status, &r.url, r.header("location"))
}

/// Records a secured cart (this session's cookies now) and counts it.
fn record(session: &Session, listing: &Listing, checkout_url: &Url, expires: Option<String>) {
    session.secured(checkout_url, expires, &listing.title, &listing.price_text);
}

/// A cart POST that failed on the way: when its redirect had already reached the checkout (the
/// confirmation page stalled or broke off), the ticket is in the cart all the same.
fn unconfirmed(session: &Session, listing: &Listing, e: HttpError) -> Result<Carted, HttpError> {
    let Some(checkout_url) = e
        .reached()
        .filter(|u| pretix::own_checkout(u, &listing.action))
    else {
        return Err(e);
    };
    let checkout_url = pretix::without_empty_query(checkout_url.clone());
    record(session, listing, &checkout_url, None);
    crate::log::info(format!(
        "IN CART: {} -> {checkout_url} (the checkout page did not load: {e}; the cart is ours, its deadline unknown)",
        listing.title
    ));
    Ok(Carted {
        response: None,
        outcome: CartOutcome::InCart { checkout_url },
        checkout: None,
        reserved: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfollowed_redirect_to_the_checkout_is_a_cart() {
        let answer = |status, location: &str| Response {
            seq: 1,
            method: reqwest::Method::POST,
            status,
            url: Url::parse("https://t.example/e/secondhand/buy/abc/").unwrap(),
            headers: vec![("location".into(), location.into())],
            body: Default::default(),
            ttfb: Duration::ZERO,
            ttlb: Duration::ZERO,
            waited: Duration::ZERO,
            retry_after: None,
            backoff: None,
            session_tag: "-".into(),
        };
        assert_eq!(
            redirect_to_checkout(&answer(302, "/e/checkout/start")).map(String::from),
            Some("https://t.example/e/checkout/start".to_string())
        );
        assert_eq!(
            redirect_to_checkout(&answer(302, "/e/checkout/questions/?")).map(String::from),
            Some("https://t.example/e/checkout/questions/".to_string())
        );
        assert!(redirect_to_checkout(&answer(302, "/e/secondhand/")).is_none());
        assert!(redirect_to_checkout(&answer(200, "/e/checkout/start")).is_none());
    }

    #[test]
    fn saved_pages_stay_under_the_total_oldest_deleted_first() {
        let mut f = SavedFiles::default();
        let p = |i: u32| PathBuf::from(format!("p{i}"));
        assert!(f.add(p(1), 40, 100).is_empty());
        assert!(f.add(p(2), 40, 100).is_empty());
        assert_eq!(f.add(p(3), 40, 100), vec![p(1)]);
        assert_eq!(f.add(p(4), 90, 100), vec![p(2), p(3)]);
        // One page over the total on its own is kept (it is already cut to SAVED_PAGE_MAX).
        assert_eq!(f.add(p(5), 150, 100), vec![p(4)]);
        assert_eq!(f.total, 150);
    }

    #[test]
    fn filtered_url_replaces_item_and_sort() {
        let m = Url::parse("https://t.example/event/secondhand/?sort=newest&x=1").unwrap();
        assert_eq!(
            filtered_url(&m, Some("965"), Some("price_asc")).as_str(),
            "https://t.example/event/secondhand/?x=1&item=965&sort=price_asc"
        );
        let m = Url::parse("https://t.example/event/secondhand/").unwrap();
        assert_eq!(
            filtered_url(&m, None, None).as_str(),
            "https://t.example/event/secondhand/"
        );
    }
}
