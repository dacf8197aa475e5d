//! `race.shop`: a pretix main shop's products, read off an event page (`products(page)`), for
//! strategies that watch for a sold-out product to come back (an expired reservation, a cancelled
//! order, a raised quota).

use std::sync::Arc;

use mlua::{Lua, Table};

use super::url_arg;
use crate::core::shop;
use crate::lua::Context;

fn product_table(lua: &Lua, p: &shop::Product) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("id", p.id.as_str())?;
    t.set("variation", p.variation.clone())?;
    t.set("name", p.name.as_str())?;
    t.set("price", p.price)?;
    t.set("price_text", p.price_text.as_str())?;
    t.set("state", p.state.as_str())?;
    t.set("available", p.available())?;
    t.set("max", p.max)?;
    t.set("field", p.field.as_str())?;
    t.set("action", p.action.as_str())?;
    let f = lua.create_table()?;
    for (k, v) in &p.fields {
        f.set(k.as_str(), v.as_str())?;
    }
    t.set("fields", f)?;
    Ok(t)
}

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "products",
        lua.create_function(|lua, page: Table| {
            let body: mlua::LuaString = page.get("body")?;
            let url = url_arg(&page.get::<String>("url")?, "the page's URL")?;
            let list = lua.create_table()?;
            for (i, p) in shop::products(&body.to_string_lossy(), &url)
                .iter()
                .enumerate()
            {
                list.set(i + 1, product_table(lua, p)?)?;
            }
            Ok(list)
        })?,
    )?;
    race.set("shop", t)
}
