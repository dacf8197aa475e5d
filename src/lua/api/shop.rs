//! A pretix main shop, for strategies that watch for a sold-out product to come back (an expired
//! reservation, a cancelled order, a raised quota): `session:poll_shop(event_url)` reads an event
//! page's products, `session:add_to_cart(product, { count = n })` adds one; `race.shop` holds the
//! pure functions on a page (`products`, `voucher_url`, `error_message`, `links_below`).

use std::sync::Arc;

use mlua::{FromLua, Lua, Table, Value};

use super::opts::ProductOpts;
use super::session::{cart_result, http_fail};
use super::values::{CartProduct, ProductOut, Resp};
use super::{ok, url_arg};
use crate::core::session::Session;
use crate::core::shop;
use crate::lua::Context;

/// `session:add_to_cart(product, { count = n })`.
pub(super) async fn add_to_cart(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    pt: Table,
    opts: ProductOpts,
) -> mlua::Result<(Value, Value)> {
    let CartProduct(product) = CartProduct::from_lua(Value::Table(pt.clone()), &lua)?;
    // A product the page shows as not buyable (sold out, reserved, not yet on sale, …) would be
    // refused: no cart POST is made for it (the shop is not pestered; no race is "lost").
    if !product.available() {
        return super::fail(
            &lua,
            "unavailable",
            format!(
                "{} is {} on the page: pretix would refuse it, so no cart add was sent (add only products whose `available` is true)",
                product.name,
                shop::State::from_name(&product.state).map_or("not available", |s| s.words())
            ),
        );
    }
    // The shop's own limit (the input's `max`: what one order may hold, or what is left) caps
    // the count; the log says so, and the result says what was asked for (`requested`).
    let requested = opts.count;
    let max = product.max.unwrap_or(1).max(1);
    let count = requested.min(max);
    if count < requested {
        crate::log::warn(format!(
            "{}: asked for {requested}, one order may hold {max}: asking for {count}",
            product.name
        ));
    }
    c.waiting();
    let r = shop::add_to_cart(&session, &product, count, &c.responses).await;
    c.waiting();
    let carted = match r {
        Ok(x) => x,
        Err(e) => return http_fail(&lua, &e),
    };
    let res = cart_result(&lua, &c, &session, &carted)?;
    res.set("product", pt)?;
    // What the shop really reserved, where its checkout row says (pretix adds in part when its
    // quota has fewer left than the page showed).
    res.set("count", carted.reserved.filter(|&n| n > 0).unwrap_or(count))?;
    res.set("requested", requested)?;
    ok(res, &lua)
}

/// `session:poll_shop(event_url)`: the event page once, and its products.
pub(super) async fn poll(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    url: String,
) -> mlua::Result<(Value, Value)> {
    let url = url_arg(&url, "an event page URL")?;
    c.waiting();
    let r = shop::poll(&session, &url, &c.responses).await;
    c.waiting();
    let looked = match r {
        Ok(l) => l,
        Err(e) => return http_fail(&lua, &e),
    };
    for p in looked.products.iter().filter(|p| p.available()) {
        c.net
            .stats
            .see_product(&format!("{}/{:?}", p.id, p.variation));
    }
    let page = Resp(&looked.response).table(&lua)?;
    page.set(
        "products",
        lua.create_sequence_from(looked.products.iter().map(ProductOut))?,
    )?;
    page.set("recognised", looked.recognised)?;
    ok(page, &lua)
}

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "products",
        lua.create_function(|lua, page: Table| {
            let body: mlua::LuaString = page.get("body")?;
            let url = url_arg(&page.get::<String>("url")?, "the page's URL")?;
            let found = shop::products(&body.to_string_lossy(), &url);
            lua.create_sequence_from(found.iter().map(ProductOut))
        })?,
    )?;
    t.set(
        "voucher_url",
        lua.create_function(|_, (event, code): (String, String)| {
            let event = url_arg(&event, "an event page URL")?;
            Ok(crate::core::pretix::voucher_url(&event, &code).to_string())
        })?,
    )?;
    t.set(
        "error_message",
        lua.create_function(|_, page: Table| {
            let body: mlua::LuaString = page.get("body")?;
            Ok(shop::error_message(&body.to_string_lossy()))
        })?,
    )?;
    t.set(
        "links_below",
        lua.create_function(|lua, page: Table| {
            let body: mlua::LuaString = page.get("body")?;
            let url = url_arg(&page.get::<String>("url")?, "the page's URL")?;
            let found = shop::links_below(&body.to_string_lossy(), &url);
            lua.create_sequence_from(
                found
                    .into_iter()
                    .map(|b| {
                        let t = lua.create_table()?;
                        t.raw_set("id", b.segment)?;
                        t.raw_set("name", b.name)?;
                        t.raw_set("date", b.date)?;
                        Ok::<_, mlua::Error>(t)
                    })
                    .collect::<mlua::Result<Vec<_>>>()?,
            )
        })?,
    )?;
    race.set("shop", t)
}
