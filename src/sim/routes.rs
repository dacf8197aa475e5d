//! The simulated shop's pages, one small function per route: the event page, the marketplace
//! (with the scenario's faults), a listing's buy form, the theme and the checkout.

use std::collections::HashMap;

use hyper::Method;

use super::pages;
use super::{
    Dropped, Fault, Inner, Reply, Scenario, Seen, SimListing, Tail, mask_token, unmask_token,
};

/// What a route sees of one request, with the shop's state locked.
pub(super) struct Ctx<'a> {
    pub sc: &'a Scenario,
    pub inner: &'a mut Inner,
    pub seen: &'a Seen,
    pub session_id: &'a str,
    /// The event the path names (the first, for any other path).
    pub event: &'a str,
    /// `/{event}/`
    pub ev: String,
    /// Whether this event sells the scenario's listings (the last event does).
    pub sells: bool,
    /// `https://host:port`, as the client named us.
    pub base: &'a str,
}

pub(super) enum Route {
    Event,
    CartAdd,
    Market,
    Buy,
    Theme,
    CheckoutStart,
    CheckoutQuestions,
    /// Any HEAD: 200 and nothing else, counted as no poll (a client warming a connection).
    Head,
    NotFound,
    /// Added for the gate's tests: `/_hostile/…`, a server that redirects where it is told
    /// (see [`hostile`]).
    Hostile,
}

pub(super) fn route(method: &Method, path: &str, ev: &str) -> Route {
    if path.starts_with("/_hostile/") {
        return Route::Hostile;
    }
    let rest = path.strip_prefix(ev);
    match (method, rest) {
        (&Method::HEAD, _) => Route::Head,
        (&Method::GET, Some("")) => Route::Event,
        (&Method::GET, Some("secondhand/")) => Route::Market,
        (&Method::POST, Some(r)) if r.starts_with("secondhand/buy/") => Route::Buy,
        (&Method::POST, Some("cart/add")) => Route::CartAdd,
        (&Method::GET, Some("theme.css")) => Route::Theme,
        (&Method::GET, Some("checkout/start")) => Route::CheckoutStart,
        (&Method::GET, Some("checkout/questions/")) => Route::CheckoutQuestions,
        _ => Route::NotFound,
    }
}

/// The event page; it links the marketplace once the organiser has switched it on.
pub(super) fn event_page(c: &mut Ctx) -> Reply {
    c.inner.event_gets += 1;
    let with_link = c.inner.event_gets > c.sc.inactive_event_pages;
    Reply::page(pages::event_page(c.base, c.event, &c.sc.locale, with_link))
}

/// The marketplace: the scenario's fault for this poll, or the page with what is on offer.
pub(super) fn market(c: &mut Ctx) -> Result<Reply, Dropped> {
    let (sc, base, event, locale) = (c.sc, c.base, c.event, c.sc.locale.as_str());
    let open = sc.inactive_event_pages == 0 || c.inner.event_gets > sc.inactive_event_pages;
    if !open {
        return Ok(Reply::status(
            404,
            pages::inactive_page(base, event, locale),
        ));
    }
    c.inner.market_gets += 1;
    let n = c.inner.market_gets;
    if n >= sc.listings_from_poll && c.inner.offered.is_none() {
        c.inner.offered = Some(sc.listings.clone());
    }
    let fault = sc.faults.get(&n);
    if let Some(Fault::CheckoutStall) = fault {
        c.inner.checkout_stall = true;
    }
    if let Some(Fault::CartAnswerStall) = fault {
        c.inner.checkout_stall = true;
        c.inner.cart_answer_stall = true;
    }
    if let Some(r) = failing(fault) {
        return r;
    }
    Ok(match fault {
        Some(Fault::NoFilter) => Reply::page(pages::themed_empty_page(base, event, locale)),
        Some(Fault::InactivePage) => Reply::page(pages::inactive_page(base, event, locale)),
        Some(Fault::RedirectAway) => Reply::redirect(format!("{base}{}", c.ev)),
        // Bounded reading (issue 15):
        Some(Fault::Deep) => Reply::page(pages::deep_page(n)),
        _ => {
            let mut r = market_page(c, fault);
            match fault {
                Some(Fault::Cut) => {
                    let at = memchr::memmem::find(&r.body, b"<form").unwrap_or(r.body.len() / 2);
                    r.body.truncate(at.saturating_sub(40));
                }
                Some(Fault::Close) => r.close = true,
                Some(Fault::Slow(ms)) => r.delay = Some(std::time::Duration::from_millis(*ms)),
                // Bounded reading (issue 15):
                Some(Fault::Stall) => r.tail = Some(Tail::Stall),
                Some(Fault::Trickle(ms)) => {
                    r.tail = Some(Tail::Trickle(std::time::Duration::from_millis(*ms)))
                }
                _ => {}
            }
            r
        }
    })
}

/// The answer a failing poll gets in place of its page (marketplace and shop alike): a reset,
/// an error status (with its `Retry-After`), bytes that are no page, a maintenance page.
fn failing(fault: Option<&Fault>) -> Option<Result<Reply, Dropped>> {
    Some(Ok(match fault? {
        Fault::Reset => return Some(Err(Dropped)),
        Fault::Status { code, retry_after } => {
            let mut r = Reply::status(*code, pages::error_page(*code));
            r.retry_after = retry_after.clone();
            r
        }
        Fault::Garbage => {
            let mut r = Reply::page(String::new());
            r.body = pages::garbage();
            r.content_type = "application/octet-stream";
            r
        }
        Fault::Maintenance => Reply::page(pages::maintenance_page()),
        _ => return None,
    }))
}

/// The request's query, decoded.
fn query_params(c: &Ctx) -> HashMap<String, String> {
    c.seen
        .query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The marketplace page with its listings, filtered and sorted as the query asks.
fn market_page(c: &Ctx, fault: Option<&Fault>) -> Reply {
    let banner = match fault {
        Some(Fault::Banner(b)) => Some(b.as_str()),
        _ => None,
    };
    let params = query_params(c);
    let sort = params.get("sort").map_or("price_asc", String::as_str);
    let item: Option<u32> = params.get("item").and_then(|i| i.parse().ok());
    let mut shown: Vec<&SimListing> = c
        .inner
        .offered
        .iter()
        .flatten()
        .filter(|_| c.sells)
        .filter(|l| item.is_none_or(|i| l.item == i))
        .collect();
    match sort {
        "price_desc" => shown.sort_by_key(|l| std::cmp::Reverse(l.price_cents)),
        "newest" => shown.reverse(),
        "oldest" => {}
        _ => shown.sort_by_key(|l| l.price_cents),
    }
    let secret = match fault {
        // A secret this session no longer has: the forms' tokens fail Django's check.
        Some(Fault::StaleCsrf) => super::random_string(32),
        _ => c.inner.sessions[c.session_id].csrf_secret.clone(),
    };
    let token = move || mask_token(&secret);
    Reply::page(pages::market_page(&pages::MarketView {
        base: c.base,
        event: c.event,
        locale: &c.sc.locale,
        listings: &shown,
        token: &token,
        sort,
        banner,
    }))
}

/// A listing's buy form: CSRF (masked token against the cookie, same-origin Referer/Origin)
/// like Django's, then the listing is ours, or was sold to someone faster.
pub(super) fn buy(c: &mut Ctx) -> Reply {
    let (base, ev, seen) = (c.base, c.ev.clone(), c.seen);
    let id = seen
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    if !csrf_ok(seen, base) {
        return Reply::status(403, pages::csrf_failure());
    }
    let sells = c.sells;
    let offered = c.inner.offered.get_or_insert_with(Vec::new);
    match offered.iter().position(|l| l.id == id).filter(|_| sells) {
        Some(i) => {
            let l = offered.remove(i);
            if l.lost {
                Reply::redirect(format!("{base}{ev}secondhand/"))
            } else {
                if let Some(s) = c.inner.sessions.get_mut(c.session_id) {
                    s.cart.push(l);
                }
                let mut r = Reply::redirect(format!("{base}{ev}checkout/start"));
                if c.inner.cart_answer_stall {
                    r.body = vec![b' '; 4096];
                    r.tail = Some(Tail::Stall);
                }
                r
            }
        }
        None => Reply::redirect(format!("{base}{ev}secondhand/")),
    }
}

/// What a shop product shows at this event-page GET: its state, and whether it can be added.
fn product_state(p: &super::SimProduct, gets: u32, ours: bool) -> &'static str {
    if ours {
        "unavailable"
    } else if gets >= p.available_from {
        "available"
    } else if gets >= p.reserved_from {
        "unavailable"
    } else {
        "gone"
    }
}

/// Whether the session's cart holds this product.
fn in_cart(cart: &[SimListing], p: &super::SimProduct) -> bool {
    cart.iter().any(|l| l.id == product_key(p))
}

fn product_key(p: &super::SimProduct) -> String {
    match &p.variation {
        Some((v, _)) => format!("{}-{v}", p.id),
        None => p.id.to_string(),
    }
}

/// A main shop's event page: the product list, the cart panel once there is a cart, the message
/// a cart add left; or, while a cart add runs "in the background", pretix's waiting page.
pub(super) fn shop_page(c: &mut Ctx) -> Result<Reply, Dropped> {
    let Some(shop) = &c.sc.shop else {
        return Ok(Reply::status(404, pages::not_found()));
    };
    let waiting_query = c
        .seen
        .query
        .as_deref()
        .is_some_and(|q| q.contains("async_id="));
    let session = c.inner.sessions.get_mut(c.session_id).expect("session");
    if waiting_query {
        if session.waiting > 0 {
            session.waiting -= 1;
            return Ok(Reply::page(pages::waiting_page()));
        }
        return Ok(Reply::redirect(format!(
            "{}{}?require_cookie=true",
            c.base, c.ev
        )));
    }
    c.inner.event_gets += 1;
    let gets = c.inner.event_gets;
    // A shop's polls are its event-page GETs: its faults are keyed by them.
    let fault = c.sc.faults.get(&gets);
    match fault {
        Some(Fault::CheckoutStall) => c.inner.checkout_stall = true,
        Some(Fault::CartDropped) => c.inner.cart_dropped = true,
        _ => {}
    }
    if let Some(r) = failing(fault) {
        return r;
    }
    let session = c.inner.sessions.get_mut(c.session_id).expect("session");
    let message = session.message.take();
    let token = mask_token(&session.csrf_secret);
    let cart = session.cart.clone();
    let shown: Vec<pages::ShownProduct> = shop
        .products
        .iter()
        .map(|p| pages::ShownProduct {
            product: p,
            state: product_state(p, gets, in_cart(&cart, p)),
        })
        .collect();
    Ok(Reply::page(pages::shop_page(&pages::ShopView {
        base: c.base,
        event: c.event,
        locale: &c.sc.locale,
        products: &shown,
        token: &token,
        cart: &cart,
        message: message.as_ref().map(|(ok, m)| (*ok, m.as_str())),
    })))
}

/// A shop's cart add: CSRF as Django checks it, then the first product asked for is reserved,
/// or refused (someone faster, or it is not available); the result waits behind the waiting
/// pages, then shows as the event page's message.
pub(super) fn cart_add(c: &mut Ctx) -> Reply {
    let Some(shop) = &c.sc.shop else {
        return Reply::status(404, pages::not_found());
    };
    let (base, ev, seen) = (c.base, c.ev.clone(), c.seen);
    if !csrf_ok(seen, base) {
        return Reply::status(403, pages::csrf_failure());
    }
    let gets = c.inner.event_gets;
    let wanted = shop.products.iter().find(|p| {
        let field = match &p.variation {
            Some((v, _)) => format!("variation_{}_{v}", p.id),
            None => format!("item_{}", p.id),
        };
        seen.form
            .iter()
            .any(|(k, v)| *k == field && v.parse::<u32>().is_ok_and(|n| n > 0))
    });
    let first_try = !c.inner.shop_lost_once;
    let session = c.inner.sessions.get_mut(c.session_id).expect("session");
    let message = match wanted {
        Some(p) if product_state(p, gets, in_cart(&session.cart, p)) == "available" => {
            if shop.lose_first && first_try {
                None
            } else {
                let name = match &p.variation {
                    Some((_, v)) => format!("{} – {v}", p.name),
                    None => p.name.clone(),
                };
                let mut l = SimListing::new(&product_key(p), &name, p.price_cents);
                l.item = p.id;
                session.cart.push(l);
                Some((
                    true,
                    "The products have been successfully added to your cart.".to_string(),
                ))
            }
        }
        _ => None,
    };
    let message = message.unwrap_or_else(|| {
        (
            false,
            "Some of the products you selected are no longer available. The following products are affected and have not been added to your cart: Ticket".to_string(),
        )
    });
    if !message.0 {
        c.inner.shop_lost_once = true;
    }
    let session = c.inner.sessions.get_mut(c.session_id).expect("session");
    session.message = Some(message);
    session.waiting = shop.waiting_pages;
    if shop.waiting_pages > 0 {
        Reply::redirect(format!("{base}{ev}?async_id=sim-{}", c.inner.seen.len()))
    } else {
        Reply::redirect(format!("{base}{ev}?require_cookie=true"))
    }
}

/// Django's CSRF check: the masked token matches the cookie, and Referer (and Origin, when sent)
/// are this site.
fn csrf_ok(seen: &Seen, base: &str) -> bool {
    let (_, csrf_cookie) = super::cookie_names(base.starts_with("https:"));
    let secret = seen.cookie(csrf_cookie).map(str::to_string);
    let token = seen
        .form
        .iter()
        .find(|(k, _)| k == "csrfmiddlewaretoken")
        .map(|(_, v)| v.as_str());
    let same_origin = |h: &Option<String>| {
        h.as_deref()
            .is_some_and(|r| r == base || r.starts_with(&format!("{base}/")))
    };
    secret.is_some()
        && token.and_then(unmask_token) == secret
        && same_origin(&seen.referer)
        && (seen.origin.is_none() || same_origin(&seen.origin))
}

pub(super) fn theme() -> Reply {
    let mut r = Reply::page(pages::THEME.to_string());
    r.content_type = "text/css; charset=utf-8";
    r
}

pub(super) fn checkout_start(c: &mut Ctx) -> Reply {
    if std::mem::take(&mut c.inner.cart_dropped) {
        if let Some(s) = c.inner.sessions.get_mut(c.session_id) {
            s.cart.clear();
        }
        return Reply::redirect(format!("{}{}", c.base, c.ev));
    }
    // pretix's own redirect carries an empty query.
    Reply::redirect(format!("{}{}checkout/questions/?", c.base, c.ev))
}

/// Checkout step 1 with the cart and its deadline; an empty cart goes back to the event.
pub(super) fn checkout_questions(c: &Ctx) -> Reply {
    let s = &c.inner.sessions[c.session_id];
    if s.cart.is_empty() {
        return Reply::redirect(format!("{}{}", c.base, c.ev));
    }
    let token = mask_token(&s.csrf_secret);
    let mut r = Reply::page(pages::checkout_page(
        c.base,
        c.event,
        &c.sc.locale,
        &s.cart,
        &token,
    ));
    r.tail = c.inner.checkout_stall.then_some(Tail::Stall);
    r
}

/// A hostile server, for the tests of the gate every request and redirect hop passes (any
/// method):
/// - `/_hostile/redirect?code=307&to=URL`: answers `code` (default 302) with `Location: URL`;
/// - `/_hostile/loop`: redirects to itself, forever;
/// - `/_hostile/status?code=429&retry_after=3`: answers that status (and `Retry-After`);
/// - anything else under it: 200 with an empty page.
pub(super) fn hostile(c: &Ctx) -> Reply {
    let params = query_params(c);
    let code = |default: u16| {
        params
            .get("code")
            .and_then(|c| c.parse().ok())
            .unwrap_or(default)
    };
    match c.seen.path.as_str() {
        "/_hostile/redirect" => {
            let mut r = Reply::redirect(params.get("to").cloned().unwrap_or_default());
            r.status = hyper::StatusCode::from_u16(code(302)).unwrap_or(hyper::StatusCode::FOUND);
            r
        }
        "/_hostile/loop" => Reply::redirect(format!("{}/_hostile/loop", c.base)),
        "/_hostile/status" => {
            let mut r = Reply::status(code(200), String::new());
            r.retry_after = params.get("retry_after").cloned();
            r
        }
        _ => Reply::page(String::new()),
    }
}
