//! The core's values as Lua sees them, and back: `IntoLua` for answers, listings and cookies,
//! `FromLua` for a listing a strategy hands back to be bought. One place decides each table's
//! shape; the stubs' `---@field` lines document it, and a test holds the two together.

use std::borrow::Cow;

use mlua::{FromLua, IntoLua, Lua, Table, Value};

use super::url_arg;
use crate::core::cookies::CookieInfo;
use crate::core::pretix::{BUY_MARKER, Listing};
use crate::core::session::Response;
use crate::core::shop::Product;

/// An answer (`race.Response`).
pub struct Resp<'a>(pub &'a Response);

impl Resp<'_> {
    pub fn table(self, lua: &Lua) -> mlua::Result<Table> {
        self.table_with(lua, &[], Value::Nil)
    }

    /// The answer's table with `extra` fields (a poll's page adds its state and listings);
    /// [`Field::Arg`] among them stands for `arg`.
    pub fn table_with(self, lua: &Lua, extra: &[(&str, Field)], arg: Value) -> mlua::Result<Table> {
        let r = self.0;
        // Repeated headers (Set-Cookie) are joined, as HTTP allows for most.
        let mut headers: Vec<(&str, Cow<str>)> = Vec::with_capacity(r.headers.len());
        for (k, v) in &r.headers {
            match headers.iter_mut().find(|(n, _)| *n == k.as_str()) {
                Some((_, joined)) => {
                    let j = joined.to_mut();
                    j.push_str(", ");
                    j.push_str(v);
                }
                None => headers.push((k.as_str(), Cow::Borrowed(v.as_str()))),
            }
        }
        let secs =
            |d: Option<std::time::Duration>| d.map_or(Field::Nil, |d| Field::Num(d.as_secs_f64()));
        let fields = [
            ("seq", Field::Int(r.seq as i64)),
            ("status", Field::Int(i64::from(r.status))),
            ("ok", Field::Bool(r.ok())),
            ("url", Field::Str(r.url.as_str().as_bytes())),
            ("headers", Field::Map(&headers)),
            ("body", Field::Str(&r.body)),
            ("size", Field::Int(r.body.len() as i64)),
            ("ttfb", Field::Num(r.ttfb.as_secs_f64())),
            ("ttlb", Field::Num(r.ttlb.as_secs_f64())),
            ("waited", Field::Num(r.waited.as_secs_f64())),
            ("retry_after", secs(r.retry_after)),
            ("backoff", secs(r.backoff.as_ref().map(|b| b.delay))),
        ];
        fields_table(lua, &[&fields, extra], arg)
    }
}

/// A plain value for [`fields_table`].
pub enum Field<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    /// A Lua string (any bytes).
    Str(&'a [u8]),
    /// A table of string fields.
    Map(&'a [(&'a str, Cow<'a, str>)]),
    /// An empty table.
    Empty,
    /// The value passed to [`fields_table`] as `arg`.
    Arg,
}

/// A fresh table of `fields` (no metatable), built in one protected call into the VM.
///
/// This runs on every poll: through `Table::raw_set`, each of a page's ~25 fields cost a protected
/// call of its own, a tenth of a poll's CPU. Inside the call nothing owns memory (everything is
/// borrowed), so a Lua error (out of memory) that unwinds through it leaks nothing.
pub fn fields_table(lua: &Lua, fields: &[&[(&str, Field)]], arg: Value) -> mlua::Result<Table> {
    use mlua::ffi;
    use std::ffi::c_int;
    unsafe fn push_str(state: *mut ffi::lua_State, s: &[u8]) {
        // SAFETY: the pointer and length describe `s`; Lua copies the bytes.
        unsafe { ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len()) };
    }
    let n: usize = fields.iter().map(|f| f.len()).sum();
    // SAFETY: the closure runs as a C function in a protected call, `arg` at index 1 and the
    // 20 free stack slots Lua gives every C function; it uses at most 5 (table, key, value,
    // inner key and value), each pair consumed by `lua_rawset`, and leaves exactly the table,
    // in `arg`'s slot.
    unsafe {
        lua.exec_raw::<Table>(arg, |state| {
            ffi::lua_createtable(state, 0, n as c_int);
            let t = ffi::lua_gettop(state);
            for (key, value) in fields.iter().flat_map(|f| f.iter()) {
                push_str(state, key.as_bytes());
                match value {
                    Field::Nil => {
                        ffi::lua_pop(state, 1);
                        continue;
                    }
                    Field::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
                    Field::Int(i) => ffi::lua_pushinteger(state, *i),
                    Field::Num(x) => ffi::lua_pushnumber(state, *x),
                    Field::Str(s) => push_str(state, s),
                    Field::Map(m) => {
                        ffi::lua_createtable(state, 0, m.len() as c_int);
                        for (k, v) in m.iter() {
                            push_str(state, k.as_bytes());
                            push_str(state, v.as_bytes());
                            ffi::lua_rawset(state, -3);
                        }
                    }
                    Field::Empty => ffi::lua_createtable(state, 0, 0),
                    Field::Arg => ffi::lua_pushvalue(state, 1),
                }
                ffi::lua_rawset(state, t);
            }
            ffi::lua_replace(state, 1);
        })
    }
}

impl IntoLua for Resp<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        self.table(lua).map(Value::Table)
    }
}

/// A cookie with its attributes (`race.Cookie`).
pub struct Cookie<'a>(pub &'a CookieInfo);

impl IntoLua for Cookie<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        let c = self.0;
        let t = lua.create_table()?;
        t.raw_set("name", c.name.as_str())?;
        t.raw_set("value", c.value.as_str())?;
        t.raw_set("domain", c.domain.as_str())?;
        t.raw_set("host_only", c.host_only)?;
        t.raw_set("path", c.path.as_str())?;
        t.raw_set("secure", c.secure)?;
        t.raw_set("http_only", c.http_only)?;
        t.raw_set("same_site", c.same_site.clone())?;
        t.raw_set("expires", c.expires)?;
        Ok(Value::Table(t))
    }
}

/// Every cookie, as a list.
pub struct Cookies<'a>(pub &'a [CookieInfo]);

impl IntoLua for Cookies<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        lua.create_sequence_from(self.0.iter().map(Cookie))
            .map(Value::Table)
    }
}

/// A listing found on `page_url` (`race.Listing`).
pub struct ListingOut<'a>(pub &'a Listing, pub &'a str);

impl IntoLua for ListingOut<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        let (l, page_url) = (self.0, self.1);
        let t = lua.create_table()?;
        t.raw_set("id", l.id.as_str())?;
        t.raw_set("title", l.title.as_str())?;
        t.raw_set("price", l.price)?;
        t.raw_set("price_text", l.price_text.as_str())?;
        t.raw_set("currency", l.currency.as_str())?;
        t.raw_set("action", l.action.as_str())?;
        let f = lua.create_table()?;
        for (k, v) in &l.fields {
            f.raw_set(k.as_str(), v.as_str())?;
        }
        t.raw_set("fields", f)?;
        t.raw_set("position", l.position)?;
        t.raw_set("page_url", page_url)?;
        Ok(Value::Table(t))
    }
}

/// The listings of a page, as a list.
pub struct Listings<'a>(pub &'a [Listing], pub &'a str);

impl IntoLua for Listings<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        let page_url = self.1;
        lua.create_sequence_from(self.0.iter().map(|l| ListingOut(l, page_url)))
            .map(Value::Table)
    }
}

/// A listing a strategy hands back to be bought. Only buy forms can be POSTed: any other
/// action is misuse and raises.
pub struct BuyListing(pub Listing);

impl FromLua for BuyListing {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Self> {
        let Value::Table(t) = value else {
            return Err(mlua::Error::runtime(format!(
                "expected a listing (a table from page.listings), got {}",
                value.type_name()
            )));
        };
        let action: String = t
            .get::<Option<String>>("action")?
            .ok_or_else(|| mlua::Error::runtime("listing has no action (buy URL)"))?;
        let action = url_arg(&action, "a listing's buy URL")?;
        if !action.path().contains(BUY_MARKER) {
            return Err(mlua::Error::runtime(format!(
                "{action} is not a marketplace buy URL: only listings' forms are ever POSTed"
            )));
        }
        let mut fields = Vec::new();
        if let Some(f) = t.get::<Option<Table>>("fields")? {
            for pair in f.pairs::<String, String>() {
                fields.push(pair?);
            }
        }
        Ok(BuyListing(Listing {
            id: t.get::<Option<String>>("id")?.unwrap_or_default(),
            title: t.get::<Option<String>>("title")?.unwrap_or_default(),
            price: t.get("price")?,
            price_text: t.get::<Option<String>>("price_text")?.unwrap_or_default(),
            currency: t.get::<Option<String>>("currency")?.unwrap_or_default(),
            action,
            fields,
            position: t.get::<Option<usize>>("position")?.unwrap_or(0),
        }))
    }
}

/// A main shop's product (`race.Product`).
pub struct ProductOut<'a>(pub &'a Product);

impl IntoLua for ProductOut<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        let p = self.0;
        let t = lua.create_table()?;
        t.raw_set("id", p.id.as_str())?;
        t.raw_set("variation", p.variation.clone())?;
        t.raw_set("name", p.name.as_str())?;
        t.raw_set("price", p.price)?;
        t.raw_set("price_text", p.price_text.as_str())?;
        t.raw_set("state", p.state.as_str())?;
        t.raw_set("available", p.available())?;
        t.raw_set("max", p.max)?;
        t.raw_set("field", p.field.as_str())?;
        t.raw_set("action", p.action.as_str())?;
        let f = lua.create_table()?;
        for (k, v) in &p.fields {
            f.raw_set(k.as_str(), v.as_str())?;
        }
        t.raw_set("fields", f)?;
        Ok(Value::Table(t))
    }
}

/// A product a strategy hands back to be added. Only a shop's `cart/add` form can be POSTed,
/// and only an `item_…`/`variation_…` field set: anything else is misuse and raises.
pub struct CartProduct(pub Product);

impl FromLua for CartProduct {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Self> {
        let Value::Table(t) = value else {
            return Err(mlua::Error::runtime(format!(
                "expected a product (a table from race.shop.products), got {}",
                value.type_name()
            )));
        };
        let text = |k: &str| -> mlua::Result<String> {
            Ok(t.get::<Option<String>>(k)?.unwrap_or_default())
        };
        let action = url_arg(&text("action")?, "a product's cart/add URL")?;
        if !action.path().trim_end_matches('/').ends_with("/cart/add") {
            return Err(mlua::Error::runtime(format!(
                "{action} is not a shop's cart/add URL: only add-to-cart forms are ever POSTed"
            )));
        }
        let field = text("field")?;
        if !(field.starts_with("item_") || field.starts_with("variation_")) {
            return Err(mlua::Error::runtime(format!(
                "product field {field:?}: expected item_<id> or variation_<id>_<variation>"
            )));
        }
        let mut fields = Vec::new();
        if let Some(f) = t.get::<Option<Table>>("fields")? {
            for pair in f.pairs::<String, String>() {
                fields.push(pair?);
            }
        }
        Ok(CartProduct(Product {
            id: text("id")?,
            variation: t.get("variation")?,
            name: text("name")?,
            price: t.get("price")?,
            price_text: text("price_text")?,
            state: text("state")?,
            max: t.get("max")?,
            field,
            action,
            fields,
        }))
    }
}
