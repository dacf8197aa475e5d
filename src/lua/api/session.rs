//! The session userdata (`race.Session`) and what every operation on a session shares: an HTTP
//! failure as `nil, err`, a form's or headers' string pairs, a cart add's result. A leaf:
//! the API modules that give a session its methods (`http`, `market`, `shop`, `handoff`, joined in
//! `methods`) import from here, never from each other.

use std::sync::Arc;

use mlua::{Lua, Table, Value};

use super::fail;
use super::values::Resp;
use crate::core::market::Carted;
use crate::core::pretix::CartOutcome;
use crate::core::session::{HttpError, Session};
use crate::lua::Context;

/// The session as Lua sees it: a handle to the core's session.
pub struct LuaSession {
    pub inner: Arc<Session>,
    pub ctx: Arc<Context>,
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
pub fn string_pairs(t: Option<Table>) -> mlua::Result<Vec<(String, String)>> {
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

/// A cart add's result (`race.CartResult`), for a listing or a product.
pub fn cart_result(
    lua: &Lua,
    c: &Arc<Context>,
    session: &Arc<Session>,
    carted: &Carted,
) -> mlua::Result<Table> {
    let res = lua.create_table()?;
    res.set("status", carted.outcome.label())?;
    match &carted.outcome {
        CartOutcome::InCart { checkout_url } => res.set("checkout_url", checkout_url.as_str())?,
        CartOutcome::Failed { reason } => res.set("reason", reason.as_str())?,
        CartOutcome::Lost => {}
    }
    if let Some(ch) = &carted.checkout {
        res.set("expires", ch.expires.clone())?;
        res.set("items", ch.items.clone())?;
    }
    if let Some(r) = &carted.response {
        res.set("response", Resp(r))?;
    }
    // The session that holds the cart, to hand it over.
    res.set(
        "session",
        LuaSession {
            inner: session.clone(),
            ctx: c.clone(),
        },
    )?;
    Ok(res)
}
