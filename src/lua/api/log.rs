//! `race.log.debug/info/warn/error(fmt, ...)`: the tool's own log (stderr, timestamped). With more
//! than one argument the first is a `string.format` pattern.

use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::log::Level;
use crate::lua::Context;

fn message(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    if args.len() > 1 {
        let format: Function = lua.globals().get::<Table>("string")?.get("format")?;
        return format.call::<String>(args);
    }
    Ok(match args.into_iter().next() {
        Some(Value::String(s)) => s.to_string_lossy(),
        Some(v) => v.to_string()?,
        None => String::new(),
    })
}

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    for (name, level) in [
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("warn", Level::Warn),
        ("error", Level::Error),
    ] {
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                if crate::log::enabled(level) {
                    crate::log::log(level, &message(lua, args)?);
                }
                Ok(())
            })?,
        )?;
    }
    race.set("log", t)
}
