//! Sessions: `race.session` (the run's default) and `race.new_session()` (another cookie jar, on
//! the same per-shop connections, under the same governor). Every operation is a method: `get`,
//! `post`, `cookies`, `discover`, `poll`, `add_to_cart`, `handoff`, `set_weight`. Strategies that
//! write their own loop start here.

use std::sync::Arc;

use mlua::{AnyUserData, IntoLua, Lua, Table, UserData, UserDataMethods, Value};

use super::values::{Cookies, Resp};
use super::{fail, ok, url_arg};
use crate::core::session::{HttpError, Session};
use crate::lua::Context;

/// The session as Lua sees it: a handle to the core's session.
pub struct LuaSession {
    pub inner: Arc<Session>,
    pub ctx: Arc<Context>,
}

/// The session behind a userdata argument (`race.market.*(session, …)`, `race.handoff`).
pub fn session_of(ud: &AnyUserData) -> mlua::Result<Arc<Session>> {
    Ok(ud
        .borrow::<LuaSession>()
        .map_err(|_| {
            mlua::Error::runtime("expected a session (race.session) as the first argument")
        })?
        .inner
        .clone())
}

pub fn http_fail(lua: &Lua, e: &HttpError) -> mlua::Result<(Value, Value)> {
    let r = fail(lua, e.kind(), e)?;
    if let (true, Value::Table(t)) = (e.is_dns(), &r.1) {
        t.set("dns", true)?;
    }
    Ok(r)
}

/// A table of name -> string/number/boolean as pairs (form fields, headers, query parameters);
/// any other value is misuse.
pub(super) fn string_pairs(t: Option<Table>) -> mlua::Result<Vec<(String, String)>> {
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
                        r.log_at(crate::log::Level::Debug, "session:get");
                        ok(Resp(&r), &lua)
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
                        r.log_at(crate::log::Level::Debug, "session:post");
                        ok(Resp(&r), &lua)
                    }
                    Err(e) => http_fail(&lua, &e),
                }
            },
        );
        m.add_async_method(
            "discover",
            |lua, this, event_url: Option<String>| async move {
                super::market::discover(lua, this.ctx.clone(), this.inner.clone(), event_url).await
            },
        );
        m.add_async_method("poll", |lua, this, url: String| async move {
            super::market::poll(lua, this.ctx.clone(), this.inner.clone(), url).await
        });
        m.add_async_method(
            "add_to_cart",
            |lua, this, (x, extra): (Table, Value)| async move {
                let (c, s) = (this.ctx.clone(), this.inner.clone());
                // A shop's product carries its input's name; a listing does not.
                if x.contains_key("field")? {
                    let opts = match extra {
                        Value::Table(t) => Some(t),
                        _ => None,
                    };
                    return super::shop::add_to_cart(lua, c, s, x, opts).await;
                }
                let referer = match extra {
                    Value::String(r) => Some(r.to_string_lossy()),
                    _ => None,
                };
                super::market::add_to_cart(lua, c, s, x, referer).await
            },
        );
        m.add_async_method(
            "handoff",
            |lua, this, (url, opts): (String, Option<Table>)| async move {
                super::handoff::handoff(lua, this.ctx.clone(), this.inner.clone(), url, opts).await
            },
        );
        m.add_method("cookies", |lua, this, ()| {
            Cookies(&this.inner.cookies()).into_lua(lua)
        });
        // Its share of a busy remote host's polls (see `core::governor`): a whole number, 1 to
        // 1000; anything else is misuse.
        m.add_method("set_weight", |_, this, weight: Value| match weight {
            Value::Integer(w) if (1..=i64::from(crate::config::MAX_WEIGHT)).contains(&w) => {
                this.inner.set_weight(w as u32);
                Ok(())
            }
            Value::Number(w)
                if w.fract() == 0.0
                    && (1.0..=f64::from(crate::config::MAX_WEIGHT)).contains(&w) =>
            {
                this.inner.set_weight(w as u32);
                Ok(())
            }
            other => Err(mlua::Error::runtime(format!(
                "set_weight: expected a whole number from 1 to {}, got {}",
                crate::config::MAX_WEIGHT,
                match other {
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => n.to_string(),
                    v => format!("a {}", v.type_name()),
                }
            ))),
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
    )?;
    let c = ctx.clone();
    race.set(
        "new_session",
        lua.create_function(move |lua, ()| {
            let inner = c
                .session
                .sibling()
                .map_err(|e| mlua::Error::runtime(e.to_string()))?;
            lua.create_userdata(LuaSession {
                inner: Arc::new(inner),
                ctx: c.clone(),
            })
        })?,
    )
}
