//! `race.html`: reading any page, not only marketplace listings. `parse(body, base_url)` gives a
//! document; `doc:select(css)` the matching elements, in document order; an element has `text`
//! (whitespace folded), `html` (its outer HTML), `tag`, `attrs` and `:attr(name)` (as written),
//! `:url(name)` (the attribute resolved against `base_url`, as a browser follows a link) and
//! `:select(css)`.
//! `forms(body, base_url)` lists the forms with absolute actions and their fields.
//!
//! Elements are plain tables (the parsed tree cannot cross threads with the VM): each `select`
//! parses what it searches, which for a strategy's handful of lookups per page is cheap.
//!
//! Bounded like every reader of an answer: a page over the reading budget
//! ([`crate::core::budget`]) is `nil, err` with kind `too_large`, in the time of one linear pass.
//! The DOM lives outside Lua's allocator, so before one is built its estimated size
//! ([`crate::core::budget::Scanned::dom_bytes`]) must fit under `--memory-limit-mb` beside what
//! the script already holds: else `nil, err` with kind `memory` (a raised memory error from a
//! `select`). A document keeps its page as the Lua string it was given (its user value), so what
//! a script holds is counted by Lua itself.

use std::sync::Arc;

use mlua::{AnyUserData, Lua, Table, UserData, UserDataMethods, Value};
use scraper::{ElementRef, Html, Selector};

use super::{base_arg, fail, ok, url_arg};
use crate::core::budget::{self, OverBudget};
use crate::core::pretix::squash;
use crate::lua::Context;

/// A parsed page, as Lua holds it: the URL relative links resolve against; its text is the
/// userdata's user value (a Lua string, counted against the memory cap).
struct Document {
    base: ::url::Url,
    /// The script's memory cap in bytes.
    cap: usize,
}

/// Why a page was not read.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("the page is too large to read: {0}")]
    TooLarge(#[from] OverBudget),
    #[error(
        "no room to read this page: its DOM would take about {need} MB beside the {used} MB the strategy holds, over --memory-limit-mb {cap}"
    )]
    Memory {
        need: usize,
        used: usize,
        cap: usize,
    },
}

impl Refused {
    fn kind(&self) -> &'static str {
        match self {
            Refused::TooLarge(_) => "too_large",
            Refused::Memory { .. } => "memory",
        }
    }

    /// As a raised error, where the API returns no `nil, err` (a `select`).
    fn raise(self) -> mlua::Error {
        match self {
            Refused::TooLarge(_) => mlua::Error::runtime(self.to_string()),
            Refused::Memory { .. } => mlua::Error::MemoryError(self.to_string()),
        }
    }
}

/// The DOM of `html` (a document, or a fragment when `fragment`), if it is within the reading
/// budget and its estimated size fits under the cap beside what Lua holds.
fn dom(lua: &Lua, cap: usize, html: &str, fragment: bool) -> Result<Html, Refused> {
    fits(lua, cap, html.as_bytes())?;
    Ok(if fragment {
        Html::parse_fragment(html)
    } else {
        Html::parse_document(html)
    })
}

fn selector(css: &str) -> mlua::Result<Selector> {
    Selector::parse(css)
        .map_err(|e| mlua::Error::runtime(format!("{css:?} is not a CSS selector: {e}")))
}

/// The elements of `html` (a document, or a fragment when `fragment`) matching `css`.
fn select(
    lua: &Lua,
    cap: usize,
    html: &str,
    fragment: bool,
    base: &::url::Url,
    css: &str,
) -> mlua::Result<Table> {
    let sel = selector(css)?;
    let doc = dom(lua, cap, html, fragment).map_err(Refused::raise)?;
    let mt: Table = lua.named_registry_value("race.html.element_mt")?;
    let out = lua.create_table()?;
    for (i, el) in doc.select(&sel).enumerate() {
        let t = lua.create_table()?;
        t.set("tag", el.value().name())?;
        t.set("text", squash(el))?;
        t.set("html", el.html())?;
        let attrs = lua.create_table()?;
        for (k, v) in el.value().attrs() {
            attrs.set(k, v)?;
        }
        t.set("attrs", attrs)?;
        t.set("base", base.as_str())?;
        t.set_metatable(Some(mt.clone()))?;
        out.set(i + 1, t)?;
    }
    Ok(out)
}

impl UserData for Document {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "race.Document");
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_function("select", |lua, (ud, css): (AnyUserData, String)| {
            let body: mlua::LuaString = ud.user_value()?;
            let this = ud.borrow::<Document>()?;
            select(
                lua,
                this.cap,
                &body.to_string_lossy(),
                false,
                &this.base,
                &css,
            )
        });
        m.add_function("forms", |lua, ud: AnyUserData| {
            let body: mlua::LuaString = ud.user_value()?;
            let this = ud.borrow::<Document>()?;
            let doc = dom(lua, this.cap, &body.to_string_lossy(), false).map_err(Refused::raise)?;
            forms(lua, &doc, &this.base)
        });
    }
}

/// Whether `body` could be read now: within the budget, its DOM within the cap.
fn fits(lua: &Lua, cap: usize, body: &[u8]) -> Result<(), Refused> {
    let scanned = budget::check(body, &budget::PAGE)?;
    let (need, used) = (scanned.dom_bytes(), lua.used_memory());
    if used.saturating_add(need) > cap {
        const MB: usize = 1024 * 1024;
        return Err(Refused::Memory {
            need: need.div_ceil(MB),
            used: used / MB,
            cap: cap / MB,
        });
    }
    Ok(())
}

/// Every form, in document order: `action` (absolute), `method` ("get"/"post"), `id`, and
/// `fields` (name -> value: inputs with a name, checked boxes, selected options, text areas).
fn forms(lua: &Lua, doc: &Html, base: &::url::Url) -> mlua::Result<Table> {
    let form_sel = selector("form")?;
    let field_sel = selector("input[name], select[name], textarea[name]")?;
    let option_sel = selector("option")?;
    let out = lua.create_table()?;
    for (i, form) in doc.select(&form_sel).enumerate() {
        let t = lua.create_table()?;
        let action = form
            .attr("action")
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .and_then(|a| base.join(a).ok())
            .unwrap_or_else(|| base.clone());
        t.set("action", action.as_str())?;
        t.set(
            "method",
            form.attr("method")
                .unwrap_or("get")
                .trim()
                .to_ascii_lowercase(),
        )?;
        t.set("id", form.attr("id"))?;
        let fields = lua.create_table()?;
        for f in form.select(&field_sel) {
            let Some(name) = f.attr("name") else { continue };
            let kind = f.attr("type").unwrap_or("text").to_ascii_lowercase();
            let value = match f.value().name() {
                "textarea" => Some(f.text().collect::<String>()),
                "select" => {
                    let opts: Vec<ElementRef> = f.select(&option_sel).collect();
                    opts.iter()
                        .find(|o| o.attr("selected").is_some())
                        .or(opts.first())
                        .map(|o| o.attr("value").map_or_else(|| squash(*o), str::to_string))
                }
                _ if matches!(kind.as_str(), "checkbox" | "radio") => f
                    .attr("checked")
                    .map(|_| f.attr("value").unwrap_or("on").to_string()),
                _ if matches!(kind.as_str(), "submit" | "button" | "image" | "file") => None,
                _ => Some(f.attr("value").unwrap_or("").to_string()),
            };
            if let Some(v) = value {
                fields.set(name, v)?;
            }
        }
        t.set("fields", fields)?;
        out.set(i + 1, t)?;
    }
    Ok(out)
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let cap = ctx.config.memory_limit_mb.saturating_mul(1024 * 1024);
    // Methods every element table shares.
    let methods = lua.create_table()?;
    methods.set(
        "attr",
        lua.create_function(|_, (el, name): (Table, String)| {
            el.get::<Table>("attrs")?.get::<Option<String>>(name)
        })?,
    )?;
    // The attribute resolved against the document's URL, as a browser follows it (`attr` and
    // `attrs` stay as written).
    methods.set(
        "url",
        lua.create_function(|_, (el, name): (Table, String)| {
            let Some(raw) = el.get::<Table>("attrs")?.get::<Option<String>>(name)? else {
                return Ok(None);
            };
            let base = url_arg(&el.get::<String>("base")?, "the page's URL")?;
            Ok(base.join(raw.trim()).ok().map(String::from))
        })?,
    )?;
    methods.set(
        "select",
        lua.create_function(move |lua, (el, css): (Table, String)| {
            let html: String = el.get("html")?;
            let base = url_arg(&el.get::<String>("base")?, "the page's URL")?;
            select(lua, cap, &html, true, &base, &css)
        })?,
    )?;
    let mt = lua.create_table()?;
    mt.set("__index", methods)?;
    mt.set("__name", "race.Element")?;
    lua.set_named_registry_value("race.html.element_mt", mt)?;

    let t = lua.create_table()?;
    t.set(
        "parse",
        lua.create_function(move |lua, (body, base): (mlua::LuaString, Value)| {
            let base = base_arg(&base, "race.html.parse(body, base_url)")?;
            // Checked now, so a page that cannot be read says so here, as `nil, err`.
            if let Err(e) = fits(lua, cap, &body.as_bytes()) {
                return fail(lua, e.kind(), e);
            }
            let ud = lua.create_userdata(Document { base, cap })?;
            ud.set_user_value(body)?;
            ok(ud, lua)
        })?,
    )?;
    t.set(
        "forms",
        lua.create_function(move |lua, (body, base): (mlua::LuaString, Value)| {
            let base = base_arg(&base, "race.html.forms(body, base_url)")?;
            match dom(lua, cap, &body.to_string_lossy(), false) {
                Ok(doc) => ok(forms(lua, &doc, &base)?, lua),
                Err(e) => fail(lua, e.kind(), e),
            }
        })?,
    )?;
    race.set("html", t)
}
