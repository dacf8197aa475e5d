//! The core's values as Lua sees them, and back: `IntoLua` for answers, listings and cookies,
//! `FromLua` for a listing a strategy hands back to be bought. One place decides each table's
//! shape; the stubs' `---@field` lines document it, and a test holds the two together.
//!
//! An answer's `body` is lazy: it stays in Rust (the answer's shared bytes) until a script reads
//! it, then becomes a Lua string, once. A live marketplace page is ~15 KB, and a strategy that
//! reads only what the core found (`state`, `listings`) would otherwise copy it into the VM on
//! every poll and make the collector sweep it again: most of a long watch's Lua garbage.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use mlua::{FromLua, IntoLua, Lua, RegistryKey, Table, UserData, Value};

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
            // `body` is added when first read (see the top).
            ("size", Field::Int(r.body.len() as i64)),
            ("ttfb", Field::Num(r.ttfb.as_secs_f64())),
            ("ttlb", Field::Num(r.ttlb.as_secs_f64())),
            ("waited", Field::Num(r.waited.as_secs_f64())),
            ("retry_after", secs(r.retry_after)),
            ("backoff", secs(r.backoff.as_ref().map(|b| b.delay))),
        ];
        let t = fields_table(lua, &[&fields, extra], arg)?;
        lazy_body(lua, &t, &r.body)?;
        Ok(t)
    }
}

/// A body not yet read by the script, kept beside its answer's table; counted in its VM's
/// [`LazyBodies::held`] while it lives.
struct PendingBody(Bytes, Arc<AtomicUsize>);

impl UserData for PendingBody {}

impl Drop for PendingBody {
    fn drop(&mut self) {
        self.1.fetch_sub(self.0.len(), Relaxed);
    }
}

/// What lazy bodies share in one VM: the answers' metatable, the weak-keyed table of bodies
/// not yet read (answer table -> [`PendingBody`]), how many bodies became Lua strings, and the
/// bytes of bodies held for answers not yet collected.
struct LazyBodies {
    meta: RegistryKey,
    pending: RegistryKey,
    made: AtomicUsize,
    held: Arc<AtomicUsize>,
    /// The bytes held at which the next step may run.
    step_at: AtomicUsize,
    /// Steps run for held bodies.
    steps: AtomicUsize,
    /// The bytes held at which the next full collection runs.
    full_at: AtomicUsize,
}

/// Bytes of unread bodies past which each new answer first runs a step of the collector. The
/// collector sees a pending body as a small userdata, not as the page it holds; with the page no
/// longer a Lua string, it runs rarely, and would let the pages of hundreds of dropped answers
/// wait in memory. A step (a minor collection) frees the dropped ones.
const HELD_STEP: usize = 512 * 1024;

/// Unread bodies held beyond what the last full collection left: past this, a full collection.
/// A step frees the pages of answers dropped young; a strategy that keeps its answer across a
/// wait (the default's `page` lives through its sleep) lets them grow old, and only a full
/// collection frees those. With 1000 events watched that was ≈ 1.6 MB a second of growth (a
/// full collection of such a heap takes a few ms; this asks for one every 4 MB of pages).
const HELD_FULL: usize = 4 * 1024 * 1024;

/// The metatable: `__index` turns the pending body into the answer's `body` field on its first
/// read (later reads find the field itself); `__pairs` does so first, so `pairs` lists `body`
/// as it lists every other field.
/// Any other name that is not a documented field raises at the reader's line (see [`strict_index`]).
const LAZY_BODY_META: &str = r#"
local pending, make, known, say = ...
local function index(t, k)
  if k == "body" then
    local b = pending[t]
    if b ~= nil then
      local s = make(b)
      rawset(t, "body", s)
      pending[t] = nil
      return s
    end
  elseif k == "active" then
    error('page.active is gone: use page.state == "open"', 2)
  elseif type(k) == "string" and not known[k] then
    error(say(k), 2)
  end
  return nil
end
return {
  __index = index,
  __pairs = function(t)
    index(t, "body")
    return next, t, nil
  end,
}
"#;

fn lazy_bodies(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, LazyBodies>> {
    if let Some(b) = lua.app_data_ref::<LazyBodies>() {
        return Ok(b);
    }
    let pending = lua.create_table()?;
    let weak = lua.create_table()?;
    weak.raw_set("__mode", "k")?;
    pending.set_metatable(Some(weak))?;
    let make = lua.create_function(|lua, b: mlua::AnyUserData| {
        let s = lua.create_string(&b.borrow::<PendingBody>()?.0)?;
        if let Some(l) = lua.app_data_ref::<LazyBodies>() {
            l.made.fetch_add(1, Relaxed);
        }
        Ok(s)
    })?;
    let (known, say) = field_check(lua, "a response (or page)", RESPONSE_FIELDS, option_read)?;
    let meta: Table = lua.load(LAZY_BODY_META).set_name("=race/response").call((
        pending.clone(),
        make,
        known,
        say,
    ))?;
    lua.set_app_data(LazyBodies {
        meta: lua.create_registry_value(meta)?,
        pending: lua.create_registry_value(pending)?,
        made: AtomicUsize::new(0),
        held: Arc::new(AtomicUsize::new(0)),
        step_at: AtomicUsize::new(0),
        full_at: AtomicUsize::new(HELD_FULL),
        steps: AtomicUsize::new(0),
    });
    Ok(lua.app_data_ref::<LazyBodies>().expect("just set"))
}

/// The script's memory cap (`--memory-limit-mb`), in bytes: what lives outside Lua's allocator on
/// the script's behalf counts against it too.
pub struct MemoryCap(pub usize);

/// Gives the answer's table `t` its body, to be made a Lua string when first read.
fn lazy_body(lua: &Lua, t: &Table, body: &Bytes) -> mlua::Result<()> {
    let l = lazy_bodies(lua)?;
    // At most one step per HELD_STEP of new bodies: a step that frees nothing (an incremental
    // cycle still marking a large heap) is not repeated on every answer after it.
    let held = l.held.load(Relaxed);
    if held > l.full_at.load(Relaxed) {
        lua.gc_collect()?;
        l.full_at.store(l.held.load(Relaxed) + HELD_FULL, Relaxed);
        l.step_at.store(l.held.load(Relaxed) + HELD_STEP, Relaxed);
    } else if held > HELD_STEP && held >= l.step_at.load(Relaxed) {
        lua.gc_step()?;
        l.steps.fetch_add(1, Relaxed);
        l.step_at.store(l.held.load(Relaxed) + HELD_STEP, Relaxed);
    }
    // Unread pages live outside Lua's allocator: they count against --memory-limit-mb with what
    // the script holds. Over it, a full collection frees the answers no longer referenced; a
    // script that keeps them all is out of memory, as it would be with their strings.
    if let Some(cap) = lua.app_data_ref::<MemoryCap>().map(|c| c.0) {
        let need = |l: &LazyBodies| lua.used_memory() + l.held.load(Relaxed) + body.len();
        if need(&l) > cap {
            lua.gc_collect()?;
            if need(&l) > cap {
                return Err(mlua::Error::MemoryError(format!(
                    "not enough memory: the strategy keeps {} MB of answers' pages, over --memory-limit-mb {}",
                    l.held.load(Relaxed) / (1024 * 1024),
                    cap / (1024 * 1024)
                )));
            }
        }
    }
    let pending: Table = lua.registry_value(&l.pending)?;
    l.held.fetch_add(body.len(), Relaxed);
    pending.raw_set(t, PendingBody(body.clone(), l.held.clone()))?;
    t.set_metatable(Some(lua.registry_value::<Table>(&l.meta)?))
}

/// Bytes of unread bodies held for answers not yet collected.
#[cfg(test)]
fn bodies_held(lua: &Lua) -> usize {
    lua.app_data_ref::<LazyBodies>()
        .map_or(0, |l| l.held.load(Relaxed))
}

/// How many answers' bodies scripts have read in this VM (each becomes a Lua string once).
#[cfg(test)]
pub fn bodies_made(lua: &Lua) -> usize {
    lua.app_data_ref::<LazyBodies>()
        .map_or(0, |l| l.made.load(Relaxed))
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
        t.set_metatable(Some(kind_mt(lua, Kind::Listing)?))?;
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

/// What can be added to a cart: a marketplace listing or a shop's product. Each is a table with
/// its type's metatable (one per type, shared), made only by the API (`session:poll`,
/// `race.market.listings`; `session:poll_shop`, `race.shop.products`): `add_to_cart` goes by the
/// type, never by guessing from the keys a table happens to hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Listing,
    Product,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Listing => "race.Listing",
            Kind::Product => "race.Product",
        }
    }

    /// The kind of `v`: a table with one of the kinds' metatables.
    pub fn of(lua: &Lua, v: &Value) -> mlua::Result<Option<Kind>> {
        let Value::Table(t) = v else { return Ok(None) };
        let Some(mt) = t.metatable() else {
            return Ok(None);
        };
        for k in [Kind::Listing, Kind::Product] {
            if kind_mt(lua, k)?.to_pointer() == mt.to_pointer() {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }
}

/// The documented fields (scripts/types/race.lua) of a `race.Listing`, a `race.Product`, and of
/// an answer (`race.Response`, with a poll's `race.Page` and `race.ShopPage` fields: one
/// metatable serves them all). Reading any other name is a typo (`l.prcie`, `page.listing`) that
/// would read nil and quietly change what the strategy does: it raises at the reader's line.
pub const LISTING_FIELDS: &[&str] = &[
    "id",
    "title",
    "price",
    "price_text",
    "currency",
    "action",
    "fields",
    "position",
    "page_url",
];
pub const PRODUCT_FIELDS: &[&str] = &[
    "id",
    "variation",
    "title",
    "price",
    "price_text",
    "state",
    "available",
    "max",
    "field",
    "action",
    "fields",
];
pub const RESPONSE_FIELDS: &[&str] = &[
    "seq",
    "status",
    "ok",
    "url",
    "headers",
    "body",
    "size",
    "ttfb",
    "ttlb",
    "waited",
    "retry_after",
    "backoff",
    "state",
    "listings",
    "new",
    "products",
    "recognised",
];

/// A page read for an option (`page.items`): the page was taken for the options, as a `choose`
/// written `choose(products, opts)` takes it (its second argument is the page).
fn option_read(key: &str) -> Option<String> {
    super::options::OPTION_FIELDS.contains(&key).then(|| {
        format!(
            "a page has no field `{key}`: `{key}` is an option, and this is a page; choose's arguments are (candidates, page, opts): the page second, the options third (function strategy.choose(products, page, opts))"
        )
    })
}

/// No special message: the field list (or a near miss) says it.
fn no_hint(_: &str) -> Option<String> {
    None
}

/// The set of `fields` (a Lua table) and the message for any other name, for an `__index`
/// (`special` may say it better for some names).
fn field_check(
    lua: &Lua,
    what: &'static str,
    fields: &'static [&'static str],
    special: fn(&str) -> Option<String>,
) -> mlua::Result<(Table, mlua::Function)> {
    let known = lua.create_table()?;
    for f in fields {
        known.raw_set(*f, true)?;
    }
    let say = lua.create_function(move |_, key: String| {
        if let Some(m) = special(&key) {
            return Ok(m);
        }
        Ok(match super::opts::suggest(&key, fields) {
            Some(s) => format!("{what} has no field `{key}`; did you mean `{s}`?"),
            None => format!(
                "{what} has no field `{key}`; its fields are {}",
                fields
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    })?;
    Ok((known, say))
}

/// An `__index` that reads nil for a documented field left unset and raises at the reader's
/// line for any other name.
const STRICT_INDEX: &str = r#"
local known, say = ...
return function(_, k)
  if type(k) == "string" and not known[k] then error(say(k), 2) end
  return nil
end
"#;

/// The metatable of `kind` (made once per VM): `__name` is the type's name, so `tostring` of a
/// listing says what it is; `__index` refuses undocumented fields.
fn kind_mt(lua: &Lua, kind: Kind) -> mlua::Result<Table> {
    let key = kind.name();
    if let Some(t) = lua.named_registry_value::<Option<Table>>(key)? {
        return Ok(t);
    }
    let mt = lua.create_table()?;
    mt.raw_set("__name", key)?;
    let (known, say) = match kind {
        Kind::Listing => field_check(lua, "a listing", LISTING_FIELDS, no_hint)?,
        Kind::Product => field_check(lua, "a product", PRODUCT_FIELDS, no_hint)?,
    };
    let index: mlua::Function = lua
        .load(STRICT_INDEX)
        .set_name("=race/fields")
        .call((known, say))?;
    mt.raw_set("__index", index)?;
    lua.set_named_registry_value(key, &mt)?;
    Ok(mt)
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
        t.raw_set("title", p.name.as_str())?;
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
        t.set_metatable(Some(kind_mt(lua, Kind::Product)?))?;
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
        if !crate::core::pretix::is_cart_add(&action) {
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
            name: text("title")?,
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

#[cfg(test)]
fn held_steps(lua: &Lua) -> usize {
    lua.app_data_ref::<LazyBodies>()
        .map_or(0, |l| l.steps.load(Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(body: &str) -> Response {
        Response {
            seq: 7,
            method: reqwest::Method::GET,
            status: 200,
            url: url::Url::parse("https://t.example/e/secondhand/").unwrap(),
            headers: vec![("content-type".into(), "text/html".into())],
            body: Bytes::from(body.to_string()),
            ttfb: Duration::ZERO,
            ttlb: Duration::ZERO,
            waited: Duration::ZERO,
            retry_after: None,
            backoff: None,
            session_tag: "-".into(),
        }
    }

    /// A strategy that reads only what the core found never pays for the page: a thousand
    /// answers handed over and read as a poll loop reads them make no Lua string of a body.
    #[test]
    fn a_body_never_read_is_never_made() {
        let lua = Lua::new();
        let body = "<html>".to_string() + &"x".repeat(15_000) + "</html>";
        let seen: mlua::Function = lua
            .load(
                "return function(r) return r.status == 200 and r.size > 0 and r.new == nil \
                 and rawget(r, 'body') == nil end",
            )
            .eval()
            .unwrap();
        let r = answer(&body);
        // The first answer makes what all answers share; the collector is held still so the
        // VM's bytes count what each answer costs.
        let _ = Resp(&r).table(&lua).unwrap();
        lua.gc_stop();
        let before = lua.used_memory();
        for _ in 0..1000 {
            let t = Resp(&r).table(&lua).unwrap();
            assert!(seen.call::<bool>(t).unwrap());
        }
        let per_answer = (lua.used_memory() - before) / 1000;
        assert!(
            per_answer < 2048,
            "{per_answer} bytes of Lua memory per answer"
        );
        assert_eq!(bodies_made(&lua), 0);
        // The bodies of dropped answers do not wait in memory for a collection Lua has no cause
        // to run: 10 000 more, the collector running as it likes, hold a bounded few.
        lua.gc_restart();
        for _ in 0..10_000 {
            let t = Resp(&r).table(&lua).unwrap();
            assert!(seen.call::<bool>(t).unwrap());
            let held = bodies_held(&lua);
            assert!(held < 2 * HELD_STEP, "{held} bytes of unread bodies held");
        }
    }

    /// A script that reads `body` gets it whole, as one string made once, and `pairs` lists it
    /// (whether read before or not).
    #[test]
    fn a_body_read_is_whole_and_made_once() {
        let lua = Lua::new();
        let body = "<html>\0".to_string() + &"é".repeat(8_000) + "</html>";
        let r = answer(&body);
        let t = Resp(&r).table(&lua).unwrap();
        let check: mlua::Function = lua
            .load(
                r#"return function(r, want)
                  assert(rawget(r, "body") == nil)
                  local keys = {}
                  for k in pairs(r) do keys[k] = true end
                  assert(keys.body and keys.status and keys.size)
                  assert(rawget(r, "body") == want and r.body == want and #r.body == r.size)
                  local again = r.body
                  return again:sub(1, 6) == "<html>"
                end"#,
            )
            .eval()
            .unwrap();
        let want = lua.create_string(&body).unwrap();
        assert!(check.call::<bool>((t, want)).unwrap());
        assert_eq!(bodies_made(&lua), 1);
        // Read directly, without pairs first.
        let t = Resp(&r).table(&lua).unwrap();
        assert_eq!(
            t.get::<mlua::LuaString>("body")
                .unwrap()
                .as_bytes()
                .as_ref(),
            body.as_bytes()
        );
        assert_eq!(bodies_made(&lua), 2);
    }

    /// A large heap under the incremental collector: a step frees no body until its cycle
    /// ends, and must not then run again on every answer (each would mark more of the heap).
    #[test]
    fn unread_bodies_step_the_collector_at_most_once_per_half_megabyte() {
        let lua = Lua::new();
        lua.load("big = {} for i = 1, 200000 do big[i] = { i, tostring(i) } end")
            .exec()
            .unwrap();
        let body = "x".repeat(15_000);
        let r = answer(&body);
        for _ in 0..1000 {
            drop(Resp(&r).table(&lua).unwrap());
        }
        let most = 1000 * body.len() / HELD_STEP + 1;
        assert!(held_steps(&lua) <= most, "{} steps", held_steps(&lua));
    }

    /// The stubs' fields of a class (`---@field name` lines under `---@class race.<name>`).
    fn stub_fields(class: &str) -> Vec<String> {
        let stubs = include_str!("../../../scripts/types/race.lua");
        let head = format!("---@class race.{class}");
        let mut lines = stubs.lines().skip_while(|l| {
            l.strip_prefix(head.as_str())
                .is_none_or(|rest| !(rest.is_empty() || rest.starts_with([':', ' '])))
        });
        lines.next().expect("the class is in the stubs");
        lines
            .take_while(|l| l.starts_with("---"))
            .filter_map(|l| l.strip_prefix("---@field "))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    }

    /// The field lists that decide which reads are typos are the stubs' fields, no more, no less
    /// (a field documented but missing here would raise when read as nil).
    #[test]
    fn the_known_fields_are_the_stubs_fields() {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        let ours = |f: &[&str]| sorted(f.iter().map(|s| s.to_string()).collect());
        assert_eq!(ours(LISTING_FIELDS), sorted(stub_fields("Listing")));
        assert_eq!(ours(PRODUCT_FIELDS), sorted(stub_fields("Product")));
        let answer = [
            stub_fields("Response"),
            stub_fields("Page"),
            stub_fields("ShopPage"),
        ]
        .concat();
        assert_eq!(ours(RESPONSE_FIELDS), sorted(answer));
        assert_eq!(
            ours(super::super::options::OPTION_FIELDS),
            sorted(stub_fields("Options"))
        );
    }
}
