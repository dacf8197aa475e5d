//! What we know about a pretix main shop, as code: the products on an event page and what a
//! cart add's answer says. Like the marketplace, by structure only, never by the shop's words.
//!
//! A product is an `article` (`id="item-<id>"`, or `item-<id>-<variation>` for a variation)
//! inside the POST form whose action is the event's `cart/add`; an available one has an input
//! `item_<id>` or `variation_<id>_<var>` (a checkbox for at most one, a number field with `max`
//! otherwise, a radio `_selected_item` with that value for a single-use voucher's product).
//!
//! Its state is read as pretix means it (`fragment_availability.html`, `fragment_product_list.html`
//! of pretix 2026.8), by structure: inputs rendered `disabled` are pretix's "the booking period is
//! not running" (never buyable, whatever the box says); an `availability-box gone` is sold out, with
//! a link to the waiting list when pretix offers one; an `availability-box unavailable` is voucher
//! only when it links to the voucher form (`#voucher`), reserved in someone's cart when it says so
//! in bold (`strong`), and otherwise not on sale (pretix's "not available yet / any more": the
//! product's own availability window). See [`State`]. Once a cart exists the page also carries the cart panel, with `cart/add` forms of
//! its own holding hidden `item_<id>` inputs: those hold no `article`, so they are never read as
//! products.

use std::sync::LazyLock;

use scraper::{ElementRef, Selector};
use url::Url;

use std::sync::atomic::Ordering::Relaxed;

use super::budget::{self, OverBudget};
use super::market::{Carted, ResponseLog};
use super::pretix::{self, CartOutcome, is_waiting, parse_price, squash};
use super::session::{HttpError, Response, Session};

/// One product (or one variation of a product) on an event page.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// The item id.
    pub id: String,
    /// The variation id, for a product with variations.
    pub variation: Option<String>,
    /// "Festival Shirt – XL" for a variation.
    pub name: String,
    pub price: Option<f64>,
    pub price_text: String,
    /// What pretix says of it: one of [`State`]'s names ("" when the page shows nothing we know).
    pub state: String,
    /// How many one order may hold (1 for a checkbox), when the product can be added.
    pub max: Option<u32>,
    /// The input to send: `item_<id>` or `variation_<id>_<var>`.
    pub field: String,
    /// The add-to-cart form: its absolute action and hidden fields (CSRF token, subevent).
    pub action: Url,
    pub fields: Vec<(String, String)>,
}

impl Product {
    pub fn available(&self) -> bool {
        self.state == State::Available.name() && self.max.is_some_and(|m| m > 0)
    }
}

/// A product's availability, as pretix renders it. Only `Available` can be added: a cart add
/// for any other is refused by pretix, so none is ever sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// An enabled input: it can be added now.
    Available,
    /// The booking period is not running (inputs `disabled`), or the product is outside its own
    /// availability window ("not available yet").
    NotOnSale,
    /// Sold out (`availability-box gone`).
    SoldOut,
    /// Sold out, and pretix offers its waiting list: freed tickets go to that list first.
    WaitingList,
    /// Every remaining one is in someone's cart; it may come back when a cart expires.
    Reserved,
    /// Only with a voucher (`--voucher`).
    VoucherOnly,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Available,
        State::NotOnSale,
        State::SoldOut,
        State::WaitingList,
        State::Reserved,
        State::VoucherOnly,
    ];

    /// The name `race.shop` and the log use.
    pub fn name(self) -> &'static str {
        match self {
            State::Available => "available",
            State::NotOnSale => "not_on_sale",
            State::SoldOut => "sold_out",
            State::WaitingList => "waiting_list",
            State::Reserved => "reserved",
            State::VoucherOnly => "voucher_only",
        }
    }

    /// How the log says it.
    pub fn words(self) -> &'static str {
        match self {
            State::Available => "available",
            State::NotOnSale => "not on sale",
            State::SoldOut => "sold out",
            State::WaitingList => "sold out (waiting list)",
            State::Reserved => "reserved",
            State::VoucherOnly => "voucher only",
        }
    }

    pub fn from_name(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.name() == name)
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

static FORMS: LazyLock<Selector> = LazyLock::new(|| sel("form[action]"));
static ARTICLES: LazyLock<Selector> = LazyLock::new(|| sel("article[id]"));
static HIDDEN: LazyLock<Selector> = LazyLock::new(|| sel("input[name]"));
static NAME: LazyLock<Selector> = LazyLock::new(|| sel("h4, h5, legend"));
static PRICE: LazyLock<Selector> = LazyLock::new(|| sel(".price"));
static BOX: LazyLock<Selector> = LazyLock::new(|| sel(".availability-box"));
static INPUTS: LazyLock<Selector> = LazyLock::new(|| sel("input[name]"));
static STRONG: LazyLock<Selector> = LazyLock::new(|| sel("strong, b"));
static LINKS: LazyLock<Selector> = LazyLock::new(|| sel("a[href]"));

/// The shop's add-to-cart form (`…/cart/add`, POST) that holds the product list.
fn is_cart_add(form: &ElementRef, base: &Url) -> Option<Url> {
    let method = form.attr("method").unwrap_or("get");
    if !method.trim().eq_ignore_ascii_case("post") {
        return None;
    }
    let action = base.join(form.attr("action")?.trim()).ok()?;
    pretix::is_cart_add(&action).then_some(action)
}

/// Every product and variation on an event page, in page order (none on a page over budget).
pub fn products(body: &str, base: &Url) -> Vec<Product> {
    try_products(body, base).unwrap_or_default()
}

/// [`products`], saying why a page over the reading budget was not read.
pub fn try_products(body: &str, base: &Url) -> Result<Vec<Product>, OverBudget> {
    let doc = budget::parse_document(body)?;
    let mut out = Vec::new();
    for form in doc.select(&FORMS) {
        let Some(action) = is_cart_add(&form, base) else {
            continue;
        };
        let fields: Vec<(String, String)> = form
            .select(&HIDDEN)
            .filter(|i| {
                i.attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("hidden"))
            })
            // The form's own hidden fields, not those of inputs inside products.
            .filter(|i| {
                !i.ancestors()
                    .any(|a| ElementRef::wrap(a).is_some_and(|e| e.value().name() == "article"))
            })
            .filter_map(|i| {
                Some((
                    i.attr("name")?.to_string(),
                    i.attr("value").unwrap_or("").to_string(),
                ))
            })
            .collect();
        for article in form.select(&ARTICLES) {
            if let Some(p) = product(article, &action, &fields) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

fn product(article: ElementRef, action: &Url, fields: &[(String, String)]) -> Option<Product> {
    let id = article.attr("id")?.strip_prefix("item-")?;
    let (id, variation) = match id.split_once('-') {
        Some((i, v)) => (i.to_string(), Some(v.to_string())),
        None => (id.to_string(), None),
    };
    // A product with variations is read through its variations' own articles.
    if variation.is_none() && article.select(&ARTICLES).next().is_some() {
        return None;
    }
    let name_of = |el: ElementRef| el.select(&NAME).next().map(squash);
    let own = name_of(article).unwrap_or_default();
    let name = match &variation {
        // "Festival Shirt – XL": the product's heading, then the variation's.
        Some(_) => article
            .ancestors()
            .filter_map(ElementRef::wrap)
            .find(|a| a.value().name() == "article")
            .and_then(name_of)
            .map_or(own.clone(), |p| format!("{p} – {own}")),
        None => own,
    };
    let price_text = article
        .select(&PRICE)
        .next()
        .map(squash)
        .unwrap_or_default();
    let price = article
        .attr("data-price")
        .and_then(|p| p.trim().parse().ok())
        .or_else(|| parse_price(&price_text).0);
    let field = match &variation {
        Some(v) => format!("variation_{id}_{v}"),
        None => format!("item_{id}"),
    };
    // Its own input: `item_<id>`/`variation_<id>_<var>`, or the radio a single-use voucher's
    // product list uses (`_selected_item` whose value is the field).
    let input = article.select(&INPUTS).find(|i| {
        i.attr("name") == Some(field.as_str())
            || (i.attr("name") == Some("_selected_item") && i.attr("value") == Some(field.as_str()))
    });
    let disabled = input.is_some_and(|i| i.attr("disabled").is_some());
    let max = input
        .filter(|_| !disabled)
        .map(|i| match i.attr("type").map(str::trim) {
            Some(t) if t.eq_ignore_ascii_case("checkbox") || t.eq_ignore_ascii_case("radio") => 1,
            _ => i
                .attr("max")
                .and_then(|m| m.trim().parse().ok())
                .unwrap_or(1),
        });
    let state = read_state(article.select(&BOX).next(), input.is_some(), disabled);
    // A radio (`_selected_item=<field>`) is sent as `<field>=1`: pretix reads both alike
    // (`items_from_post_data`).
    Some(Product {
        id,
        variation,
        name,
        price,
        price_text,
        state: state.map_or("", State::name).to_string(),
        max,
        field,
        action: action.clone(),
        fields: fields.to_vec(),
    })
}

/// A product's state from its availability box and its input (see the module comment).
fn read_state(boxed: Option<ElementRef>, input: bool, disabled: bool) -> Option<State> {
    if disabled {
        return Some(State::NotOnSale);
    }
    let Some(b) = boxed else {
        return input.then_some(State::Available);
    };
    let has = |c: &str| b.value().classes().any(|x| x == c);
    let links_to = |part: &str| {
        b.select(&LINKS)
            .any(|a| a.attr("href").is_some_and(|h| h.contains(part)))
    };
    if has("available") {
        Some(State::Available)
    } else if has("gone") {
        Some(if links_to("waitinglist") {
            State::WaitingList
        } else {
            State::SoldOut
        })
    } else if has("unavailable") {
        Some(if links_to("#voucher") {
            State::VoucherOnly
        } else if b.select(&STRONG).next().is_some() {
            State::Reserved
        } else {
            State::NotOnSale
        })
    } else {
        input.then_some(State::Available)
    }
}

/// The event page a product's form belongs to (`…/{event}/`, from its `…/cart/add` action).
pub fn event_page(p: &Product) -> Url {
    pretix::event_of_cart_add(&p.action)
}

/// One look at a main shop's event page.
#[derive(Debug)]
pub struct Looked {
    pub response: Response,
    pub products: Vec<Product>,
    /// pretix's own page (its products, or its page markup without them: a series' page, a shop
    /// hiding everything), not a maintenance, error or challenge page in front of it.
    pub recognised: bool,
}

/// GETs the event page once (a poll: the floor applies) and reads its products, with the
/// per-request log line; failures count toward `watcher_failing`, and a page without products
/// is saved once, like the marketplace's unusual answers.
pub async fn poll(session: &Session, url: &Url, log: &ResponseLog) -> Result<Looked, HttpError> {
    let r = match session.get(url, &[]).await {
        Ok(r) => r,
        Err(e) => {
            super::market::track_failures(session, url, Some(e.to_string()));
            return Err(e);
        }
    };
    session.net().stats.polls.fetch_add(1, Relaxed);
    session.net().stats.shop_polled.store(true, Relaxed);
    let products = if r.ok() && pretix::is_html(r.header("content-type")) {
        try_products(&r.text(), &r.url).unwrap_or_else(|why| {
            log.over_budget(url, &why);
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let recognised = r.ok() && (!products.is_empty() || pretix::is_pretix_page(&r.body));
    let failure = if !r.ok() {
        Some(format!("HTTP {}", r.status))
    } else if !recognised {
        Some(
            "unrecognised: not a pretix page (a maintenance, error or challenge page?)".to_string(),
        )
    } else if products.is_empty() {
        Some("an event page without products".to_string())
    } else {
        None
    };
    super::market::track_failures(session, url, failure.clone());
    let available = products.iter().filter(|p| p.available()).count();
    let result = match &failure {
        Some(f) => f.clone(),
        None => format!(
            "{} ({available} available){} — {}",
            crate::log::plural(products.len() as u64, "product", "products"),
            states_summary(&products),
            // Which page: with several events or dates watched, the line says which.
            url.path()
        ),
    };
    if failure.is_none() && available == 0 {
        r.log_routine(&result);
    } else {
        r.log(&result);
    }
    if failure.is_some() {
        log.save(
            &r,
            if r.ok() {
                "unrecognised"
            } else {
                "shop-status"
            },
        );
    } else if available > 0 {
        log.save(&r, "shop-available");
    }
    Ok(Looked {
        response: r,
        products,
        recognised,
    })
}

/// " · 1 sold out, 2 not on sale": how many of the products that can't be added are in which
/// state ("" when all can be).
pub fn states_summary(products: &[Product]) -> String {
    let parts: Vec<String> = State::ALL[1..]
        .iter()
        .filter_map(|s| {
            let n = products.iter().filter(|p| p.state == s.name()).count();
            (n > 0).then(|| format!("{n} {}", s.words()))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" · {}", parts.join(", "))
    }
}

/// pretix's error message on a page (`.alert-danger`), e.g. why a voucher was refused.
pub fn error_message(body: &str) -> Option<String> {
    match add_outcome(body) {
        AddOutcome::Refused { message } => Some(message),
        _ => None,
    }
}

/// A link one path segment below a page: on an event series' page a date (`…/festival/3/`, its
/// segment the date's id), on an organiser's page an event (`…/demo/democon/`).
#[derive(Clone, Debug, PartialEq)]
pub struct Below {
    pub segment: String,
    pub name: String,
    /// The date (YYYY-MM-DD), where the page gives one (`data-time`, `data-date`, `time[datetime]`).
    pub date: Option<String>,
}

static ALL_LINKS: LazyLock<Selector> = LazyLock::new(|| sel("a[href]"));
static EVENT_NAME: LazyLock<Selector> = LazyLock::new(|| sel(".event-name"));
static TIMED: LazyLock<Selector> = LazyLock::new(|| sel("[data-time], time[datetime]"));

/// Every link one segment below `base` (series dates or an organiser's events), in page order,
/// once each.
pub fn links_below(body: &str, base: &Url) -> Vec<Below> {
    // A page over the reading budget lists nothing (it is unrecognised).
    let Ok(doc) = budget::parse_document(body) else {
        return Vec::new();
    };
    let prefix = format!("{}/", base.path().trim_end_matches('/'));
    let mut out: Vec<Below> = Vec::new();
    for a in doc.select(&ALL_LINKS) {
        let Some(u) = a.attr("href").and_then(|h| base.join(h.trim()).ok()) else {
            continue;
        };
        if u.origin() != base.origin() {
            continue;
        }
        let Some(rest) = u.path().strip_prefix(&prefix) else {
            continue;
        };
        let segment = rest.trim_end_matches('/');
        if segment.is_empty()
            || segment.contains('/')
            || segment.contains('.')
            || pretix::ROUTES.contains(&segment)
        {
            continue;
        }
        let name = a
            .select(&EVENT_NAME)
            .next()
            .map(squash)
            .unwrap_or_else(|| squash(a));
        let date = date_near(a);
        match out.iter_mut().find(|b| b.segment == segment) {
            Some(b) => {
                if b.name.is_empty() {
                    b.name = name;
                }
                if b.date.is_none() {
                    b.date = date;
                }
            }
            None => out.push(Below {
                segment: segment.to_string(),
                name,
                date,
            }),
        }
    }
    out
}

/// A link's date: a `data-time`/`time[datetime]` inside it or its row, else a `data-date` above it.
fn date_near(a: ElementRef) -> Option<String> {
    let day = |v: &str| {
        let d = v.trim().get(..10)?;
        (d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-').then(|| d.to_string())
    };
    let inside = |e: ElementRef| {
        e.select(&TIMED).find_map(|t| {
            t.attr("data-time")
                .or_else(|| t.attr("datetime"))
                .and_then(day)
        })
    };
    inside(a).or_else(|| {
        a.ancestors().filter_map(ElementRef::wrap).find_map(|e| {
            e.attr("data-date").and_then(day).or_else(|| {
                matches!(e.value().name(), "article" | "tr" | "li")
                    .then(|| inside(e))
                    .flatten()
            })
        })
    })
}

/// What a cart add's answer says, read from the page it ended on.
#[derive(Clone, Debug, PartialEq)]
pub enum AddOutcome {
    /// pretix's success message.
    Added,
    /// pretix's error message: someone else was faster, or the product is gone.
    Refused { message: String },
    /// Neither: a page we can't read.
    Unrecognised,
}

static SUCCESS: LazyLock<Selector> = LazyLock::new(|| sel(".alert-success"));
static DANGER: LazyLock<Selector> = LazyLock::new(|| sel(".alert-danger"));

/// Reads the messages on the page a cart add redirected to (a page over budget is unrecognised).
pub fn add_outcome(body: &str) -> AddOutcome {
    let Ok(doc) = budget::parse_document(body) else {
        return AddOutcome::Unrecognised;
    };
    if let Some(e) = doc.select(&DANGER).next() {
        return AddOutcome::Refused {
            message: squash(e).trim_start_matches("Error:").trim().to_string(),
        };
    }
    if doc.select(&SUCCESS).next().is_some() {
        return AddOutcome::Added;
    }
    AddOutcome::Unrecognised
}

/// Adds `count` of a product to the session's cart: POSTs the product's form (its hidden fields,
/// `field=count`, `Referer` and `Origin`), follows pretix's waiting page while a background
/// worker reserves, reads the message it ends with, and on success confirms the cart at
/// `checkout/start` (a checkout page with a cart row). Recorded with the carts like a
/// marketplace cart, so no exit path loses it.
pub async fn add_to_cart(
    session: &Session,
    product: &Product,
    count: u32,
    log: &ResponseLog,
) -> Result<Carted, HttpError> {
    session.net().stats.cart_attempts.fetch_add(1, Relaxed);
    let event = event_page(product);
    let headers = [
        ("Referer".to_string(), event.to_string()),
        ("Origin".to_string(), event.origin().ascii_serialization()),
    ];
    let r = post(session, product, count, &event, &headers, log).await?;
    r.log(&format!("cart add: {} × {count}", product.name));
    let r = through_waiting_pages(session, r, &headers[..1]).await?;
    let article = pretix::article(&product.id, product.variation.as_deref());
    let held = session.net().carts.held(session.id(), &article);
    match add_outcome(&r.text()) {
        // pretix adds what its quota still has and says the rest is gone ("no longer available
        // in the quantity you selected"): its cart panel, beside the message, shows more of the
        // product than the session held. Those are the user's tickets: confirmed like any add.
        AddOutcome::Refused { message } if pretix::cart_count(&r.text(), &article) > held => {
            r.log(&format!("added in part: {message}"));
            confirm(session, product, &event, &headers[..1], r, log).await
        }
        AddOutcome::Refused { message } => {
            session.net().stats.races_lost.fetch_add(1, Relaxed);
            r.log(&format!("not added: {message}"));
            log.save(&r, "shop-cart-lost");
            Ok(Carted {
                response: Some(r),
                outcome: CartOutcome::Lost,
                checkout: None,
                reserved: None,
            })
        }
        AddOutcome::Unrecognised => {
            log.save(&r, "shop-cart-unrecognised");
            Ok(Carted {
                outcome: CartOutcome::Failed {
                    reason: format!(
                        "HTTP {} at {}: an answer without pretix's message",
                        r.status, r.url
                    ),
                },
                response: Some(r),
                checkout: None,
                reserved: None,
            })
        }
        AddOutcome::Added => confirm(session, product, &event, &headers[..1], r, log).await,
    }
}

/// The cart add's POST. On Django's CSRF refusal (a token gone stale): a fresh token from the
/// event page at once, and the POST again, once.
async fn post(
    session: &Session,
    product: &Product,
    count: u32,
    event: &Url,
    headers: &[(String, String)],
    log: &ResponseLog,
) -> Result<Response, HttpError> {
    let r = post_product(session, product, count, headers).await?;
    if r.status != 403 {
        return Ok(r);
    }
    r.log("cart add refused (403: a stale CSRF token?); fetching a fresh one");
    log.save(&r, "shop-cart-403");
    let fresh = session.get_action(event, &[]).await?;
    fresh.log("fresh page for the cart add");
    let again = products(&fresh.text(), &fresh.url)
        .into_iter()
        .find(|p| p.id == product.id && p.variation == product.variation);
    match again {
        Some(p) => post_product(session, &p, count, headers).await,
        None => Ok(r),
    }
}

/// A shop with background workers answers with a waiting page first: followed (a few times a
/// second, as pretix's own page does) until the shop answers, or [`WAITING_PAGES`] of them.
async fn through_waiting_pages(
    session: &Session,
    mut r: Response,
    headers: &[(String, String)],
) -> Result<Response, HttpError> {
    let mut waits = 0;
    while is_waiting(&r.url) && waits < WAITING_PAGES {
        waits += 1;
        tokio::time::sleep(WAITING_PAUSE).await;
        let url = r.url.clone();
        r = session.get_action(&url, headers).await?;
        r.log(if is_waiting(&r.url) {
            "the shop is still reserving"
        } else {
            "the shop has answered"
        });
    }
    Ok(r)
}

/// The shop said added: the ticket is in the session's cart now. Recorded at once, before the
/// checkout is asked for (as the marketplace's add is recorded from its POST's answer), so no exit
/// path during that request loses it; the checkout page then only adds what it says (where the
/// checkout really is, the deadline, the rows). A confirmation that stalls, breaks off or can't be
/// read keeps the cart, its deadline unknown; only pretix sending the checkout back to the shop's
/// page with no such product in its cart panel (its answer to an empty cart) takes the record
/// back.
async fn confirm(
    session: &Session,
    product: &Product,
    event: &Url,
    headers: &[(String, String)],
    added: Response,
    log: &ResponseLog,
) -> Result<Carted, HttpError> {
    let start = pretix::checkout_start(event);
    record(session, product, &start, None);
    added.log(&format!(
        "the shop said added: {} is in the cart; loading its checkout",
        product.name
    ));
    let carts = &session.net().carts;
    let c = match session.get_action(&start, headers).await {
        Ok(c) => c,
        Err(e) => {
            let checkout_url = e
                .reached()
                .filter(|u| pretix::is_checkout(u))
                .unwrap_or(&start)
                .clone();
            let checkout_url = pretix::without_empty_query(checkout_url);
            carts.confirmed(session.id(), &checkout_url, None);
            crate::log::info(format!(
                "IN CART: {} -> {checkout_url} (the checkout did not load: {e}; the shop said added, its deadline unknown)",
                product.name
            ));
            return Ok(Carted {
                response: Some(added),
                outcome: CartOutcome::InCart { checkout_url },
                checkout: None,
                reserved: None,
            });
        }
    };
    let checkout = pretix::parse_checkout(&c.text());
    // What this add reserved: the product's row now, beyond what the session held before.
    let article = pretix::article(&product.id, product.variation.as_deref());
    let reserved = checkout.count_of(&article).map(|now| {
        let before = carts.held(session.id(), &article);
        carts.set_held(session.id(), &article, now);
        now.saturating_sub(before)
    });
    let outcome = match pretix::classify_cart(c.status, &c.url) {
        CartOutcome::InCart { checkout_url } => {
            carts.confirmed(session.id(), &checkout_url, checkout.expires.clone());
            if checkout.items.is_empty() {
                crate::log::info(format!(
                    "the checkout at {checkout_url} shows no cart row we can read: the shop said added, the cart is kept, its deadline unknown"
                ));
            }
            CartOutcome::InCart { checkout_url }
        }
        // pretix answers a checkout without a cart by sending it back to the shop's page; only
        // when that page's cart panel shows none of the product either is the record taken back.
        _ if (200..300).contains(&c.status)
            && pretix::same_event(&c.url, event)
            && pretix::cart_count(&c.text(), &article) == 0 =>
        {
            session.secured_taken_back();
            CartOutcome::Failed {
                reason: format!(
                    "the shop said added, but its checkout sent us back to {} (no cart)",
                    c.url
                ),
            }
        }
        _ => {
            crate::log::info(format!(
                "the checkout answered HTTP {} at {}: the shop said added, the cart is kept, its deadline unknown",
                c.status, c.url
            ));
            CartOutcome::InCart {
                checkout_url: start.clone(),
            }
        }
    };
    let result = match &outcome {
        CartOutcome::InCart { checkout_url } => {
            format!("IN CART: {} -> {checkout_url}", product.name)
        }
        other => format!("cart add failed: {other:?}"),
    };
    c.log(&result);
    log.save(&c, &format!("shop-cart-{}", outcome.label()));
    Ok(Carted {
        response: Some(c),
        checkout: matches!(outcome, CartOutcome::InCart { .. }).then_some(checkout),
        outcome,
        reserved,
    })
}

/// Records a secured cart (this session's cookies now) and counts it.
fn record(session: &Session, product: &Product, checkout_url: &Url, expires: Option<String>) {
    session.secured(checkout_url, expires, &product.name, &product.price_text);
}

async fn post_product(
    session: &Session,
    product: &Product,
    count: u32,
    headers: &[(String, String)],
) -> Result<Response, HttpError> {
    let mut form = product.fields.clone();
    form.push((product.field.clone(), count.max(1).to_string()));
    session.post_form(&product.action, &form, headers).await
}

/// How many waiting pages a cart add follows before it gives up.
const WAITING_PAGES: u32 = 30;
/// The pause between two looks at the waiting page (pretix's own page refreshes about as often).
const WAITING_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn base() -> Url {
        Url::parse("https://shop.example/org/samplecon/").unwrap()
    }

    #[test]
    fn reads_every_product_state_and_variation() {
        let p = products(&fixture("shop_available.html"), &base());
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Day Ticket",
                "Student Ticket",
                "Weekend Ticket",
                "Evening Ticket",
                "Festival Shirt – S",
                "Festival Shirt – XL"
            ]
        );
        let day = &p[0];
        assert_eq!((day.id.as_str(), day.variation.as_deref()), ("7", None));
        assert_eq!((day.state.as_str(), day.max), ("available", Some(1)));
        assert_eq!(day.price, Some(90.0));
        assert_eq!(day.field, "item_7");
        assert!(day.available());
        assert_eq!(
            day.action.as_str(),
            "https://shop.example/org/samplecon/cart/add?next=/org/samplecon/&next_error=/org/samplecon/"
        );
        assert_eq!(
            day.fields,
            [
                ("csrfmiddlewaretoken".to_string(), "tok-shop-1".to_string()),
                ("subevent".to_string(), String::new())
            ]
        );
        assert_eq!(p[1].max, Some(4));
        assert_eq!((p[2].state.as_str(), p[2].max), ("sold_out", None));
        assert!(!p[2].available());
        assert_eq!(p[3].state, "reserved");
        let xl = &p[5];
        assert_eq!((xl.id.as_str(), xl.variation.as_deref()), ("12", Some("4")));
        assert_eq!(
            (xl.field.as_str(), xl.max, xl.price),
            ("variation_12_4", Some(2), Some(25.0))
        );
        assert_eq!(p[4].state, "sold_out");
    }

    #[test]
    fn states_as_pretix_renders_them() {
        let base = Url::parse("https://shop.example/org/con/").unwrap();
        let p = products(&fixture("shop_states.html"), &base);
        let states: Vec<_> = p
            .iter()
            .map(|p| (p.id.as_str(), p.state.as_str(), p.max, p.available()))
            .collect();
        assert_eq!(
            states,
            [
                // Rendered disabled before the booking period: never added, whatever the box says.
                ("1", "not_on_sale", None, false),
                ("2", "waiting_list", None, false),
                ("3", "voucher_only", None, false),
                ("4", "not_on_sale", None, false),
                ("5", "reserved", None, false),
                // A single-use voucher's radio: one, sent as its item field.
                ("6", "available", Some(1), true),
                ("7", "sold_out", None, false),
            ]
        );
        assert_eq!(p[5].field, "item_6");
        assert_eq!(
            states_summary(&p),
            " · 2 not on sale, 1 sold out, 1 sold out (waiting list), 1 reserved, 1 voucher only"
        );
    }

    #[test]
    fn a_series_dates_and_the_voucher_page() {
        let base = Url::parse("https://shop.example/org/festival/").unwrap();
        let dates = links_below(&fixture("series_dates.html"), &base);
        assert_eq!(
            dates,
            [
                Below {
                    segment: "3".into(),
                    name: "Saturday".into(),
                    date: Some("2027-07-10".into())
                },
                Below {
                    segment: "4".into(),
                    name: "Sunday".into(),
                    date: Some("2027-07-11".into())
                },
            ],
            "pretix's own pages, other hosts and queries are not dates"
        );
    }

    #[test]
    fn the_event_page() {
        let p = &products(&fixture("shop_available.html"), &base())[0];
        assert_eq!(
            event_page(p).as_str(),
            "https://shop.example/org/samplecon/"
        );
    }

    #[test]
    fn the_cart_panel_is_never_read_as_products() {
        let p = products(&fixture("shop_after_cart_add_de.html"), &base());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].state, "reserved");
        assert_eq!(p[0].price, Some(90.0));
        assert_eq!(
            p[0].fields,
            [
                ("csrfmiddlewaretoken".to_string(), "tok-shop-2".to_string()),
                ("subevent".to_string(), String::new())
            ]
        );
        assert_eq!(
            add_outcome(&fixture("shop_after_cart_add_de.html")),
            AddOutcome::Added
        );
    }

    #[test]
    fn a_refused_add_and_pages_that_say_nothing() {
        match add_outcome(&fixture("shop_refused.html")) {
            AddOutcome::Refused { message } => {
                assert!(message.starts_with("Some of the products"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            add_outcome("<html><body>hm</body></html>"),
            AddOutcome::Unrecognised
        );
        assert!(products("\u{0}\u{ff} garbage", &base()).is_empty());
        // The marketplace pages hold no shop products.
        assert!(products(&fixture("marketplace_two_listings_en.html"), &base()).is_empty());
    }
}
