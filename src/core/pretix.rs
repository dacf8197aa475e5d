//! What we know about a pretix secondhand marketplace, as code: how to find it from the event
//! page, how to read listings off it, and what a cart add's answer means.
//!
//! Everything is found by structure, never by the site's words: the shop speaks several languages
//! and pages differ in attribute order and quoting. A listing is a POST form whose action is a
//! `/secondhand/buy/` URL; its title and price come from the panel around it. No other form is
//! ever considered, so no other form can be POSTed.
//!
//! The hot path (poll answer -> listings) first asks a cheap byte question (is there any
//! `/secondhand/buy/` at all?) and only builds a DOM when the answer is yes: empty pages, which are
//! nearly all of them, cost a `memmem` and a fingerprint.
//!
//! Every DOM is built through [`super::budget`]: a page over its budget (size, nesting, tags) is
//! read as nothing (`unrecognised`, no listings), in the time of one linear pass.

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::budget::{self, OverBudget};

// Names and URL shapes: pretix's own (`pretix/presale/urls.py`, its cookies), each written here
// once. Every other module asks these; none spells a pretix path or cookie itself. (The simulator
// writes its own: it stands in for pretix, so our knowledge is checked against it, not shared.)

/// The marker every listing's form action carries.
pub const BUY_MARKER: &str = "/secondhand/buy/";
/// The marketplace's path segment under an event (`{event}/secondhand/`).
const MARKETPLACE: &str = "secondhand";
/// A shop's add-to-cart form action, under an event.
const CART_ADD: &str = "cart/add";
/// A checkout page's path segment; `checkout/start` forwards to the first step with the cart.
const CHECKOUT: &str = "/checkout/";
const CHECKOUT_START: &str = "checkout/start";
/// A voucher's page under an event (`redeem?voucher=CODE`).
const REDEEM: &str = "redeem";
/// The query parameter of pretix's waiting page for a cart add still running in the background.
const WAITING: &str = "async_id";
/// How the marketplace sorts its listings (its `?sort=` values): the one list `--sort` and
/// `race.market.url`'s `sort` both take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    PriceAsc,
    PriceDesc,
    Newest,
    Oldest,
}

impl Sort {
    /// Every sort, in the order the help lists them.
    pub const ALL: [Sort; 4] = [Sort::PriceAsc, Sort::PriceDesc, Sort::Newest, Sort::Oldest];

    /// As pretix spells it in the query.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
        }
    }

    /// The sort pretix spells `s`.
    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Every sort as pretix spells it.
    pub fn names() -> [&'static str; 4] {
        Sort::ALL.map(Sort::as_str)
    }
}

/// The cookies that carry a visitor's session, most telling first: pretix's own (`__Host-` over
/// HTTPS), then a queueing proxy's in front of it.
pub const SESSION_COOKIES: [&str; 3] = ["__Host-pretix_session", "pretix_session", "__QXSESSION"];

/// The pages of pretix's own below an event or organiser page (`pretix/presale/urls.py`), never
/// a date or an event.
pub const ROUTES: [&str; 21] = [
    "cart",
    "checkout",
    "redeem",
    "resend",
    "widget",
    "waitinglist",
    "order",
    "account",
    "events",
    "seatingframe",
    "unlock",
    "ical",
    "auth",
    "locale",
    "accessibility",
    "oauth",
    "ticket",
    "timemachine",
    "theme",
    "favicon",
    "robots",
];

/// Whether `url` is a pretix checkout page, as pretix links one (where a secured cart is
/// finished).
pub fn is_checkout(url: &Url) -> bool {
    url.path().contains(CHECKOUT)
}

/// Whether a server would route `url` to a checkout page, however it is spelt (see
/// [`routed_path`]): no POST ever goes there.
pub fn routes_to_checkout(url: &Url) -> bool {
    routed_path(url).contains(CHECKOUT)
}

/// Whether a POST to `url` could put a ticket in a cart (a marketplace buy URL, a shop's
/// `cart/add`), however it is spelt: a dry run refuses these on any host.
pub fn could_fill_a_cart(url: &Url) -> bool {
    let path = routed_path(url);
    path.contains(BUY_MARKER) || path.contains(&format!("/{CART_ADD}"))
}

/// Whether `url` is a shop's add-to-cart form action (`…/{event}/cart/add`).
pub fn is_cart_add(url: &Url) -> bool {
    url.path()
        .trim_end_matches('/')
        .ends_with(&format!("/{CART_ADD}"))
}

/// The event page a `…/{event}/cart/add` form action belongs to (`…/{event}/`).
pub fn event_of_cart_add(action: &Url) -> Url {
    let mut u = action.clone();
    u.set_query(None);
    let path = u.path().trim_end_matches('/');
    let event = path.strip_suffix(CART_ADD).unwrap_or(path).to_string();
    u.set_path(&event);
    u
}

/// Whether `url` is a page of the event at `event` (same origin, under its path).
pub fn same_event(url: &Url, event: &Url) -> bool {
    let event_path = event.path().trim_end_matches('/');
    let path = url.path();
    // `/org/day1/…`, not `/org/day10/`: the event's path ends at a segment boundary.
    url.origin() == event.origin()
        && path.starts_with(event_path)
        && matches!(path.as_bytes().get(event_path.len()), None | Some(b'/'))
}

/// Where an event's cart is shown: `{event}/checkout/start`.
pub fn checkout_start(event: &Url) -> Url {
    event.join(CHECKOUT_START).unwrap_or_else(|_| event.clone())
}

/// pretix's redeem page for a voucher: `{event}/redeem?voucher=CODE`. It lists the products the
/// voucher unlocks in the same `cart/add` form as the event page, with a hidden
/// `_voucher_code`, so its products are read and added like the event page's.
pub fn voucher_url(event: &Url, code: &str) -> Url {
    let mut u = event.clone();
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    let mut u = u.join(REDEEM).unwrap_or(u);
    u.query_pairs_mut().clear().append_pair("voucher", code);
    u
}

/// Whether an answer is pretix's waiting page for a cart add still running in the background
/// (`?async_id=…` in its URL).
pub fn is_waiting(url: &Url) -> bool {
    url.query_pairs().any(|(k, _)| k == WAITING)
}

/// Whether a page's text names a shop's `cart/add` (an event page with products on it).
pub fn names_cart_add(text: &str) -> bool {
    text.contains(&format!("/{CART_ADD}"))
}

/// Whether a path is on (or below) a marketplace.
pub fn in_marketplace(path: &str) -> bool {
    path.contains(&format!("/{MARKETPLACE}"))
}

/// The part of a marketplace URL before its `secondhand/` (the event's URL), if it is one.
pub fn event_part_of_marketplace(market: &str) -> Option<&str> {
    market
        .find(&format!("{MARKETPLACE}/"))
        .map(|i| &market[..i])
}

/// The session cookie's value among `(name, value)` pairs, by [`SESSION_COOKIES`]' order.
pub fn session_cookie<'a>(cookies: &[(&str, &'a str)]) -> Option<&'a str> {
    SESSION_COOKIES
        .iter()
        .find_map(|name| cookies.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
}

/// A redirect (the answer itself, not followed) from `posted` to `location` that ends on a
/// checkout page of the same site: pretix's answer to a won listing, the cart is ours.
pub fn redirect_to_checkout(status: u16, posted: &Url, location: Option<&str>) -> Option<Url> {
    if !(300..400).contains(&status) {
        return None;
    }
    let to = without_empty_query(posted.join(location?).ok()?);
    own_checkout(&to, posted).then_some(to)
}

/// A checkout page on the site the cart POST went to: pretix sends a won cart on to its own
/// checkout. One on another site is no cart of ours (and its URL is never handed to a person).
pub fn own_checkout(to: &Url, posted: &Url) -> bool {
    is_checkout(to) && to.origin() == posted.origin()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// The listing id, the last path segment of the buy URL.
    pub id: String,
    /// The ticket type as the panel titles it ("Ticket – Type A").
    pub title: String,
    /// The price as a number, when the panel shows one we can read.
    pub price: Option<f64>,
    /// The price as shown ("190.00 EUR").
    pub price_text: String,
    /// The currency code or symbol next to the price, if any.
    pub currency: String,
    /// The absolute buy URL (the form's action).
    pub action: Url,
    /// The form's hidden fields, in document order (CSRF token among them).
    pub fields: Vec<(String, String)>,
    /// 1-based position on the page (the site's sort order).
    pub position: usize,
}

/// What a marketplace answer is, recognised by positive evidence only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PageState {
    /// An open marketplace: its filter form or a listing is there.
    Open,
    /// pretix says the marketplace is off: its error page (the `#error-message` alert without the
    /// filter form), a 404/410, or a redirect away from the marketplace on the same site.
    Inactive,
    /// Anything else: garbage, a page cut off, a CDN, challenge or maintenance page, an unknown
    /// theme, an error status. Never a decision: the watch goes on.
    #[default]
    Unrecognised,
}

impl PageState {
    pub fn label(self) -> &'static str {
        match self {
            PageState::Open => "open",
            PageState::Inactive => "inactive",
            PageState::Unrecognised => "unrecognised",
        }
    }
}

/// What one marketplace page says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub listings: Vec<Listing>,
    pub state: PageState,
}

/// The result of POSTing a listing's form.
#[derive(Clone, Debug, PartialEq)]
pub enum CartOutcome {
    /// Landed on a checkout page: the ticket is ours for a few minutes.
    InCart { checkout_url: Url },
    /// Sent back to the marketplace: someone else was faster.
    Lost,
    /// Anything else.
    Failed { reason: String },
}

impl CartOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            CartOutcome::InCart { .. } => "in_cart",
            CartOutcome::Lost => "lost",
            CartOutcome::Failed { .. } => "failed",
        }
    }
}

/// What the checkout page tells a person: when the reservation ends and what is in the cart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkout {
    pub expires: Option<String>,
    pub items: Vec<String>,
    /// How many of each article the cart holds, by pretix's row id (see [`article`]).
    pub positions: Vec<(String, u32)>,
}

impl Checkout {
    /// How many of `article` the cart holds; `None` when no row of it is shown.
    pub fn count_of(&self, article: &str) -> Option<u32> {
        let mut rows = self.positions.iter().filter(|(a, _)| a == article);
        let first = rows.next()?.1;
        Some(first + rows.map(|(_, n)| n).sum::<u32>())
    }
}

/// pretix's id for a cart row of a product (`data-article-id`): `item-<id>`, or
/// `item-<id>-<variation>` for one variation.
pub fn article(item: &str, variation: Option<&str>) -> String {
    match variation {
        Some(v) => format!("item-{item}-{v}"),
        None => format!("item-{item}"),
    }
}

/// The cart's rows on any page that shows the cart panel (the event page after a cart add, the
/// checkout): each row's article and count. A row's count cell holds its number, or nothing
/// (pretix leaves a single position's count blank).
fn cart_positions(doc: &scraper::Html) -> Vec<(String, u32)> {
    doc.select(&ARTICLE_ROWS)
        .filter_map(|row| {
            let article = row.attr("data-article-id")?.to_string();
            let count = row
                .select(&COUNT_CELL)
                .next()
                .and_then(|c| {
                    c.text()
                        .flat_map(|t| t.split(|ch: char| !ch.is_ascii_digit()))
                        .find(|d| !d.is_empty())
                        .and_then(|d| d.parse().ok())
                })
                .unwrap_or(1);
            Some((article, count))
        })
        .collect()
}

/// How many of `article` the cart panel on `body` shows (0 when none, or the page can't be read).
pub fn cart_count(body: &str, article: &str) -> u32 {
    let Ok(doc) = budget::parse_document(body) else {
        return 0;
    };
    cart_positions(&doc)
        .iter()
        .filter(|(a, _)| a == article)
        .map(|(_, n)| n)
        .sum()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

static FORMS: LazyLock<Selector> = LazyLock::new(|| sel("form[action]"));
static HIDDEN: LazyLock<Selector> = LazyLock::new(|| sel("input[name]"));
static LINKS: LazyLock<Selector> = LazyLock::new(|| sel("a[href]"));
static FILTER: LazyLock<Selector> = LazyLock::new(|| sel("select[name=sort], select[name=item]"));
static ERROR_ALERT: LazyLock<Selector> = LazyLock::new(|| sel("#error-message"));
static TITLE: LazyLock<Selector> = LazyLock::new(|| sel(".panel-title"));
static PRICE: LazyLock<Selector> = LazyLock::new(|| sel(".text-primary, .price"));
static HEADINGS: LazyLock<Selector> = LazyLock::new(|| sel("h1, h2, h3, h4, h5"));
static EXPIRES: LazyLock<Selector> = LazyLock::new(|| sel("[data-expires]"));
static ARTICLE_ROWS: LazyLock<Selector> = LazyLock::new(|| sel(".cart-row[data-article-id]"));
static COUNT_CELL: LazyLock<Selector> = LazyLock::new(|| sel(".count"));
static CART_ROWS: LazyLock<Selector> =
    LazyLock::new(|| sel(".cart-row[data-article-id] .product, .cart-row:not(.total) .product"));

/// Parses a small listing page once, so the first real one is not also the first parse of the
/// process (selectors compiled, code and allocator warm). Called at start-up, off the hot path.
pub fn warm_up() {
    const PAGE: &str = r#"<html><body><main><select name="sort"></select><div class="panel panel-default">
        <h3 class="panel-title">Warm-up</h3><h2 class="text-primary">1.00 EUR</h2>
        <form method="post" action="/e/secondhand/buy/warm/"><input type="hidden" name="t" value="v"></form>
        </div></main></body></html>"#;
    let base = Url::parse("https://warm.invalid/e/secondhand/").expect("static URL");
    let page = parse_page(PAGE, &base);
    debug_assert_eq!(page.listings.len(), 1);
    debug_assert_eq!(page.state, PageState::Open);
    let _ = (
        fingerprint(PAGE.as_bytes()),
        parse_checkout(PAGE),
        classify_cart(200, &base),
    );
}

/// Cheap pre-check: could this body hold any listing at all? Every buy form's action, absolute or
/// relative, contains `buy/`; a page without it has no listing.
pub fn may_have_listings(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"buy/").is_some()
}

/// Reads a marketplace page. `base` is the URL the page was fetched from (relative actions resolve
/// against it). A page over the reading budget is `unrecognised`.
pub fn parse_page(body: &str, base: &Url) -> Page {
    try_parse_page(body, base).unwrap_or_default()
}

/// [`parse_page`], saying why a page over the reading budget was not read.
pub fn try_parse_page(body: &str, base: &Url) -> Result<Page, OverBudget> {
    let doc = parse_content(body)?;
    let listings = if may_have_listings(body.as_bytes()) {
        listings_in(&doc, base)
    } else {
        Vec::new()
    };
    let state = page_state(&doc, !listings.is_empty());
    Ok(Page { listings, state })
}

fn page_state(doc: &Html, has_listings: bool) -> PageState {
    if has_listings || doc.select(&FILTER).next().is_some() {
        PageState::Open
    } else if doc.select(&ERROR_ALERT).next().is_some() {
        PageState::Inactive
    } else {
        PageState::Unrecognised
    }
}

/// Whether a page is pretix's own: its base template marks `<body>` with the shop's clock and
/// locale (`data-now`, `data-datetimeformat`), on every theme; a proxy's maintenance page, a
/// CDN's challenge or an error page has neither. Positive evidence for a page without products.
pub fn is_pretix_page(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"data-now=\"").is_some()
        && memchr::memmem::find(body, b"data-locale=\"").is_some()
}

/// Whether a `Content-Type` can hold a page (absent counts: some servers omit it).
pub fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|c| {
        let c = c.trim().to_ascii_lowercase();
        c.is_empty() || c.starts_with("text/html") || c.starts_with("application/xhtml")
    })
}

/// Listings only; for callers that hold an arbitrary body (none from a page over budget).
pub fn parse_listings(body: &str, base: &Url) -> Vec<Listing> {
    if !may_have_listings(body.as_bytes()) {
        return Vec::new();
    }
    parse_content(body).map_or_else(|_| Vec::new(), |doc| listings_in(&doc, base))
}

/// Position of `needle` (lower-case ASCII) in `hay`, ignoring ASCII case; the last one if `last`.
fn find_ci(hay: &[u8], needle: &[u8], last: bool) -> Option<usize> {
    let matches = |i: usize| {
        hay[i..].len() >= needle.len() && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    };
    if last {
        memchr::memrchr_iter(needle[0], hay).find(|&i| matches(i))
    } else {
        memchr::memchr_iter(needle[0], hay).find(|&i| matches(i))
    }
}

/// The DOM of the page's `<main>` when it holds everything we read (a pretix page keeps its
/// head, header, footer and dialogs, most of its bytes, outside it), else of the whole page.
/// Building the DOM is nearly all the parse's cost, so the hot path builds the smaller one.
fn parse_content(body: &str) -> Result<Html, OverBudget> {
    let b = body.as_bytes();
    let region = find_ci(b, b"<main", false).and_then(|start| {
        let end = find_ci(b, b"</main>", true)? + "</main>".len();
        let outside_has_forms = may_have_listings(&b[..start]) || may_have_listings(&b[end..]);
        (start < end && !outside_has_forms).then(|| &body[start..end])
    });
    match region {
        Some(main) => budget::parse_fragment(main),
        None => budget::parse_document(body),
    }
}

fn listings_in(doc: &Html, base: &Url) -> Vec<Listing> {
    let mut out = Vec::new();
    for form in doc.select(&FORMS) {
        let method = form.attr("method").unwrap_or("get");
        if !method.trim().eq_ignore_ascii_case("post") {
            continue;
        }
        let Some(action) = form.attr("action").and_then(|a| base.join(a.trim()).ok()) else {
            continue;
        };
        if !action.path().contains(BUY_MARKER) {
            continue;
        }
        let id = action
            .path_segments()
            .and_then(|mut s| s.rfind(|p| !p.is_empty()))
            .unwrap_or_default()
            .to_string();
        if id.is_empty() || id == "buy" {
            continue;
        }
        let fields = form
            .select(&HIDDEN)
            .filter(|i| {
                i.attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("hidden"))
            })
            .filter_map(|i| {
                Some((
                    i.attr("name")?.to_string(),
                    i.attr("value").unwrap_or("").to_string(),
                ))
            })
            .collect();
        let (title, price_text) = panel_texts(form);
        let (price, currency) = parse_price(&price_text);
        out.push(Listing {
            id,
            title,
            price,
            price_text,
            currency,
            action,
            fields,
            position: out.len() + 1,
        });
    }
    out
}

/// An element's text with its whitespace folded to single spaces.
pub fn squash(el: ElementRef) -> String {
    el.text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Title and price text of the listing around `form`: walking up from the form, the nearest
/// price (`.text-primary`/`.price`) and the nearest title (`.panel-title`, else a heading that is
/// not the price), never leaving the part of the page that holds only this one buy form.
fn panel_texts(form: ElementRef) -> (String, String) {
    let (mut title, mut price) = (None::<String>, None::<String>);
    for node in form.ancestors() {
        let Some(el) = ElementRef::wrap(node) else {
            continue;
        };
        let buy_forms = el
            .select(&FORMS)
            .filter(|f| f.attr("action").is_some_and(|a| a.contains(BUY_MARKER)))
            .count();
        if buy_forms > 1 {
            break;
        }
        if price.is_none() {
            price = el.select(&PRICE).next().map(squash);
        }
        title = el.select(&TITLE).next().map(squash).or_else(|| {
            el.select(&HEADINGS)
                .map(squash)
                .find(|t| !t.is_empty() && Some(t) != price.as_ref())
        });
        if title.is_some() {
            break;
        }
    }
    (title.unwrap_or_default(), price.unwrap_or_default())
}

/// "190.00 EUR", "190,00 €", "EUR 1.234,50", "€1,234.50" -> (number, currency).
pub fn parse_price(text: &str) -> (Option<f64>, String) {
    let start = text.find(|c: char| c.is_ascii_digit());
    let Some(start) = start else {
        return (None, text.trim().to_string());
    };
    let numeric: String = text[start..]
        .chars()
        .take_while(|c| {
            c.is_ascii_digit() || matches!(c, '.' | ',' | '\'' | ' ' | '\u{a0}' | '\u{202f}')
        })
        .collect();
    let rest = &text[start + numeric.len()..];
    let currency = format!("{} {}", &text[..start], rest)
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| matches!(c, '-' | '–' | '—' | '.' | ',')))
        .collect::<Vec<_>>()
        .join(" ");
    let numeric = numeric.trim_end();
    // The decimal separator is the last '.' or ',' followed by exactly one or two digits.
    let digits_after = |i: usize| {
        numeric[i + 1..]
            .chars()
            .filter(char::is_ascii_digit)
            .count()
    };
    let dec = numeric.rfind(['.', ',']).filter(|&i| {
        (1..=2).contains(&digits_after(i)) && numeric[i + 1..].chars().all(|c| c.is_ascii_digit())
    });
    let mut plain = String::new();
    for (i, c) in numeric.char_indices() {
        if c.is_ascii_digit() {
            plain.push(c);
        } else if Some(i) == dec {
            plain.push('.');
        }
    }
    (plain.parse().ok(), currency)
}

/// Finds the marketplace link on an event page: an `<a href>` whose path ends in `/secondhand/`
/// (absolute or relative). Prefers a link under the event's own path. None on a page over budget.
pub fn find_marketplace_link(body: &str, base: &Url, event: &str) -> Option<Url> {
    let doc = budget::parse_document(body).ok()?;
    let candidates: Vec<Url> = doc
        .select(&LINKS)
        .filter_map(|a| base.join(a.attr("href")?.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| {
            let p = u.path().trim_end_matches('/');
            p.ends_with(&format!("/{MARKETPLACE}"))
        })
        .collect();
    let own = format!("/{}/{MARKETPLACE}", event.trim_matches('/'));
    candidates
        .iter()
        .find(|u| u.path().trim_end_matches('/').ends_with(&own) && u.host_str() == base.host_str())
        .or_else(|| candidates.first())
        .cloned()
}

/// A URL's path as a server will route it: percent-decoded (`%63heckout`, `checkout%2Fconfirm`),
/// in lower case (`/CHECKOUT/`), runs of `/` folded. The rules that refuse a POST by its path (a
/// checkout page, a buy or cart-add URL) read this, so no spelling walks around them.
pub fn routed_path(url: &Url) -> String {
    let decoded = percent_encoding::percent_decode_str(url.path())
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// `…/questions/?` as `…/questions/`: pretix redirects there, and an empty query says nothing
/// (a printed URL with a trailing `?` looks broken).
pub fn without_empty_query(mut url: Url) -> Url {
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// Classifies a cart add by where it ended up. Success only on a `/checkout/` page.
pub fn classify_cart(status: u16, final_url: &Url) -> CartOutcome {
    let path = final_url.path();
    if is_checkout(final_url) && (200..300).contains(&status) {
        CartOutcome::InCart {
            checkout_url: without_empty_query(final_url.clone()),
        }
    } else if in_marketplace(path) && !path.contains(BUY_MARKER) && status < 400 {
        CartOutcome::Lost
    } else {
        CartOutcome::Failed {
            reason: format!("HTTP {status} at {final_url}"),
        }
    }
}

/// Reads the reservation deadline and cart rows off a checkout page (nothing off one over budget).
pub fn parse_checkout(body: &str) -> Checkout {
    let Ok(doc) = budget::parse_document(body) else {
        return Checkout::default();
    };
    let expires = doc
        .select(&EXPIRES)
        .find_map(|e| e.attr("data-expires").map(str::to_string));
    let mut items: Vec<String> = doc.select(&CART_ROWS).map(squash).collect();
    items.dedup();
    let positions = cart_positions(&doc);
    Checkout {
        expires,
        items,
        positions,
    }
}

/// A fingerprint of a page with its per-load bits (`data-now`, CSRF values, `?version=`) removed,
/// so two empty marketplace pages compare equal and anything else stands out.
///
/// This runs on every poll, over the whole body (a live page is ~14 KB), so it is one pass: each
/// marker's next position is searched once and kept until the scan passes it, the searchers are
/// built once, and the hash is a word-at-a-time multiply-mix (the body's owner is the site we
/// poll; nothing here needs a keyed hash, and SipHash cost several µs a page).
pub fn fingerprint(body: &[u8]) -> u64 {
    use memchr::memmem::Finder;
    // Each marker is followed by a value that runs to the next '"' or '\''.
    static MARKERS: LazyLock<[Finder<'static>; 4]> = LazyLock::new(|| {
        [
            Finder::new(b"data-now="),
            Finder::new(b"csrfmiddlewaretoken\" value="),
            Finder::new(b"?version="),
            Finder::new(b"data-expires="),
        ]
    });
    let markers = &*MARKERS;
    // Where each marker next occurs at or after `at` (None: nowhere further).
    let find = |i: usize, at: usize| markers[i].find(&body[at..]).map(|p| p + at);
    let mut next: [Option<usize>; 4] = std::array::from_fn(|i| find(i, 0));
    let mut h = FastHash::default();
    let mut at = 0;
    loop {
        let Some((m, i)) = (0..4)
            .filter_map(|m| next[m].map(|i| (m, i)))
            .min_by_key(|&(_, i)| i)
        else {
            h.write(&body[at..]);
            break;
        };
        let len = markers[m].needle().len();
        h.write(&body[at..i + len]);
        let after = &body[i + len..];
        // Skip an opening quote, then the value.
        let skip = usize::from(after.first().is_some_and(|c| *c == b'"' || *c == b'\''));
        let end = memchr::memchr2(b'"', b'\'', &after[skip..]).map_or(after.len(), |p| p + skip);
        at = i + len + end;
        // Markers passed over (inside the skipped value, or this one) are searched again.
        for (k, n) in next.iter_mut().enumerate() {
            if n.is_some_and(|p| p < at || k == m) {
                *n = find(k, at);
            }
        }
    }
    h.finish()
}

/// A fast 64-bit hash of a byte stream, for [`fingerprint`]: eight bytes at a time, each word
/// mixed by a multiply and a fold, in four independent lanes (so the multiplies overlap) joined
/// at the end of each segment. Segment lengths are hashed too, so moving bytes from one segment
/// to the next changes the result.
#[derive(Default)]
struct FastHash(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(h: u64, w: u64) -> u64 {
    let x = (h ^ w).wrapping_mul(K);
    x ^ (x >> 29)
}

fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

impl FastHash {
    fn write(&mut self, bytes: &[u8]) {
        let mut lanes = [self.0, self.0 ^ 1, self.0 ^ 2, self.0 ^ 3];
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(8)) {
                *lane = mix(*lane, word(w));
            }
        }
        let mut h = lanes.iter().fold(bytes.len() as u64, |h, l| mix(h, *l));
        for w in blocks.remainder().chunks(8) {
            h = mix(h, word(w));
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        mix(self.0, K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pretix_page_is_told_by_its_body_marks_however_laid_out() {
        assert!(is_pretix_page(
            b"<body class=\"nojs\"\n      data-locale=\"en\"\n      data-now=\"1795572718.5\">"
        ));
        assert!(!is_pretix_page(
            b"<html><body><main class=\"maintenance\"><h1>We'll be right back</h1></main></body></html>"
        ));
        assert!(!is_pretix_page(b"<body data-locale=\"en\">"));
    }

    #[test]
    fn same_event_ends_at_a_segment() {
        let ev = Url::parse("https://t.example/org/day1/").unwrap();
        let at = |p: &str| same_event(&Url::parse(&format!("https://t.example{p}")).unwrap(), &ev);
        assert!(at("/org/day1/") && at("/org/day1") && at("/org/day1/?x=1"));
        assert!(!at("/org/day10/") && !at("/org/"));
        assert!(!same_event(
            &Url::parse("https://other.example/org/day1/").unwrap(),
            &ev
        ));
    }

    #[test]
    fn url_shapes() {
        let u = |s: &str| Url::parse(s).unwrap();
        // A checkout as pretix links one, and every spelling a server routes to one.
        assert!(is_checkout(&u("https://t.example/e/checkout/questions/")));
        assert!(!is_checkout(&u(
            "https://t.example/e/%63heckout/questions/"
        )));
        assert!(routes_to_checkout(&u(
            "https://t.example/e/%63heckout/questions/"
        )));
        assert!(routes_to_checkout(&u(
            "https://t.example/e//CHECKOUT//confirm/"
        )));
        assert!(!routes_to_checkout(&u("https://t.example/e/secondhand/")));
        // What a dry run refuses to POST, on any host.
        assert!(could_fill_a_cart(&u(
            "https://x.example/e/secondhand/%62uy/abc/"
        )));
        assert!(could_fill_a_cart(&u("https://x.example/e/cart/add")));
        assert!(!could_fill_a_cart(&u("https://x.example/e/secondhand/")));
        // A shop's form, its event, its cart and a voucher's page.
        let add = u("https://s.example/org/con/cart/add?next=/org/con/");
        assert!(is_cart_add(&add));
        assert!(!is_cart_add(&u("https://s.example/org/con/cart/remove")));
        let event = event_of_cart_add(&add);
        assert_eq!(event.as_str(), "https://s.example/org/con/");
        assert_eq!(
            checkout_start(&event).as_str(),
            "https://s.example/org/con/checkout/start"
        );
        assert_eq!(
            voucher_url(&u("http://127.0.0.1:8000/demo/con"), "A B&C").as_str(),
            "http://127.0.0.1:8000/demo/con/redeem?voucher=A+B%26C"
        );
        assert!(is_waiting(&u("https://s.example/o/e/?async_id=abc-1")));
        assert!(!is_waiting(&u(
            "https://s.example/o/e/?require_cookie=true"
        )));
        // The marketplace, and the event it belongs to.
        assert!(in_marketplace("/e/secondhand/"));
        assert!(!in_marketplace("/e/checkout/start"));
        assert_eq!(
            event_part_of_marketplace("https://t.example/e/secondhand/?item=3"),
            Some("https://t.example/e/")
        );
        assert_eq!(event_part_of_marketplace("https://t.example/e/"), None);
    }

    #[test]
    fn the_session_cookie_by_name_order() {
        let jar = [
            ("__QXSESSION", "proxy"),
            ("pretix_session", "plain"),
            ("pretix_csrftoken", "t"),
        ];
        assert_eq!(session_cookie(&jar), Some("plain"));
        assert_eq!(session_cookie(&jar[..1]), Some("proxy"));
        assert_eq!(session_cookie(&jar[2..]), None);
        let host = [
            ("pretix_session", "plain"),
            ("__Host-pretix_session", "host"),
        ];
        assert_eq!(session_cookie(&host), Some("host"));
    }

    #[test]
    fn a_redirect_to_the_same_sites_checkout_is_a_won_cart() {
        let posted = Url::parse("https://t.example/e/secondhand/buy/abc/").unwrap();
        assert_eq!(
            redirect_to_checkout(302, &posted, Some("/e/checkout/questions/?")).map(String::from),
            Some("https://t.example/e/checkout/questions/".to_string())
        );
        assert!(
            redirect_to_checkout(302, &posted, Some("https://evil.example/e/checkout/")).is_none()
        );
        assert!(redirect_to_checkout(302, &posted, None).is_none());
        assert!(redirect_to_checkout(200, &posted, Some("/e/checkout/start")).is_none());
    }

    fn base() -> Url {
        Url::parse("https://tickets.example.com/event/secondhand/?sort=price_asc").unwrap()
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reads_an_english_listing_page() {
        let page = parse_page(&fixture("marketplace_two_listings_en.html"), &base());
        assert_eq!(page.state, PageState::Open);
        assert_eq!(page.listings.len(), 2);
        let l = &page.listings[0];
        assert_eq!(l.id, "k3v9q2m8x1z7w4b6");
        assert_eq!(l.title, "Ticket – Type A");
        assert_eq!(l.price, Some(190.0));
        assert_eq!(l.currency, "EUR");
        assert_eq!(l.price_text, "190.00 EUR");
        assert_eq!(
            l.action.as_str(),
            "https://tickets.example.com/event/secondhand/buy/k3v9q2m8x1z7w4b6/"
        );
        assert_eq!(
            l.fields,
            vec![("csrfmiddlewaretoken".to_string(), "tok-A-1".to_string())]
        );
        assert_eq!(l.position, 1);
        assert_eq!(page.listings[1].title, "Up-and-coming Ticket");
        assert_eq!(page.listings[1].price, Some(1234.5));
        assert_eq!(page.listings[1].position, 2);
    }

    #[test]
    fn reads_a_german_page_with_other_attribute_order_and_relative_actions() {
        let page = parse_page(&fixture("marketplace_de_relative.html"), &base());
        assert_eq!(page.listings.len(), 1);
        let l = &page.listings[0];
        assert_eq!(l.id, "a1b2c3");
        assert_eq!(l.title, "Ticket – Ermäßigt");
        assert_eq!(l.price, Some(89.5));
        assert_eq!(l.currency, "€");
        assert_eq!(
            l.action.as_str(),
            "https://tickets.example.com/event/secondhand/buy/a1b2c3/"
        );
        // Two hidden fields, kept in order; the visible one is not a field.
        assert_eq!(l.fields.len(), 2);
        assert_eq!(l.fields[1], ("extra".to_string(), "1".to_string()));
    }

    #[test]
    fn ignores_every_form_that_is_not_a_buy_form() {
        let page = parse_page(&fixture("marketplace_decoys.html"), &base());
        let ids: Vec<_> = page.listings.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["real1"]);
    }

    #[test]
    fn empty_and_inactive_pages() {
        let empty = parse_page(&fixture("marketplace_empty_en.html"), &base());
        assert_eq!(
            empty,
            Page {
                listings: vec![],
                state: PageState::Open
            }
        );
        let inactive = parse_page(&fixture("marketplace_inactive.html"), &base());
        assert_eq!(
            inactive,
            Page {
                listings: vec![],
                state: PageState::Inactive
            }
        );
        assert!(!may_have_listings(
            fixture("marketplace_empty_en.html").as_bytes()
        ));
    }

    #[test]
    fn page_states_are_recognised_by_positive_evidence_only() {
        let state = |f: &str| parse_page(&fixture(f), &base()).state;
        assert_eq!(state("marketplace_inactive_de.html"), PageState::Inactive);
        for f in [
            "marketplace_maintenance.html",
            "marketplace_challenge.html",
            "marketplace_cut.html",
        ] {
            assert_eq!(state(f), PageState::Unrecognised, "{f}");
            assert!(parse_page(&fixture(f), &base()).listings.is_empty(), "{f}");
        }
        let themed = parse_page(&fixture("marketplace_theme_without_filter.html"), &base());
        assert_eq!(themed.state, PageState::Open);
        assert_eq!(themed.listings[0].id, "nl4k2p");
        assert_eq!(themed.listings[0].price, Some(75.0));
        // Garbage of every kind: never a panic, never a decision.
        let mut junk: Vec<Vec<u8>> = vec![
            vec![],
            b"\x00\xff\xfe binary".to_vec(),
            b"<html><body".to_vec(),
            b"{\"error\": \"bad gateway\"}".to_vec(),
            b"<form method=post action=/secondhand/buy/".to_vec(),
        ];
        let mut x: u32 = 7;
        junk.push(
            (0..5000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect(),
        );
        for j in junk {
            let text = String::from_utf8_lossy(&j);
            assert_eq!(parse_page(&text, &base()).state, PageState::Unrecognised);
            fingerprint(&j);
        }
        assert!(is_html(Some("text/html; charset=utf-8")) && is_html(None));
        assert!(!is_html(Some("application/octet-stream")) && !is_html(Some("application/json")));
    }

    #[test]
    fn finds_the_marketplace_link_absolute_or_relative() {
        let ev = Url::parse("https://tickets.example.com/event/").unwrap();
        let abs = find_marketplace_link(&fixture("event_with_marketplace.html"), &ev, "event");
        assert_eq!(
            abs.unwrap().as_str(),
            "https://tickets.example.com/event/secondhand/"
        );
        let rel = find_marketplace_link(&fixture("event_relative_link_de.html"), &ev, "event");
        assert_eq!(
            rel.unwrap().as_str(),
            "https://tickets.example.com/event/secondhand/"
        );
        assert_eq!(
            find_marketplace_link(&fixture("event_without_marketplace.html"), &ev, "event"),
            None
        );
    }

    #[test]
    fn classifies_cart_answers_by_final_url() {
        let u = |s| Url::parse(s).unwrap();
        assert_eq!(
            classify_cart(200, &u("https://t.example/event/checkout/questions/?")),
            CartOutcome::InCart {
                checkout_url: u("https://t.example/event/checkout/questions/")
            },
            "no trailing `?` on the checkout URL"
        );
        assert_eq!(
            classify_cart(200, &u("https://t.example/event/secondhand/")),
            CartOutcome::Lost
        );
        assert!(matches!(
            classify_cart(403, &u("https://t.example/event/secondhand/buy/x/")),
            CartOutcome::Failed { .. }
        ));
        assert!(matches!(
            classify_cart(200, &u("https://t.example/event/")),
            CartOutcome::Failed { .. }
        ));
    }

    #[test]
    fn reading_only_main_changes_nothing() {
        for f in [
            "marketplace_two_listings_en.html",
            "marketplace_de_relative.html",
            "marketplace_decoys.html",
            "marketplace_empty_en.html",
            "marketplace_inactive.html",
        ] {
            let body = fixture(f);
            let doc = Html::parse_document(&body);
            let listings = if may_have_listings(body.as_bytes()) {
                listings_in(&doc, &base())
            } else {
                vec![]
            };
            let state = page_state(&doc, !listings.is_empty());
            assert_eq!(parse_page(&body, &base()), Page { listings, state }, "{f}");
        }
        // A buy form outside <main>: the whole page is read.
        let odd = r#"<html><body><main><select name="sort"></select></main>
            <div class="panel"><h3 class="panel-title">Late</h3><form method="post" action="/e/secondhand/buy/x1/"></form></div></body></html>"#;
        assert_eq!(parse_page(odd, &base()).listings.len(), 1);
        // Upper-case tags are found too.
        let upper = r#"<MAIN><div class="panel"><h3 class="panel-title">T</h3><form method="post" action="/e/secondhand/buy/y2/"></form></div></MAIN>"#;
        assert_eq!(parse_page(upper, &base()).listings[0].id, "y2");
    }

    #[test]
    fn prices_in_many_shapes() {
        assert_eq!(parse_price("190.00 EUR"), (Some(190.0), "EUR".into()));
        assert_eq!(parse_price("190,00 €"), (Some(190.0), "€".into()));
        assert_eq!(parse_price("EUR 1.234,50"), (Some(1234.5), "EUR".into()));
        assert_eq!(parse_price("€1,234.50"), (Some(1234.5), "€".into()));
        assert_eq!(parse_price("CHF 1'250.–"), (Some(1250.0), "CHF".into()));
        assert_eq!(parse_price("1 000 Kč"), (Some(1000.0), "Kč".into()));
        assert_eq!(parse_price("free"), (None, "free".into()));
    }

    #[test]
    fn checkout_page_facts() {
        let c = parse_checkout(&fixture("checkout_questions.html"));
        assert_eq!(c.expires.as_deref(), Some("2026-11-24 17:10:12+0100"));
        assert_eq!(c.items, vec!["Ticket – Type A".to_string()]);
    }

    #[test]
    fn fingerprint_ignores_per_load_bits_only() {
        let a = r#"<body data-now="1766648519.081831"><input type="hidden" name="csrfmiddlewaretoken" value="AAA"><link href="/theme.css?version=abc-1"></body>"#;
        let b = r#"<body data-now="1766648999.000001"><input type="hidden" name="csrfmiddlewaretoken" value="BBBBBB"><link href="/theme.css?version=def-2"></body>"#;
        let c = r#"<body data-now="1766648999.000001"><div class="alert">New!</div><input type="hidden" name="csrfmiddlewaretoken" value="BBBBBB"><link href="/theme.css?version=def-2"></body>"#;
        assert_eq!(fingerprint(a.as_bytes()), fingerprint(b.as_bytes()));
        assert_ne!(fingerprint(b.as_bytes()), fingerprint(c.as_bytes()));
        // Unterminated values never panic.
        fingerprint(b"<body data-now=\"123");
        fingerprint(b"data-now=");
    }

    /// The page with its per-load values cut out, the plain way: what [`fingerprint`] must hash.
    fn stripped(body: &[u8]) -> Vec<Vec<u8>> {
        const MARKERS: [&[u8]; 4] = [
            b"data-now=",
            b"csrfmiddlewaretoken\" value=",
            b"?version=",
            b"data-expires=",
        ];
        let mut parts = vec![];
        let mut rest = body;
        loop {
            let next = MARKERS
                .iter()
                .filter_map(|m| memchr::memmem::find(rest, m).map(|i| (i, m.len())))
                .min();
            let Some((i, len)) = next else {
                parts.push(rest.to_vec());
                return parts;
            };
            parts.push(rest[..i + len].to_vec());
            let after = &rest[i + len..];
            let skip = usize::from(after.first().is_some_and(|c| *c == b'"' || *c == b'\''));
            let end = after[skip..]
                .iter()
                .position(|c| *c == b'"' || *c == b'\'')
                .map_or(after.len(), |p| p + skip);
            rest = &after[end..];
        }
    }

    #[test]
    fn fingerprint_tells_pages_apart_exactly_when_their_stripped_text_differs() {
        // Pages built from markers, quotes and a little text, so markers overlap, nest in each
        // other's values and run unterminated; every pair is compared.
        let pieces: [&[u8]; 9] = [
            b"data-now=",
            b"csrfmiddlewaretoken\" value=",
            b"?version=",
            b"data-expires=",
            b"\"",
            b"'",
            b"a",
            b"bc",
            b"<p>0123456789</p>",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut pages: Vec<Vec<u8>> = (0..400)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = (seed % 9) as usize;
                (0..n)
                    .flat_map(|k| pieces[((seed >> (6 + 5 * k)) % 9) as usize].to_vec())
                    .collect()
            })
            .collect();
        for f in [
            "marketplace_empty_en.html",
            "marketplace_two_listings_en.html",
        ] {
            pages.push(fixture(f).into_bytes());
        }
        let fps: Vec<u64> = pages.iter().map(|p| fingerprint(p)).collect();
        let strips: Vec<_> = pages.iter().map(|p| stripped(p)).collect();
        for a in 0..pages.len() {
            for b in a + 1..pages.len() {
                assert_eq!(
                    fps[a] == fps[b],
                    strips[a] == strips[b],
                    "{:?} vs {:?}",
                    String::from_utf8_lossy(&pages[a]),
                    String::from_utf8_lossy(&pages[b])
                );
            }
        }
        // Bytes moved across a cut still count.
        assert_ne!(
            fingerprint(b"ab data-now=\"1\"cd"),
            fingerprint(b"a data-now=\"1\"bcd")
        );
    }
}
