//! `race.url.join(base, relative)` and `race.url.query(url, params)`: building URLs the way a
//! browser resolves links, without string surgery.

use std::sync::Arc;

use mlua::{Lua, Table};

use super::url_arg;
use crate::lua::Context;

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "join",
        lua.create_function(|_, (base, rel): (String, String)| {
            let base = url_arg(&base, "a base URL")?;
            base.join(rel.trim())
                .map(|u| u.to_string())
                .map_err(|e| mlua::Error::runtime(format!("{e} while joining {rel:?} to {base}")))
        })?,
    )?;
    t.set(
        "query",
        lua.create_function(|_, (url, params): (String, Table)| {
            let u = url_arg(&url, "a URL")?;
            let mut set = super::session::string_pairs(Some(params))?;
            set.sort();
            let names: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
            let add = set.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            Ok(crate::core::web::rewrite_query(&u, &names, add).to_string())
        })?,
    )?;
    race.set("url", t)
}
