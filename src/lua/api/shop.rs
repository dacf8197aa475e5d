//! `race.shop`: a pretix main shop's products, read off an event page (`products(page)`), and
//! adding one to the cart (`session:add_to_cart(product, { count = n })`, or
//! `race.shop.add_to_cart(session, product, opts)`), for strategies that watch for a sold-out
//! product to come back (an expired reservation, a cancelled order, a raised quota).

use std::sync::Arc;

use mlua::{AnyUserData, FromLua, Lua, Table, Value};

use super::http::{http_fail, session_of};
use super::values::{CartProduct, ProductOut, Resp};
use super::{ok, url_arg};
use crate::core::session::Session;
use crate::core::shop;
use crate::lua::Context;

/// `session:add_to_cart(product, { count = n })` and `race.shop.add_to_cart(session, product, opts)`.
pub(super) async fn add_to_cart(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    pt: Table,
    opts: Option<Table>,
) -> mlua::Result<(Value, Value)> {
    let CartProduct(product) = CartProduct::from_lua(Value::Table(pt.clone()), &lua)?;
    let count = match &opts {
        Some(o) => o.get::<Option<u32>>("count")?.unwrap_or(1),
        None => 1,
    };
    // The shop's own limit (the input's `max`: what one order may hold, or what is left) caps
    // the count; the result says when it did (`requested`), and the log says so at the cart.
    let requested = count.max(1);
    let count = count.clamp(1, product.max.unwrap_or(1).max(1));
    if count < requested {
        crate::log::info(format!(
            "{}: the shop offers at most {count} now, so {count} of {requested} is asked for",
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
    let res = super::market::cart_result(&lua, &c, &session, &carted)?;
    res.set("product", pt)?;
    res.set("count", count)?;
    res.set("requested", requested)?;
    ok(res, &lua)
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
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
    let c = ctx.clone();
    t.set(
        "poll",
        lua.create_async_function(move |lua, (ud, url): (AnyUserData, String)| {
            let (c, session) = (c.clone(), session_of(&ud));
            async move {
                let session = session?;
                let url = url_arg(&url, "an event page URL")?;
                c.waiting();
                let r = shop::poll(&session, &url, &c.responses).await;
                c.waiting();
                let looked = match r {
                    Ok(l) => l,
                    Err(e) => return http_fail(&lua, &e),
                };
                let page = Resp(&looked.response).table(&lua)?;
                page.set(
                    "products",
                    lua.create_sequence_from(looked.products.iter().map(ProductOut))?,
                )?;
                ok(page, &lua)
            }
        })?,
    )?;
    let c = ctx.clone();
    t.set(
        "add_to_cart",
        lua.create_async_function(
            move |lua, (ud, pt, opts): (AnyUserData, Table, Option<Table>)| {
                let (c, session) = (c.clone(), session_of(&ud));
                async move { add_to_cart(lua, c, session?, pt, opts).await }
            },
        )?,
    )?;
    race.set("shop", t)
}
