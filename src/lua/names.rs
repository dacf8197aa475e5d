//! Misspelled decisions: `function strategy.chose(...)` is a field no one ever calls, so the
//! strategy would run on the built-in `choose` and `check` would pass it. Before the first
//! request, every function on the strategy's table that is not a field of the built-in
//! strategies but is within a typo of one of their decisions (`decisions` in scripts/default.lua
//! and scripts/shop.lua) is a script error at the line that assigns it. Other fields (the user's
//! helpers) stay allowed.
//!
//! "Within a typo": an optimal-string-alignment distance (a swap of two neighbours is one edit,
//! `wiat`) of at most 2, or 1 for a name of four letters or fewer, so a helper such as `want`
//! near `wait` is not taken for it twice over.
//!
//! Other fields are read by no one either: `strategy.targts = {…}` (a typo of `targets`, any
//! value) and `strategy.max_price = 1` (an option of `race.options`, so the listing the user meant
//! to exclude is bought). Both are script errors too, before the first request.

use mlua::{Lua, Table, Value};

/// The built-in strategy modules whose fields a strategy table carries (loaded afresh: the
/// strategy may have changed the `require`d ones).
const MODULES: &[(&str, &str)] = &[
    (super::DEFAULT_CHUNK, super::DEFAULT_SCRIPT),
    (super::SHOP_CHUNK, super::SHOP_SCRIPT),
];

/// The options a user may set on the strategy table instead of `race.options`: (the field name
/// that means it, race.options' key, the flag). Read off `race.options`' keys (the stubs' list) and the command
/// line's own definition, so no option or flag is written down twice: an option's flag is the
/// argument named like its key (`max_price`: `--max-price`; `item`: `--item`, whose values are
/// `items`), and its field names are the key and the flag's own name (`date` for `dates`).
fn options() -> Vec<(String, String, String)> {
    use clap::CommandFactory;
    let cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    for key in super::api::OPTION_FIELDS.iter().map(|k| k.to_string()) {
        let as_flag = key.replace('_', "-");
        let Some(long) = cmd
            .get_arguments()
            .filter_map(|a| Some((a.get_id().as_str(), a.get_long()?)))
            .find(|(id, long)| *id == key || *long == as_flag)
            .map(|(_, long)| long)
        else {
            continue;
        };
        out.push((key.clone(), key.clone(), format!("--{long}")));
        let by_flag = long.replace('-', "_");
        if by_flag != key {
            out.push((by_flag, key.clone(), format!("--{long}")));
        }
    }
    // A field named as a key means that key (`item`: race.options.item, not `items`).
    out.sort_by_key(|(field, key, _)| (field != key, field.clone()));
    out
}

/// A field of the strategy table no one reads.
#[derive(Debug, PartialEq)]
pub enum Unread {
    /// A typo of a decision, `targets` or `run`: (its name, what was meant).
    Misspelled(String, String),
    /// A decision's name holding something that is no function: what it holds.
    NotAFunction { field: String, got: String },
    /// A decision of the marketplace's strategy set on the shop's, which has none of that name:
    /// the shop's decisions.
    NotOfShop { field: String, decisions: String },
    /// An option set on the strategy table: (its name, race.options' key, the flag, the value
    /// as written in Lua and on the command line).
    Option {
        field: String,
        key: String,
        flag: String,
        lua: String,
        cli: String,
    },
}

/// The value as Lua and a command line would write it for `key` (a list's one value in braces;
/// a value with a space quoted for the shell).
fn written(v: &Value, key: &str, flag: &str) -> (String, String) {
    let list = matches!(key, "items" | "dates" | "matches");
    match v {
        Value::Boolean(b) => (b.to_string(), flag.to_string()),
        Value::Integer(i) => (i.to_string(), format!("{flag} {i}")),
        Value::Number(n) => (n.to_string(), format!("{flag} {n}")),
        Value::String(s) => {
            let s = s.to_string_lossy();
            let lua = if list {
                format!("{{ {s:?} }}")
            } else {
                format!("{s:?}")
            };
            let cli = if s.contains(char::is_whitespace) {
                format!("{flag} {s:?}")
            } else {
                format!("{flag} {s}")
            };
            (lua, cli)
        }
        _ => ("…".to_string(), format!("{flag} …")),
    }
}

/// The first unread field of `t` (by name), if any.
pub fn unread(lua: &Lua, t: &Table) -> mlua::Result<Option<Unread>> {
    let mut all = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        if let (Value::String(k), v) = pair? {
            all.push((k.to_string_lossy(), v));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let options = options();
    for (field, v) in &all {
        // A function is the user's helper, whatever its name; an option is a value.
        let option = options
            .iter()
            .find(|(n, _, _)| n == field && !matches!(v, Value::Function(_)));
        if let Some((_, key, flag)) = option {
            let (lua, cli) = written(v, key, flag);
            return Ok(Some(Unread::Option {
                field: field.clone(),
                key: key.clone(),
                flag: flag.clone(),
                lua,
                cli,
            }));
        }
        let near = |d: &str| field != d && distance(field, d) <= if d.len() <= 4 { 1 } else { 2 };
        let is_fn = matches!(v, Value::Function(_));
        if near("targets") {
            return Ok(Some(Unread::Misspelled(field.clone(), "targets".into())));
        }
        if is_fn && near("run") {
            return Ok(Some(Unread::Misspelled(field.clone(), "run".into())));
        }
    }
    misspelled(lua, t)
}

/// A decision set to something that is no function (`strategy.choose = "cheapest"`), or a
/// function field of `t` named close to a decision.
fn misspelled(lua: &Lua, t: &Table) -> mlua::Result<Option<Unread>> {
    let mut known = vec!["targets".to_string(), "kind".to_string()];
    let mut decisions = Vec::new();
    for (name, source) in MODULES {
        let module: Table = lua.load(*source).set_name(format!("@{name}")).call(())?;
        for pair in module.pairs::<Value, Value>() {
            if let (Value::String(k), _) = pair? {
                known.push(k.to_string_lossy());
            }
        }
        let list: Option<Table> = module.get("decisions")?;
        for d in list.iter().flat_map(|l| l.sequence_values::<String>()) {
            decisions.push(d?);
        }
    }
    // The shop strategy's own table (as `require` gave it) has fewer decisions than the
    // marketplace's: one of the others set on it is never called.
    let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
    if let Ok(Value::Table(shop)) = loaded.raw_get::<Value>("race.shop_strategy")
        && shop == *t
    {
        let own: Vec<String> = shop
            .get::<Option<Table>>("decisions")?
            .iter()
            .flat_map(|l| l.sequence_values::<String>())
            .collect::<mlua::Result<_>>()?;
        for d in &decisions {
            if !own.contains(d) && matches!(t.raw_get::<Value>(d.as_str())?, Value::Function(_)) {
                return Ok(Some(Unread::NotOfShop {
                    field: d.clone(),
                    decisions: own.join(", "),
                }));
            }
        }
    }
    let mut fields = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        match pair? {
            (Value::String(k), Value::Function(_)) => fields.push(k.to_string_lossy()),
            (Value::String(k), v) if decisions.contains(&k.to_string_lossy()) => {
                return Ok(Some(Unread::NotAFunction {
                    field: k.to_string_lossy(),
                    got: format!(
                        "{} ({})",
                        crate::lua::api::opts_a(&v),
                        crate::lua::api::opts_shown(&v)
                    ),
                }));
            }
            _ => {}
        }
    }
    fields.sort();
    for field in fields {
        if known.contains(&field) {
            continue;
        }
        let near = decisions.iter().find(|d| {
            let limit = if d.len() <= 4 { 1 } else { 2 };
            distance(&field, d) <= limit
        });
        if let Some(d) = near {
            return Ok(Some(Unread::Misspelled(field, d.clone())));
        }
    }
    Ok(None)
}

/// The line (1-based) of `source` that assigns `field` (`.field`, `field =`), if any.
pub fn assigned_at(source: &str, field: &str) -> Option<usize> {
    let word = |l: &str, at: usize| {
        let after = l[at + field.len()..].chars().next();
        !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    };
    source
        .lines()
        .position(|l| {
            l.match_indices(field).any(|(at, _)| {
                let before = l[..at].chars().next_back();
                let dotted = matches!(before, Some('.') | Some(':'));
                let keyed = !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && l[at + field.len()..].trim_start().starts_with('=');
                word(l, at) && (dotted || keyed)
            })
        })
        .map(|i| i + 1)
}

/// Edits (insert, delete, replace, swap of neighbours) from `a` to `b`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_near_and_helpers_are_not() {
        assert_eq!(distance("chose", "choose"), 1);
        assert_eq!(distance("wiat", "wait"), 1);
        assert_eq!(distance("on_carts", "on_cart"), 1);
        assert!(distance("pick_cheapest", "choose") > 2);
        assert_eq!(
            assigned_at("local s = {}\nfunction s.chose(l)\nend\n", "chose"),
            Some(2)
        );
        assert_eq!(assigned_at("x = { wiat = 1 }\n", "wiat"), Some(1));
        assert_eq!(assigned_at("local chosen = 1\n", "chose"), None);
    }
}
