//! Names the API no longer has, each raising at the caller's line with what to write instead:
//! a strategy written for an older release learns the one shape from its first run, instead of
//! calling `nil`. Only these names raise; any other missing field is `nil`, as in any table.

use mlua::{Lua, Table};

/// (table, name, what to write instead). The table is `race` or one of its areas.
const REMOVED: &[(&str, &str, &str)] = &[
    ("race", "handoff", "session:handoff(checkout_url, opts)"),
    ("market", "discover", "session:discover(event_url)"),
    ("market", "poll", "session:poll(url)"),
    (
        "market",
        "add_to_cart",
        "session:add_to_cart(listing, opts)",
    ),
    ("shop", "poll", "session:poll_shop(event_url)"),
    (
        "shop",
        "add_to_cart",
        "session:add_to_cart(product, { count = n })",
    ),
    ("time", "iso8601", "race.time.rfc3339()"),
];

const GUARD: &str = r#"
local t, gone = ...
setmetatable(t, { __index = function(_, k)
  local why = gone[k]
  if why then error(why, 2) end
end })
"#;

/// Gives `race` and its areas the guard for their removed names (after every area is set).
pub fn register(lua: &Lua, race: &Table) -> mlua::Result<()> {
    let mut by_table: Vec<(&str, Table)> = Vec::new();
    for (area, name, instead) in REMOVED {
        let full = if *area == "race" {
            format!("race.{name}")
        } else {
            format!("race.{area}.{name}")
        };
        let gone = match by_table.iter().find(|(a, _)| a == area) {
            Some((_, g)) => g.clone(),
            None => {
                let g = lua.create_table()?;
                by_table.push((area, g.clone()));
                g
            }
        };
        gone.set(*name, format!("{full} is gone: use {instead}"))?;
    }
    for (area, gone) in by_table {
        let t: Table = if area == "race" {
            race.clone()
        } else {
            race.get(area)?
        };
        lua.load(GUARD)
            .set_name("=race/removed")
            .call::<()>((t, gone))?;
    }
    Ok(())
}
