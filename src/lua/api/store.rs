//! `race.store.get(key)` and `race.store.set(key, value)`: a little state that survives a restart
//! (what a dry run already announced, a counter, a deadline), as one JSON file under the state
//! directory (`--state-dir`, default beside `--log-dir`). Every `set` rewrites the file atomically
//! (a new temporary file renamed over it), created 0600, never through a link. A `set` that cannot
//! write is `nil, err` (kind "store") and keeps nothing; a value JSON cannot hold raises.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mlua::{Lua, Table, Value};

use super::json::{from_json, to_json};
use super::{fail, ok};
use crate::lua::Context;

struct Store {
    file: PathBuf,
    data: Mutex<Option<serde_json::Map<String, serde_json::Value>>>,
}

impl Store {
    fn with<R>(&self, f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> R) -> R {
        let mut data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let map = data.get_or_insert_with(|| {
            std::fs::read(&self.file)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        });
        f(map)
    }

    fn save(&self, map: &serde_json::Map<String, serde_json::Value>) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(map).map_err(std::io::Error::other)?;
        // A new temporary file (never an existing one, never through a link), then renamed
        // over the store: the rename replaces a name, it follows no link planted there.
        let tmp = crate::core::cookies::write_private_free(
            |n| {
                self.file
                    .with_extension(format!("json.{}-{n}.tmp", std::process::id()))
            },
            &text,
        )?;
        std::fs::rename(&tmp, &self.file)
    }
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let store = Arc::new(Store {
        file: ctx.config.state_dir.join("store.json"),
        data: Mutex::new(None),
    });
    let t = lua.create_table()?;
    let s = store.clone();
    t.set(
        "get",
        lua.create_function(move |lua, key: Value| {
            let key = key_of(key)?;
            match s.with(|m| m.get(&key).cloned()) {
                Some(v) => from_json(lua, &v),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    let s = store;
    let ctx = ctx.clone();
    t.set(
        "set",
        lua.create_function(move |lua, (key, value): (Value, Value)| {
            let key = key_of(key)?;
            // A value JSON cannot hold is misuse (raised by to_json); a write that fails is
            // an expected failure, and the value is not kept (the store says what is on disk).
            let v = to_json(lua, &ctx, value)?;
            let saved = s.with(|m| {
                let before = m.clone();
                if v.is_null() {
                    m.remove(&key);
                } else {
                    m.insert(key.clone(), v);
                }
                let r = s.save(m);
                if r.is_err() {
                    *m = before;
                }
                r
            });
            match saved {
                Ok(()) => ok(true, lua),
                Err(e) => fail(
                    lua,
                    "store",
                    format!("could not save the state to {}: {e}", s.file.display()),
                ),
            }
        })?,
    )?;
    race.set("store", t)
}

/// A store key: a string, as written (a number is not turned into one: `set(42, …)` and
/// `get("42")` naming the same entry would surprise).
fn key_of(key: Value) -> mlua::Result<String> {
    match key {
        Value::String(s) => Ok(s.to_str()?.to_string()),
        other => Err(mlua::Error::runtime(format!(
            "race.store keys are strings: got {}; write it as a string",
            match &other {
                Value::Integer(_) | Value::Number(_) | Value::Boolean(_) => format!(
                    "{} (a {})",
                    super::opts::shown(&other),
                    if other.is_boolean() {
                        "boolean"
                    } else {
                        "number"
                    }
                ),
                v => super::opts::shown(v),
            }
        ))),
    }
}
