//! The marketplace operations, methods of a session: `discover` follows the event page's link,
//! `poll` fetches and reads listings, `add_to_cart` POSTs one listing's form. `race.market.url`
//! adds the filters, `race.market.listings` parses any body (pure functions, no session).

use std::sync::Arc;

use mlua::{FromLua, IntoLua, Lua, Table, Value};

use super::opts::{ListingOpts, MarketFilters};
use super::session::{cart_result, http_fail};
use super::values::{BuyListing, Field, Listings, Resp};
use super::{base_arg, fail, ok, url_arg};
use crate::core::market::{self, MarketError};
use crate::core::session::Session;
use crate::lua::Context;

/// `nil, err` for a discovery that found no marketplace. The event page's answer, when there was
/// one, is data on the error (`err.status`, `err.readable`), never an error kind of its own.
fn market_fail(lua: &Lua, e: &MarketError) -> mlua::Result<(Value, Value)> {
    let r = fail(lua, e.kind(), e)?;
    if let Value::Table(t) = &r.1 {
        match e {
            MarketError::Status { status, .. } => {
                t.set("status", *status)?;
                t.set("readable", false)?;
            }
            MarketError::Unrecognised { .. } => {
                t.set("status", 200)?;
                t.set("readable", false)?;
            }
            MarketError::NoLink { response, .. } => {
                t.set("status", 200)?;
                t.set("readable", true)?;
                // The page itself, as data: a strategy can read what the event offers instead.
                t.set("response", Resp(response))?;
            }
            MarketError::Http(h) => {
                if h.is_dns() {
                    t.set("dns", true)?;
                }
            }
        }
    }
    Ok(r)
}

/// The event slug of an event page URL (its last path segment).
fn slug_of(event_url: &url::Url) -> String {
    event_url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()))
        .unwrap_or_default()
        .to_string()
}

/// `session:discover(event_url?)`.
pub(super) async fn discover(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    event_url: Option<String>,
) -> mlua::Result<(Value, Value)> {
    let (url, event) = match event_url {
        Some(u) => {
            let u = url_arg(&u, "an event URL")?;
            let slug = slug_of(&u);
            (u, slug)
        }
        None => match c.targets().into_iter().next() {
            Some(w) => (w.event_url(), w.event),
            None => {
                return Err(mlua::Error::runtime(
                    "no event to discover: pass the event page's URL, or name targets",
                ));
            }
        },
    };
    c.waiting();
    let r = market::discover(&session, &url, &event).await;
    c.waiting();
    match r {
        Ok(u) => ok(u.as_str(), &lua),
        Err(e) => market_fail(&lua, &e),
    }
}

/// `session:poll(url)`.
pub(super) async fn poll(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    url: String,
) -> mlua::Result<(Value, Value)> {
    let url = url_arg(&url, "a marketplace URL")?;
    c.waiting();
    let r = market::poll(&session, &url, &c.responses).await;
    c.waiting();
    let p = match r {
        Ok(p) => p,
        Err(e) => return http_fail(&lua, &e),
    };
    // An empty page (nearly every poll) gets its empty list made with the rest of the table.
    let (listings, arg) = if p.page.listings.is_empty() {
        (Field::Empty, Value::Nil)
    } else {
        let l = Listings(&p.page.listings, p.response.url.as_str());
        (Field::Arg, l.into_lua(&lua)?)
    };
    let page = Resp(&p.response).table_with(
        &lua,
        &[
            ("state", Field::Str(p.page.state.label().as_bytes())),
            ("new", Field::Int(p.new_listings as i64)),
            ("listings", listings),
        ],
        arg,
    )?;
    ok(page, &lua)
}

/// `session:add_to_cart(listing, { referer = url })`.
pub(super) async fn add_to_cart(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    lt: Table,
    opts: ListingOpts,
) -> mlua::Result<(Value, Value)> {
    let BuyListing(listing) = BuyListing::from_lua(Value::Table(lt.clone()), &lua)?;
    let referer = opts
        .referer
        .or_else(|| lt.get::<Option<String>>("page_url").ok().flatten());
    let referer = match referer {
        Some(r) => url_arg(&r, "the referring page's URL")?,
        None => listing
            .action
            .join("../../")
            .unwrap_or_else(|_| listing.action.clone()),
    };
    c.waiting();
    let r = market::add_to_cart(&session, &listing, &referer, &c.responses).await;
    c.waiting();
    let carted = match r {
        Ok(x) => x,
        Err(e) => return http_fail(&lua, &e),
    };
    let res = cart_result(&lua, &c, &session, &carted)?;
    res.set("listing", lt)?;
    ok(res, &lua)
}

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;

    t.set(
        "url",
        lua.create_function(|lua, (market, q): (String, Value)| {
            let q = MarketFilters::from_lua(q, lua)?;
            let m = url_arg(&market, "a marketplace URL")?;
            Ok(market::filtered_url(&m, q.item.as_deref(), q.sort.as_deref()).to_string())
        })?,
    )?;

    t.set(
        "listings",
        lua.create_function(|lua, (body, base): (mlua::LuaString, Value)| {
            let base = base_arg(&base, "race.market.listings(body, base_url)")?;
            let body = body.to_string_lossy();
            let found = crate::core::pretix::parse_listings(&body, &base);
            Listings(&found, base.as_str()).into_lua(lua)
        })?,
    )?;

    race.set("market", t)
}
