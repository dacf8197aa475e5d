//! The `race` API, one file per area. [`AREAS`] is the one list of what is registered; the LuaLS
//! stubs in `scripts/types/race.lua` document the same names, and a test holds the two together.
//!
//! One failure rule, as the stubs state it once: an expected failure (the network, no marketplace
//! link, a dry run, a refusal, a store write, a session's set-up) returns `nil, err`, where `err` is
//! a table with `kind` and `message` that prints as its message; misuse (wrong argument types, an
//! unknown option key, a relative URL, a table that is no listing or product) raises.
//!
//! Modules: `session` (the session userdata and what its operations share) is a leaf; `http`,
//! `market`, `shop` and `handoff` implement the operations, `methods` joins them into the
//! userdata, `opts` reads every option table, `removed` answers the names earlier releases had.

mod alert;
mod decision;
mod handoff;
mod html;
mod http;
mod json;
mod log;
mod market;
mod methods;
mod options;
mod opts;
mod removed;
mod session;
mod shop;
mod stats;
mod store;
mod task;
mod time;
mod url;
mod values;

use std::sync::Arc;

use mlua::{ErrorContext, Lua, Table, Value};

use super::Context;
pub use decision::Reports;
pub use values::MemoryCap;

pub use options::{OPTION_FIELDS, set_targets};
pub use opts::{TARGET_KEYS, TargetEntry, a as opts_a, shown as opts_shown};

pub type Register = fn(&Lua, &Table, &Arc<Context>) -> mlua::Result<()>;

/// Every API area, in registration order.
pub const AREAS: &[(&str, Register)] = &[
    ("options", options::register),
    ("log", log::register),
    ("time", time::register),
    ("http", http::register),
    ("market", market::register),
    ("shop", shop::register),
    ("html", html::register),
    ("json", json::register),
    ("url", url::register),
    ("store", store::register),
    ("alert", alert::register),
    ("stats", stats::register),
    ("decision_error", decision::register),
    ("tasks", task::register),
];

pub fn register_all(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    race.set("version", env!("CARGO_PKG_VERSION"))?;
    let mt = lua.create_table()?;
    mt.set(
        "__tostring",
        lua.create_function(|_, t: Table| t.get::<String>("message"))?,
    )?;
    lua.set_named_registry_value("race.error_mt", mt)?;
    for (name, register) in AREAS {
        register(lua, race, ctx).map_err(|e| e.context(format!("registering race.{name}")))?;
    }
    removed::register(lua, race)?;
    // For the tests (what a panic must not lose; the methods a userdata really has, which its
    // protected metatable hides from scripts): never registered in a normal run.
    if std::env::var_os("PRETIX_RACE_TEST_HOOKS").is_some() {
        race.set(
            "_test_panic",
            lua.create_function(|_, ()| -> mlua::Result<()> { panic!("test panic") })?,
        )?;
        let c = ctx.clone();
        race.set(
            "_test_close_early_browser",
            lua.create_async_function(move |_, ()| {
                let c = c.clone();
                async move { Ok(c.early.close_window().await) }
            })?,
        )?;
        race.set(
            "_test_methods",
            lua.create_function(|lua, ud: mlua::AnyUserData| {
                let names = lua.create_table()?;
                if let Value::Table(index) = ud.metatable()?.get::<Value>("__index")? {
                    for pair in index.pairs::<String, Value>() {
                        let (k, _) = pair?;
                        names.push(k)?;
                    }
                }
                Ok(names)
            })?,
        )?;
    }
    Ok(())
}

/// `nil, err` for an expected failure.
pub fn fail(
    lua: &Lua,
    kind: &str,
    message: impl std::fmt::Display,
) -> mlua::Result<(Value, Value)> {
    let err = lua.create_table()?;
    err.set("kind", kind)?;
    err.set("message", message.to_string())?;
    err.set_metatable(Some(lua.named_registry_value::<Table>("race.error_mt")?))?;
    Ok((Value::Nil, Value::Table(err)))
}

/// `value, nil` for success.
pub fn ok(v: impl mlua::IntoLua, lua: &Lua) -> mlua::Result<(Value, Value)> {
    Ok((v.into_lua(lua)?, Value::Nil))
}

/// A `base_url` argument of `call` (what a page's relative links resolve against): an absolute
/// URL, such as the page's own (`page.url`). Anything else raises here, at the caller's line,
/// before it could turn into advice about relative links later.
pub fn base_arg(v: &Value, call: &str) -> mlua::Result<::url::Url> {
    let bad = || {
        mlua::Error::runtime(format!(
            "{call}: base_url must be an absolute URL like https://tickets.example.com/org/event/ (the page's own: page.url), got {}",
            opts::shown(v)
        ))
    };
    let Value::String(s) = v else {
        return Err(bad());
    };
    match ::url::Url::parse(s.to_str()?.trim()) {
        Ok(u) if !u.cannot_be_a_base() && u.has_host() => Ok(u),
        _ => Err(bad()),
    }
}

/// Parses a URL argument; a bad one is misuse and raises, naming the input.
///
/// A watch passes the same URL on every poll, so the last one parsed is kept and cloned when it
/// comes again (a clone is a copy; a parse runs the host through IDNA).
pub fn url_arg(s: &str, what: &str) -> mlua::Result<::url::Url> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, ::url::Url)>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(u) = LAST.with_borrow(|last| {
        last.as_ref()
            .and_then(|(text, url)| (text == s).then(|| url.clone()))
    }) {
        return Ok(u);
    }
    let url = ::url::Url::parse(s).map_err(|e| match e {
        ::url::ParseError::RelativeUrlWithoutBase => mlua::Error::runtime(format!(
            "{s:?} is a relative URL: resolve it with el:url(\"href\") or race.url.join(base, …)"
        )),
        e => mlua::Error::runtime(format!("{e} while parsing {s:?} as {what}")),
    })?;
    LAST.set(Some((s.to_string(), url.clone())));
    Ok(url)
}
