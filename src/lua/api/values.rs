//! The core's values as Lua sees them, and back: `IntoLua` for answers, listings and cookies,
//! `FromLua` for a listing a strategy hands back to be bought. One place decides each table's
//! shape; the stubs' `---@field` lines document it, and a test holds the two together.

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
        let r = self.0;
        // Fresh tables without metatables: raw sets, sized up front (this runs on every poll).
        let t = lua.create_table_with_capacity(0, 16)?;
        t.raw_set("seq", r.seq)?;
        t.raw_set("status", r.status)?;
        t.raw_set("ok", r.ok())?;
        t.raw_set("url", r.url.as_str())?;
        let h = lua.create_table_with_capacity(0, r.headers.len())?;
        for (i, (k, v)) in r.headers.iter().enumerate() {
            // Repeated headers (Set-Cookie) are joined, as HTTP allows for most.
            if r.headers[..i].iter().any(|(p, _)| p == k) {
                continue;
            }
            let mut same = r.headers[i + 1..].iter().filter(|(n, _)| n == k).peekable();
            if same.peek().is_none() {
                h.raw_set(k.as_str(), v.as_str())?;
            } else {
                let mut joined = v.clone();
                for (_, more) in same {
                    joined.push_str(", ");
                    joined.push_str(more);
                }
                h.raw_set(k.as_str(), joined)?;
            }
        }
        t.raw_set("headers", h)?;
        t.raw_set("body", lua.create_string(&r.body)?)?;
        t.raw_set("size", r.body.len())?;
        t.raw_set("ttfb", r.ttfb.as_secs_f64())?;
        t.raw_set("ttlb", r.ttlb.as_secs_f64())?;
        t.raw_set("waited", r.waited.as_secs_f64())?;
        t.raw_set("retry_after", r.retry_after.map(|d| d.as_secs_f64()))?;
        t.raw_set("backoff", r.backoff.as_ref().map(|b| b.delay.as_secs_f64()))?;
        Ok(t)
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
