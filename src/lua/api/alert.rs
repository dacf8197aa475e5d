//! `race.alert`: telling the person. `event` sends one of the documented events to every channel
//! the user set up (`--webhook`, desktop, `--imessage`); `webhook`, `desktop` and `imessage` are the
//! single channels, for a strategy's own alerts. All deliver in the background, so an alert never
//! holds up the strategy; a channel that cannot work here answers `nil, err` at once.

use std::sync::Arc;

use mlua::{Lua, Table, Value};

use super::opts::WebhookOpts;
use super::{fail, ok, url_arg};
use crate::core::notify::{EVENTS, RESERVED_FIELDS};
use crate::lua::Context;

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;

    let c = ctx.clone();
    t.set(
        "webhook",
        lua.create_async_function(move |lua, (url, payload, opts): (String, Value, Value)| {
            let c = c.clone();
            async move {
                let opts = <WebhookOpts as mlua::FromLua>::from_lua(opts, &lua)?;
                let url = url_arg(&url, "a webhook URL")?;
                let json = super::json::to_json(&lua, &c, payload)?;
                if opts.wait {
                    c.waiting();
                    let r = c.alerts.webhook_now(&url, &json).await;
                    c.waiting();
                    return match r {
                        Ok(()) => ok(true, &lua),
                        Err(e) => fail(&lua, e.kind(), e),
                    };
                }
                match c.alerts.webhook(&url, json) {
                    Ok(()) => ok(true, &lua),
                    Err(e) => fail(&lua, e.kind(), e),
                }
            }
        })?,
    )?;

    let c = ctx.clone();
    t.set(
        "desktop",
        lua.create_function(move |lua, (title, text): (String, String)| {
            c.alerts.desktop(&title, &text);
            ok(true, lua)
        })?,
    )?;

    let c = ctx.clone();
    t.set(
        "imessage",
        lua.create_function(move |lua, (to, text): (String, String)| {
            match c.alerts.imessage_from_script(&to, &text) {
                Ok(()) => ok(true, lua),
                Err(e) => fail(lua, "imessage", e),
            }
        })?,
    )?;

    let c = ctx.clone();
    t.set(
        "event",
        lua.create_function(move |lua, (name, fields): (String, Option<Table>)| {
            if !EVENTS.contains(&name.as_str()) {
                return Err(mlua::Error::runtime(format!(
                    "unknown event {name:?}: one of {}",
                    EVENTS.join(", ")
                )));
            }
            let fields = match fields {
                Some(f) => match super::json::to_json(lua, &c, Value::Table(f))? {
                    serde_json::Value::Object(m) => m,
                    serde_json::Value::Array(a) if a.is_empty() => serde_json::Map::new(),
                    _ => {
                        return Err(mlua::Error::runtime(
                            "event fields must be a table of named fields",
                        ));
                    }
                },
                None => serde_json::Map::new(),
            };
            if let Some(k) = RESERVED_FIELDS.iter().find(|k| fields.contains_key(**k)) {
                return Err(mlua::Error::runtime(format!(
                    "event field {k:?} is set by pretix-race: {} cannot be overridden",
                    RESERVED_FIELDS.join(", ")
                )));
            }
            c.alerts.event(&name, fields);
            Ok(())
        })?,
    )?;

    race.set("alert", t)
}
