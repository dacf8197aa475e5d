//! `race.session`: the one HTTP session (cookies kept, politeness enforced below it), with
//! `get`, `post` and `cookies`. Strategies that write their own loop start here.

use std::sync::Arc;

use mlua::{Lua, Table, UserData, UserDataMethods, Value};

use super::{fail, ok, url_arg};
use crate::core::cookies::CookieInfo;
use crate::core::session::{HttpError, Response, Session};
use crate::lua::Context;

/// The session as Lua sees it: a handle to the core's session.
pub struct LuaSession {
    pub inner: Arc<Session>,
    pub ctx: Arc<Context>,
}

pub fn response_table(lua: &Lua, r: &Response) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("seq", r.seq)?;
    t.set("status", r.status)?;
    t.set("ok", r.ok())?;
    t.set("url", r.url.as_str())?;
    let h = lua.create_table()?;
    for (k, v) in &r.headers {
        // Repeated headers (Set-Cookie) are joined, as HTTP allows for most.
        let joined = match h.get::<Option<String>>(k.as_str())? {
            Some(prev) => format!("{prev}, {v}"),
            None => v.clone(),
        };
        h.set(k.as_str(), joined)?;
    }
    t.set("headers", h)?;
    t.set("body", lua.create_string(&r.body)?)?;
    t.set("size", r.body.len())?;
    t.set("ttfb", r.ttfb.as_secs_f64())?;
    t.set("ttlb", r.ttlb.as_secs_f64())?;
    t.set("waited", r.waited.as_secs_f64())?;
    t.set("retry_after", r.retry_after.map(|d| d.as_secs_f64()))?;
    t.set("backoff", r.backoff.as_ref().map(|b| b.delay.as_secs_f64()))?;
    Ok(t)
}

pub fn cookie_table(lua: &Lua, c: &CookieInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("name", c.name.as_str())?;
    t.set("value", c.value.as_str())?;
    t.set("domain", c.domain.as_str())?;
    t.set("host_only", c.host_only)?;
    t.set("path", c.path.as_str())?;
    t.set("secure", c.secure)?;
    t.set("http_only", c.http_only)?;
    t.set("same_site", c.same_site.clone())?;
    t.set("expires", c.expires)?;
    Ok(t)
}

pub fn http_fail(lua: &Lua, e: &HttpError) -> mlua::Result<(Value, Value)> {
    fail(lua, e.kind(), e)
}

fn string_pairs(t: Option<Table>) -> mlua::Result<Vec<(String, String)>> {
    let mut v = Vec::new();
    if let Some(t) = t {
        for pair in t.pairs::<String, Value>() {
            let (k, val) = pair?;
            let s = match val {
                Value::String(s) => s.to_string_lossy(),
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "field {k:?}: expected a string or number, got {}",
                        other.type_name()
                    )));
                }
            };
            v.push((k, s));
        }
    }
    Ok(v)
}

/// Per-request headers; the ones only the core sets (User-Agent, Cookie, Host) are misuse.
fn headers_of(opts: &Option<Table>) -> mlua::Result<Vec<(String, String)>> {
    let headers = string_pairs(match opts {
        Some(o) => o.get::<Option<Table>>("headers")?,
        None => None,
    })?;
    crate::core::session::check_headers(&headers)
        .map_err(|e| mlua::Error::runtime(e.to_string()))?;
    Ok(headers)
}

impl UserData for LuaSession {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method(
            "get",
            |lua, this, (url, opts): (String, Option<Table>)| async move {
                let url = url_arg(&url, "a URL")?;
                let headers = headers_of(&opts)?;
                this.ctx.waiting();
                let r = this.inner.get(&url, &headers).await;
                this.ctx.waiting();
                match r {
                    Ok(r) => {
                        crate::log::debug(r.log_line("session:get"));
                        ok(response_table(&lua, &r)?, &lua)
                    }
                    Err(e) => http_fail(&lua, &e),
                }
            },
        );
        m.add_async_method(
            "post",
            |lua, this, (url, form, opts): (String, Option<Table>, Option<Table>)| async move {
                let url = url_arg(&url, "a URL")?;
                let form = string_pairs(form)?;
                let headers = headers_of(&opts)?;
                this.ctx.waiting();
                let r = this.inner.post_form(&url, &form, &headers).await;
                this.ctx.waiting();
                match r {
                    Ok(r) => {
                        crate::log::debug(r.log_line("session:post"));
                        ok(response_table(&lua, &r)?, &lua)
                    }
                    Err(e) => http_fail(&lua, &e),
                }
            },
        );
        m.add_method("cookies", |lua, this, ()| {
            let t = lua.create_table()?;
            for (i, c) in this.inner.cookies().iter().enumerate() {
                t.set(i + 1, cookie_table(lua, c)?)?;
            }
            Ok(t)
        });
    }
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    race.set(
        "session",
        lua.create_userdata(LuaSession {
            inner: ctx.session.clone(),
            ctx: ctx.clone(),
        })?,
    )
}
