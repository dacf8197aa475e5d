//! `race.json.encode(value)` and `race.json.decode(text)`: JSON for APIs (pretix's widget
//! product list, a webhook's answer) and for state. Text from the network that does not parse is
//! an expected failure (`nil, err` with kind "json"); a value that cannot be JSON raises.

use std::sync::Arc;

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::{fail, ok};
use crate::lua::Context;

/// A Lua value as JSON (a table with keys 1..n is an array, any other an object); functions and
/// userdata raise.
pub fn to_json(v: Value) -> mlua::Result<serde_json::Value> {
    serde_json::to_value(&v).map_err(|e| mlua::Error::runtime(format!("not JSON: {e}")))
}

pub fn from_json(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    lua.to_value_with(
        v,
        SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false),
    )
}

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|_, v: Value| {
            let j = to_json(v)?;
            serde_json::to_string(&j).map_err(|e| mlua::Error::runtime(e.to_string()))
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            match serde_json::from_slice::<serde_json::Value>(&text.as_bytes()) {
                Ok(v) => ok(from_json(lua, &v)?, lua),
                Err(e) => fail(lua, "json", format!("not JSON: {e}")),
            }
        })?,
    )?;
    race.set("json", t)
}
