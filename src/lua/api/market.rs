//! `race.market`: what a marketplace strategy is made of. `discover` follows the event page's link,
//! `url` adds the filters, `poll` fetches and reads listings, `add_to_cart` POSTs one listing's
//! form. `listings` parses any body, for scripts that fetch pages themselves.

use std::sync::Arc;

use mlua::{AnyUserData, Lua, Table, Value};

use super::http::{LuaSession, http_fail, response_table};
use super::{fail, ok, url_arg};
use crate::core::market::{self, MarketError};
use crate::core::pretix::{BUY_MARKER, CartOutcome, Listing, PageState};
use crate::core::session::Session;
use crate::lua::Context;

fn session_of(ud: &AnyUserData) -> mlua::Result<Arc<Session>> {
    Ok(ud
        .borrow::<LuaSession>()
        .map_err(|_| mlua::Error::runtime("expected race.session as the first argument"))?
        .inner
        .clone())
}

pub fn listing_table(lua: &Lua, l: &Listing, page_url: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("id", l.id.as_str())?;
    t.set("title", l.title.as_str())?;
    t.set("price", l.price)?;
    t.set("price_text", l.price_text.as_str())?;
    t.set("currency", l.currency.as_str())?;
    t.set("action", l.action.as_str())?;
    let f = lua.create_table()?;
    for (k, v) in &l.fields {
        f.set(k.as_str(), v.as_str())?;
    }
    t.set("fields", f)?;
    t.set("position", l.position)?;
    t.set("page_url", page_url)?;
    Ok(t)
}

/// A listing table back into a listing. Only buy forms can be POSTed: anything else is misuse.
fn listing_from(t: &Table) -> mlua::Result<Listing> {
    let action: String = t
        .get::<Option<String>>("action")?
        .ok_or_else(|| mlua::Error::runtime("listing has no action (buy URL)"))?;
    let action = url_arg(&action, "a listing's buy URL")?;
    if !action.path().contains(BUY_MARKER) {
        return Err(mlua::Error::runtime(format!(
            "{action} is not a marketplace buy URL: only listings' forms are ever POSTed"
        )));
    }
    let mut fields = Vec::new();
    if let Some(f) = t.get::<Option<Table>>("fields")? {
        for pair in f.pairs::<String, String>() {
            fields.push(pair?);
        }
    }
    Ok(Listing {
        id: t.get::<Option<String>>("id")?.unwrap_or_default(),
        title: t.get::<Option<String>>("title")?.unwrap_or_default(),
        price: t.get("price")?,
        price_text: t.get::<Option<String>>("price_text")?.unwrap_or_default(),
        currency: t.get::<Option<String>>("currency")?.unwrap_or_default(),
        action,
        fields,
        position: t.get::<Option<usize>>("position")?.unwrap_or(0),
    })
}

fn market_fail(lua: &Lua, e: &MarketError) -> mlua::Result<(Value, Value)> {
    let r = fail(lua, e.kind(), e)?;
    if let (MarketError::Status { status, .. }, Value::Table(t)) = (e, &r.1) {
        t.set("status", *status)?;
    }
    Ok(r)
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;

    let c = ctx.clone();
    t.set(
        "discover",
        lua.create_async_function(move |lua, (ud, event_url): (AnyUserData, Option<String>)| {
            let c = c.clone();
            let session = session_of(&ud);
            async move {
                let session = session?;
                let url = match event_url {
                    Some(u) => url_arg(&u, "an event URL")?,
                    None => c.config.event_url(),
                };
                c.waiting();
                let r = market::discover(&session, &url, &c.config.event).await;
                c.waiting();
                match r {
                    Ok(u) => ok(u.as_str(), &lua),
                    Err(e) => market_fail(&lua, &e),
                }
            }
        })?,
    )?;

    t.set(
        "url",
        lua.create_function(|_, (market, q): (String, Option<Table>)| {
            let m = url_arg(&market, "a marketplace URL")?;
            let (item, sort) = match q {
                Some(q) => (
                    q.get::<Option<String>>("item")?,
                    q.get::<Option<String>>("sort")?,
                ),
                None => (None, None),
            };
            Ok(market::filtered_url(&m, item.as_deref(), sort.as_deref()).to_string())
        })?,
    )?;

    let c = ctx.clone();
    t.set(
        "poll",
        lua.create_async_function(move |lua, (ud, url): (AnyUserData, String)| {
            let c = c.clone();
            let session = session_of(&ud);
            async move {
                let session = session?;
                let url = url_arg(&url, "a marketplace URL")?;
                c.waiting();
                let r = market::poll(&session, &url, &c.responses).await;
                c.waiting();
                let p = match r {
                    Ok(p) => p,
                    Err(e) => return http_fail(&lua, &e),
                };
                let page = response_table(&lua, &p.response)?;
                page.set("state", p.page.state.label())?;
                page.set("active", p.page.state == PageState::Open)?;
                page.set("new", p.new_listings)?;
                let list = lua.create_table()?;
                for (i, l) in p.page.listings.iter().enumerate() {
                    list.set(i + 1, listing_table(&lua, l, p.response.url.as_str())?)?;
                }
                page.set("listings", list)?;
                ok(page, &lua)
            }
        })?,
    )?;

    t.set(
        "listings",
        lua.create_function(|lua, (body, base): (mlua::LuaString, String)| {
            let base = url_arg(&base, "the page's URL")?;
            let body = body.to_string_lossy();
            let list = lua.create_table()?;
            for (i, l) in crate::core::pretix::parse_listings(&body, &base)
                .iter()
                .enumerate()
            {
                list.set(i + 1, listing_table(lua, l, base.as_str())?)?;
            }
            Ok(list)
        })?,
    )?;

    let c = ctx.clone();
    t.set(
        "add_to_cart",
        lua.create_async_function(
            move |lua, (ud, lt, referer): (AnyUserData, Table, Option<String>)| {
                let c = c.clone();
                let session = session_of(&ud);
                let listing = listing_from(&lt);
                let referer =
                    referer.or_else(|| lt.get::<Option<String>>("page_url").ok().flatten());
                async move {
                    let (session, listing) = (session?, listing?);
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
                    let res = lua.create_table()?;
                    res.set("status", carted.outcome.label())?;
                    match &carted.outcome {
                        CartOutcome::InCart { checkout_url } => {
                            res.set("checkout_url", checkout_url.as_str())?
                        }
                        CartOutcome::Failed { reason } => res.set("reason", reason.as_str())?,
                        CartOutcome::Lost => {}
                    }
                    if let Some(ch) = &carted.checkout {
                        res.set("expires", ch.expires.clone())?;
                        res.set("items", ch.items.clone())?;
                    }
                    res.set("listing", lt)?;
                    res.set("response", response_table(&lua, &carted.response)?)?;
                    ok(res, &lua)
                }
            },
        )?,
    )?;

    race.set("market", t)
}
