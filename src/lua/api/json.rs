//! `race.json.encode(value)` and `race.json.decode(text)`: JSON for APIs (pretix's widget
//! product list, a webhook's answer) and for state. Text from the network that does not parse is
//! an expected failure (`nil, err` with kind "json"); a value that cannot be JSON raises.
//!
//! The decoded tree lives outside Lua's allocator until it is copied in, so before decoding its
//! size, at most [`JSON_TREE_FACTOR`] times the text, must fit under `--memory-limit-mb` beside
//! what the script holds, else `nil, err` with kind "memory". serde_json refuses nesting deeper
//! than 128 itself.

use std::sync::Arc;

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::{fail, ok};
use crate::lua::Context;

/// A Lua value as JSON (a table with keys 1..n is an array, any other an object); functions and
/// userdata raise. The tree is built outside Lua's allocator, and one Lua string held by many
/// tables becomes many copies: so the value is measured first (each string counted every time it
/// is reached, nesting to [`MAX_DEPTH`]) and raises unless its JSON fits in what is left under
/// `--memory-limit-mb` (`ctx`'s cap less what the script holds). A value too large is the
/// script's error, never an aborted process holding a cart.
pub fn to_json(lua: &Lua, ctx: &Context, v: Value) -> mlua::Result<serde_json::Value> {
    let cap = ctx.config.memory_limit_mb.saturating_mul(1024 * 1024);
    // The tree and the text made from it.
    let mut left = cap.saturating_sub(lua.used_memory()) / 2;
    measure(&v, &mut left, 0)?;
    serde_json::to_value(&v).map_err(|e| mlua::Error::runtime(format!("not JSON: {e}")))
}

/// How deep a value may nest to become JSON (serde_json reads no deeper).
pub const MAX_DEPTH: usize = 128;

/// Takes `v`'s JSON size (with a tree node's overhead per value) from `left`; raises when it
/// runs out or `v` nests deeper than [`MAX_DEPTH`] (a table that holds itself, for one).
fn measure(v: &Value, left: &mut usize, depth: usize) -> mlua::Result<()> {
    const NODE: usize = 48;
    let cost = match v {
        Value::String(s) => s.as_bytes().len() + NODE,
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err(mlua::Error::runtime(format!(
                    "not JSON: nested deeper than {MAX_DEPTH} tables (or a table that holds itself)"
                )));
            }
            // A list with holes or with named keys beside its entries would be written as a
            // shorter list (the rest silently left out): neither an array nor an object.
            let len = t.raw_len();
            let (mut named, mut outside) = (false, false);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                match &k {
                    Value::Integer(i) if *i >= 1 && (*i as usize) <= len => {}
                    Value::Integer(_) | Value::Number(_) => outside = true,
                    _ => named = true,
                }
                measure(&k, left, depth + 1)?;
                measure(&v, left, depth + 1)?;
            }
            if len > 0 && outside {
                return Err(mlua::Error::runtime(
                    "not JSON: a list with holes (an entry after a nil) would lose its later entries: fill the holes (e.g. with false) or use string keys",
                ));
            }
            if len > 0 && named {
                return Err(mlua::Error::runtime(
                    "not JSON: a table with both list entries and named keys is neither a JSON array nor an object: put the list under a key of its own",
                ));
            }
            NODE
        }
        Value::Number(n) if !n.is_finite() => {
            return Err(mlua::Error::runtime(format!(
                "not JSON: {n} is no JSON number (JSON has no infinity or NaN)"
            )));
        }
        _ => NODE,
    };
    *left = left.checked_sub(cost).ok_or_else(|| {
        mlua::Error::runtime(
            "not JSON: the value is too large to write out under --memory-limit-mb",
        )
    })?;
    Ok(())
}

pub fn from_json(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    lua.to_value_with(
        v,
        SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false),
    )
}

/// A decoded JSON value takes at most about this many times its text: a `serde_json::Value` is
/// 32 bytes, and the densest text (`[0,0,…]`) spends 2 bytes on one.
pub const JSON_TREE_FACTOR: usize = 32;

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let cap = ctx.config.memory_limit_mb.saturating_mul(1024 * 1024);
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function({
            let ctx = ctx.clone();
            move |lua, v: Value| {
                let j = to_json(lua, &ctx, v)?;
                serde_json::to_string(&j).map_err(|e| mlua::Error::runtime(e.to_string()))
            }
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(move |lua, text: mlua::LuaString| {
            let need = text.as_bytes().len().saturating_mul(JSON_TREE_FACTOR);
            if lua.used_memory().saturating_add(need) > cap {
                return fail(
                    lua,
                    "memory",
                    format!(
                        "no room to decode {} bytes of JSON under --memory-limit-mb {}",
                        text.as_bytes().len(),
                        cap / (1024 * 1024)
                    ),
                );
            }
            match serde_json::from_slice::<serde_json::Value>(&text.as_bytes()) {
                Ok(v) => ok(from_json(lua, &v)?, lua),
                Err(e) => fail(lua, "json", format!("not JSON: {e}")),
            }
        })?,
    )?;
    race.set("json", t)
}
