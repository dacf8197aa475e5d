//! `race.alert`: telling the person. `webhook(url, payload)` POSTs a table as JSON and reports
//! failure as `nil, err` (logged, never fatal).

use std::sync::Arc;

use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::{fail, ok, url_arg};
use crate::lua::Context;

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let c = ctx.clone();
    t.set(
        "webhook",
        lua.create_async_function(move |lua, (url, payload): (String, Value)| {
            let c = c.clone();
            async move {
                let url = url_arg(&url, "a webhook URL")?;
                let json: serde_json::Value = lua.from_value(payload)?;
                c.waiting();
                let r = c.webhook.send(&url, &json).await;
                c.waiting();
                match r {
                    Ok(status) => {
                        crate::log::info(format!("webhook {url}: delivered (HTTP {status})"));
                        ok(true, &lua)
                    }
                    Err(e) => {
                        crate::log::warn(format!("{e}"));
                        fail(&lua, "webhook", e)
                    }
                }
            }
        })?,
    )?;
    race.set("alert", t)
}
