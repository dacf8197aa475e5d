//! Sessions: `race.session` (the run's default) and `race.new_session()` (another cookie jar, on
//! the same per-shop connections, under the same governor), and their plain requests,
//! `session:get` and `session:post`. Strategies that write their own loop start here.

use std::sync::Arc;

use mlua::{Lua, Table, Value};

use super::opts::RequestOpts;
use super::session::{LuaSession, http_fail, string_pairs};
use super::values::Resp;
use super::{fail, ok, url_arg};
use crate::core::session::Session;
use crate::lua::Context;

/// Per-request headers; the ones only the core sets (User-Agent, Cookie, Host) are misuse.
fn headers_of(opts: RequestOpts) -> mlua::Result<Vec<(String, String)>> {
    let headers = string_pairs(opts.headers)?;
    crate::core::session::check_headers(&headers)
        .map_err(|e| mlua::Error::runtime(e.to_string()))?;
    Ok(headers)
}

/// `session:get(url, opts)`.
pub(super) async fn get(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    url: String,
    opts: RequestOpts,
) -> mlua::Result<(Value, Value)> {
    let url = url_arg(&url, "a URL")?;
    let headers = headers_of(opts)?;
    c.waiting();
    let r = session.get(&url, &headers).await;
    c.waiting();
    match r {
        Ok(r) => {
            r.log_at(crate::log::Level::Debug, "session:get");
            ok(Resp(&r), &lua)
        }
        Err(e) => http_fail(&lua, &e),
    }
}

/// `session:post(url, form, opts)`.
pub(super) async fn post(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    url: String,
    form: Option<Table>,
    opts: RequestOpts,
) -> mlua::Result<(Value, Value)> {
    let url = url_arg(&url, "a URL")?;
    let form = string_pairs(form)?;
    let headers = headers_of(opts)?;
    c.waiting();
    let r = session.post_form(&url, &form, &headers).await;
    c.waiting();
    match r {
        Ok(r) => {
            r.log_at(crate::log::Level::Debug, "session:post");
            ok(Resp(&r), &lua)
        }
        Err(e) => http_fail(&lua, &e),
    }
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    race.set(
        "session",
        lua.create_userdata(LuaSession {
            inner: ctx.session.clone(),
            ctx: ctx.clone(),
        })?,
    )?;
    let c = ctx.clone();
    race.set(
        "new_session",
        // What a new session can fail on (its TLS set-up) is an expected failure: `nil, err`.
        lua.create_function(move |lua, args: mlua::MultiValue| {
            super::opts::no_args("race.new_session()", &args)?;
            match c.session.sibling() {
                Ok(inner) => ok(
                    LuaSession {
                        inner: Arc::new(inner),
                        ctx: c.clone(),
                    },
                    lua,
                ),
                Err(e) => fail(lua, "setup", e),
            }
        })?,
    )
}
