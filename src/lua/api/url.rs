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
            let mut u = url_arg(&url, "a URL")?;
            let mut set = super::session::string_pairs(Some(params))?;
            set.sort();
            let keep: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(keep)
                .extend_pairs(set);
            if u.query() == Some("") {
                u.set_query(None);
            }
            Ok(u.to_string())
        })?,
    )?;
    race.set("url", t)
}
