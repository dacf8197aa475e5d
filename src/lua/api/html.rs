//! `race.html`: reading any page, not only marketplace listings. `parse(body, base_url)` gives a
//! document; `doc:select(css)` the matching elements, in document order; an element has `text`
//! (whitespace folded), `html` (its outer HTML), `tag`, `attrs`, `:attr(name)` and `:select(css)`.
//! `forms(body, base_url)` lists the forms with absolute actions and their fields.
//!
//! Elements are plain tables (the parsed tree cannot cross threads with the VM): each `select`
//! parses what it searches, which for a strategy's handful of lookups per page is cheap.

use std::sync::Arc;

use mlua::{Lua, Table, UserData, UserDataMethods};
use scraper::{ElementRef, Html, Selector};

use super::url_arg;
use crate::core::pretix::squash;
use crate::lua::Context;

/// A parsed page, as Lua holds it: its text and the URL relative links resolve against.
struct Document {
    body: Arc<str>,
    base: ::url::Url,
}

fn selector(css: &str) -> mlua::Result<Selector> {
    Selector::parse(css)
        .map_err(|e| mlua::Error::runtime(format!("{css:?} is not a CSS selector: {e}")))
}

/// The elements of `html` (a document, or a fragment when `fragment`) matching `css`.
fn select(
    lua: &Lua,
    html: &str,
    fragment: bool,
    base: &::url::Url,
    css: &str,
) -> mlua::Result<Table> {
    let sel = selector(css)?;
    let doc = if fragment {
        Html::parse_fragment(html)
    } else {
        Html::parse_document(html)
    };
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
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("select", |lua, this, css: String| {
            select(lua, &this.body, false, &this.base, &css)
        });
        m.add_method("forms", |lua, this, ()| forms(lua, &this.body, &this.base));
    }
}

/// Every form, in document order: `action` (absolute), `method` ("get"/"post"), `id`, and
/// `fields` (name -> value: inputs with a name, checked boxes, selected options, text areas).
fn forms(lua: &Lua, body: &str, base: &::url::Url) -> mlua::Result<Table> {
    let doc = Html::parse_document(body);
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

pub fn register(lua: &Lua, race: &Table, _ctx: &Arc<Context>) -> mlua::Result<()> {
    // Methods every element table shares.
    let methods = lua.create_table()?;
    methods.set(
        "attr",
        lua.create_function(|_, (el, name): (Table, String)| {
            el.get::<Table>("attrs")?.get::<Option<String>>(name)
        })?,
    )?;
    methods.set(
        "select",
        lua.create_function(|lua, (el, css): (Table, String)| {
            let html: String = el.get("html")?;
            let base = url_arg(&el.get::<String>("base")?, "the page's URL")?;
            select(lua, &html, true, &base, &css)
        })?,
    )?;
    let mt = lua.create_table()?;
    mt.set("__index", methods)?;
    lua.set_named_registry_value("race.html.element_mt", mt)?;

    let t = lua.create_table()?;
    t.set(
        "parse",
        lua.create_function(|lua, (body, base): (mlua::LuaString, String)| {
            let base = url_arg(&base, "the page's URL")?;
            lua.create_userdata(Document {
                body: Arc::from(body.to_string_lossy()),
                base,
            })
        })?,
    )?;
    t.set(
        "forms",
        lua.create_function(|lua, (body, base): (mlua::LuaString, String)| {
            let base = url_arg(&base, "the page's URL")?;
            forms(lua, &body.to_string_lossy(), &base)
        })?,
    )?;
    race.set("html", t)
}
