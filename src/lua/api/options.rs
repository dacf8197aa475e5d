//! `race.options`: the resolved command-line options, as a plain table a strategy may read (and
//! adjust for itself; the core's limits do not depend on it).

use std::sync::Arc;

use mlua::{IntoLua, Lua, Table, Value};

use crate::config::Watch;
use crate::lua::Context;

/// The fields of `race.options` (`race.Options` in the stubs; a test holds the two together). A
/// page read for one of them (`page.items`) was taken for the options: the page's message says
/// where the options are.
pub const OPTION_FIELDS: &[&str] = &[
    "targets",
    "url",
    "event",
    "event_url",
    "interval",
    "item",
    "sort",
    "dry_run",
    "headless",
    "imessage",
    "webhook",
    "poll_inactive",
    "log_dir",
    "user_agent",
    "strict",
    "strategy",
    "items",
    "variation",
    "count",
    "voucher",
    "dates",
    "max_price",
    "matches",
    "want",
    "until",
];

/// `options.targets` (each `{ url, event, event_url, item, weight }`), and `url`, `event`, `event_url` of
/// the first.
pub fn set_targets(lua: &Lua, o: &Table, targets: &[Watch]) -> mlua::Result<()> {
    let list = lua.create_table()?;
    for (i, w) in targets.iter().enumerate() {
        let t = lua.create_table()?;
        t.set("url", w.url.as_str())?;
        t.set("event", w.event.as_str())?;
        t.set("event_url", w.event_url().as_str())?;
        t.set("item", w.item.clone())?;
        t.set("weight", w.weight)?;
        list.set(i + 1, t)?;
    }
    o.set("targets", list)?;
    if let Some(w) = targets.first() {
        o.set("url", w.url.as_str())?;
        o.set("event", w.event.as_str())?;
        o.set("event_url", w.event_url().as_str())?;
    }
    Ok(())
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let c = &ctx.config;
    let o = lua.create_table()?;
    set_targets(lua, &o, &c.targets)?;
    let strategy = c.strategy.map(|s| match s {
        crate::cli::Strategy::Marketplace => "marketplace",
        crate::cli::Strategy::Shop => "shop",
    });
    let options: Vec<(&str, Value)> = vec![
        ("interval", c.interval.as_secs_f64().into_lua(lua)?),
        ("item", c.item.clone().into_lua(lua)?),
        ("sort", c.sort.as_str().into_lua(lua)?),
        ("dry_run", c.dry_run.into_lua(lua)?),
        (
            "headless",
            (c.browser == crate::core::browser::Browser::Headless).into_lua(lua)?,
        ),
        ("imessage", c.imessage.clone().into_lua(lua)?),
        (
            "webhook",
            c.webhook.as_ref().map(|u| u.to_string()).into_lua(lua)?,
        ),
        (
            "poll_inactive",
            c.poll_inactive.map(|d| d.as_secs_f64()).into_lua(lua)?,
        ),
        ("log_dir", c.log_dir.display().to_string().into_lua(lua)?),
        ("user_agent", c.client.user_agent.as_str().into_lua(lua)?),
        ("strict", c.strict.into_lua(lua)?),
        ("strategy", strategy.into_lua(lua)?),
        ("items", c.items.clone().into_lua(lua)?),
        ("variation", c.variation.clone().into_lua(lua)?),
        ("count", c.count.into_lua(lua)?),
        ("voucher", c.voucher.clone().into_lua(lua)?),
        ("dates", c.dates.clone().into_lua(lua)?),
        ("max_price", c.max_price.into_lua(lua)?),
        ("matches", c.matches.clone().into_lua(lua)?),
        ("want", c.want.into_lua(lua)?),
        ("until", c.until.map(|d| d.as_secs_f64()).into_lua(lua)?),
    ];
    debug_assert!(options.iter().all(|(k, _)| OPTION_FIELDS.contains(k)));
    for (k, v) in options {
        o.set(k, v)?;
    }
    race.set("options", guarded(lua, o)?)
}

/// What a key of `race.options` holds, so an assignment can be checked.
#[derive(Clone, Copy)]
enum Shape {
    Number,
    Whole,
    Text,
    Flag,
    List,
    Table,
    Sort,
}

fn shape(key: &str) -> Option<Shape> {
    Some(match key {
        "interval" | "poll_inactive" | "max_price" | "until" => Shape::Number,
        "count" | "want" => Shape::Whole,
        "item" | "variation" | "voucher" | "imessage" | "webhook" | "log_dir" | "user_agent"
        | "strategy" | "url" | "event" | "event_url" => Shape::Text,
        "dry_run" | "headless" | "strict" => Shape::Flag,
        "items" | "dates" | "matches" => Shape::List,
        "targets" => Shape::Table,
        "sort" => Shape::Sort,
        _ => return None,
    })
}

/// Why `v` can't be `race.options[key]`, if it can't: an unknown key (with what was meant) or a
/// value of the wrong shape (with how to write it).
fn refusal(key: &str, v: &Value) -> Option<String> {
    use super::opts::{a, shown};
    let Some(shape) = shape(key) else {
        return Some(super::opts::unknown_key(key, "race.options", OPTION_FIELDS));
    };
    let list_of_text = |t: &Table| {
        t.clone()
            .sequence_values::<Value>()
            .all(|x| matches!(x, Ok(Value::String(_))))
    };
    let fits = match (shape, v) {
        (_, Value::Nil) => true,
        (Shape::Number, Value::Integer(_) | Value::Number(_)) => true,
        (Shape::Whole, Value::Integer(_)) => true,
        (Shape::Whole, Value::Number(n)) => n.fract() == 0.0,
        (Shape::Text, Value::String(_)) => true,
        (Shape::Flag, Value::Boolean(_)) => true,
        (Shape::List, Value::Table(t)) => list_of_text(t),
        (Shape::Table, Value::Table(_)) => true,
        (Shape::Sort, Value::String(s)) => {
            let s = s.to_string_lossy();
            if crate::core::pretix::Sort::parse(&s).is_some() {
                true
            } else {
                let names = crate::core::pretix::Sort::names();
                return Some(match super::opts::suggest(&s, &names) {
                    Some(m) => {
                        format!("race.options.sort = \"{s}\" is no sort; did you mean \"{m}\"?")
                    }
                    None => format!(
                        "race.options.sort = \"{s}\" is no sort; it takes {}",
                        names.join(", ")
                    ),
                });
            }
        }
        _ => false,
    };
    if fits {
        return None;
    }
    if let (Shape::List, Value::String(s)) = (shape, v) {
        return Some(format!(
            "race.options.{key} is a list of strings: write race.options.{key} = {{ {:?} }}",
            s.to_string_lossy()
        ));
    }
    let want = match shape {
        Shape::Number => "a number".to_string(),
        Shape::Whole => "a whole number".to_string(),
        Shape::Text => "a string".to_string(),
        Shape::Flag => "true or false".to_string(),
        Shape::List => "a list of strings, e.g. { \"…\" }".to_string(),
        Shape::Table => "a table".to_string(),
        Shape::Sort => "a sort's name".to_string(),
    };
    let quoted_number = match (shape, v) {
        (Shape::Number | Shape::Whole, Value::String(s)) => {
            s.to_string_lossy().trim().parse::<f64>().is_ok().then(|| {
                format!(
                    ": write race.options.{key} = {}, without quotes",
                    s.to_string_lossy().trim()
                )
            })
        }
        _ => None,
    };
    Some(format!(
        "race.options.{key} must be {want}, got {} ({}){}",
        a(v),
        shown(v),
        quoted_number.unwrap_or_default()
    ))
}

/// `race.options` as strategies see it: reads as the plain table `o` (also through `pairs`), and
/// every assignment is checked, so a typo'd key or a value of the wrong shape raises at the line
/// that writes it (the built-in decisions would otherwise meet it only as a ticket shows up).
fn guarded(lua: &Lua, o: Table) -> mlua::Result<Table> {
    let proxy = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set("__index", o.clone())?;
    let store = o.clone();
    mt.set(
        "__newindex",
        lua.create_function(move |_, (_, k, v): (Value, Value, Value)| {
            let key = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "race.options keys are names, got {}",
                        super::opts::a(other)
                    )));
                }
            };
            if let Some(why) = refusal(&key, &v) {
                return Err(mlua::Error::runtime(why));
            }
            store.set(key, v)
        })?,
    )?;
    let store = o.clone();
    mt.set(
        "__pairs",
        lua.create_function(move |lua, _: Value| {
            let next: mlua::Function = lua.globals().get("next")?;
            Ok((next, store.clone(), Value::Nil))
        })?,
    )?;
    proxy.set_metatable(Some(mt))?;
    Ok(proxy)
}
