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
    race.set("options", o)
}
