//! Option tables as the API reads them: each shape is a struct with `FromLua`, built with
//! [`Keys`], so an unknown key or a value of the wrong type raises at the user's line, naming the
//! key and what is allowed ("unknown key `evnet` in a target; did you mean `event`?"). A typo is
//! never quietly a default.

use mlua::{Table, Value};

/// The keys of one option table being read: what it is called in messages, and every key it may
/// hold.
pub struct Keys<'a> {
    pub t: Table,
    pub what: &'a str,
}

/// The closest of `allowed` to `key`, when close enough to be what was meant.
pub fn suggest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// "unknown key `k` in WHAT; did you mean `x`?" (or the keys it may hold).
pub fn unknown_key(key: &str, what: &str, allowed: &[&str]) -> String {
    match suggest(key, allowed) {
        Some(s) => format!("unknown key `{key}` in {what}; did you mean `{s}`?"),
        None => format!(
            "unknown key `{key}` in {what}; it takes {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A Lua value's type as a message names it ("a string", "an integer", "nil").
pub fn a(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Integer(_) => "an integer".into(),
        Value::Number(n) if n.fract() == 0.0 => "a whole number".into(),
        Value::Number(_) => "a number".into(),
        other => format!("a {}", other.type_name()),
    }
}

/// A value as a message shows what was given: a number, a boolean or a short string as written
/// (`42`, `"cheapest"`), nil as `nil`, anything else by its type ("a table").
pub fn shown(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let s = s.to_string_lossy();
            if s.chars().count() <= 40 {
                format!("{s:?}")
            } else {
                "a string".into()
            }
        }
        other => a(other),
    }
}

/// Arguments given to a function that takes none (`race.new_session(42)`): misuse, said with
/// how to call it. `call` is the call as a script writes it (`race.new_session()`).
pub fn no_args(call: &str, args: &mlua::MultiValue) -> mlua::Result<()> {
    match args.front() {
        None => Ok(()),
        Some(v) => Err(mlua::Error::runtime(format!(
            "{} takes no arguments, got {}: call {call}",
            call.trim_end_matches("()"),
            shown(v)
        ))),
    }
}

impl<'a> Keys<'a> {
    /// The table of `v` (nil: an empty one), its keys checked against `allowed`.
    pub fn of(v: Value, what: &'a str, allowed: &[&str]) -> mlua::Result<Option<Self>> {
        let t = match v {
            Value::Nil => return Ok(None),
            Value::Table(t) => t,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "{what} must be a table, got {}",
                    a(&other)
                )));
            }
        };
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let key = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "{what} takes named keys only ({}), got {} key",
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        a(other)
                    )));
                }
            };
            if !allowed.contains(&key.as_str()) {
                return Err(mlua::Error::runtime(unknown_key(&key, what, allowed)));
            }
        }
        Ok(Some(Self { t, what }))
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> mlua::Error {
        mlua::Error::runtime(format!(
            "`{key}` in {} must be {want}, got {}",
            self.what,
            a(got)
        ))
    }

    pub fn string(&self, key: &str) -> mlua::Result<Option<String>> {
        match self.t.raw_get::<Value>(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub fn boolean(&self, key: &str) -> mlua::Result<Option<bool>> {
        match self.t.raw_get::<Value>(key)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(self.wrong(key, "true or false", &other)),
        }
    }

    /// A whole number in `range`.
    pub fn integer(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> mlua::Result<Option<i64>> {
        let v = self.t.raw_get::<Value>(key)?;
        let n = match &v {
            Value::Nil => return Ok(None),
            Value::Integer(i) => Some(*i),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
            _ => None,
        };
        match n {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            Some(n) => Err(mlua::Error::runtime(format!(
                "`{key}` in {} must be a whole number from {} to {}, got {n}",
                self.what,
                range.start(),
                range.end()
            ))),
            // A number written as text: say how to write it.
            None => match &v {
                Value::String(s) if s.to_string_lossy().trim().parse::<i64>().is_ok() => {
                    Err(mlua::Error::runtime(format!(
                        "`{key}` in {} must be a whole number, got the string \"{1}\": write {key} = {1}, without quotes",
                        self.what,
                        s.to_string_lossy().trim()
                    )))
                }
                _ => Err(self.wrong(key, "a whole number", &v)),
            },
        }
    }

    /// A string, or a number written as text (an item id given as `965`).
    pub fn text(&self, key: &str) -> mlua::Result<Option<String>> {
        match self.t.raw_get::<Value>(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            Value::Integer(i) => Ok(Some(i.to_string())),
            other => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub fn table(&self, key: &str) -> mlua::Result<Option<Table>> {
        match self.t.raw_get::<Value>(key)? {
            Value::Nil => Ok(None),
            Value::Table(t) => Ok(Some(t)),
            other => Err(self.wrong(key, "a table", &other)),
        }
    }
}

/// `session:get(url, opts)` and `session:post(url, form, opts)`: `{ headers = { … } }`.
#[derive(Default)]
pub struct RequestOpts {
    pub headers: Option<Table>,
}

impl mlua::FromLua for RequestOpts {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        let Some(k) = Keys::of(v, "a request's options", &["headers"])? else {
            return Ok(Self::default());
        };
        Ok(Self {
            headers: k.table("headers")?,
        })
    }
}

/// `session:handoff(url, opts)`: `{ expires = …, headless = …, note = … }`.
#[derive(Default)]
pub struct HandoffOpts {
    pub expires: Option<String>,
    pub headless: bool,
    pub note: Option<String>,
}

impl mlua::FromLua for HandoffOpts {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        let Some(k) = Keys::of(v, "handoff's options", &["expires", "headless", "note"])? else {
            return Ok(Self::default());
        };
        Ok(Self {
            expires: k.string("expires")?,
            headless: k.boolean("headless")?.unwrap_or(false),
            note: k.string("note")?,
        })
    }
}

/// `race.alert.webhook(url, payload, opts)`: `{ wait = true }`.
#[derive(Default)]
pub struct WebhookOpts {
    pub wait: bool,
}

impl mlua::FromLua for WebhookOpts {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        let Some(k) = Keys::of(v, "webhook's options", &["wait"])? else {
            return Ok(Self::default());
        };
        Ok(Self {
            wait: k.boolean("wait")?.unwrap_or(false),
        })
    }
}

/// `race.market.url(url, filters)`: `{ item = …, sort = … }`.
#[derive(Default)]
pub struct MarketFilters {
    pub item: Option<String>,
    pub sort: Option<String>,
}

impl mlua::FromLua for MarketFilters {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        let Some(k) = Keys::of(v, "the marketplace filters", &["item", "sort"])? else {
            return Ok(Self::default());
        };
        let sort = k.string("sort")?;
        if let Some(s) = &sort {
            sort_named(s)?;
        }
        Ok(Self {
            item: k.text("item")?,
            sort,
        })
    }
}

/// A sort the marketplace knows (`core::pretix::Sort`): anything else raises with the list, and
/// the one meant when it is a typo away.
fn sort_named(s: &str) -> mlua::Result<()> {
    use crate::core::pretix::Sort;
    if Sort::parse(s).is_some() {
        return Ok(());
    }
    let names = Sort::names();
    let list = names.join(", ");
    Err(mlua::Error::runtime(match suggest(s, &names) {
        Some(meant) => format!(
            "unknown sort {s:?} in the marketplace filters; did you mean {meant:?}? (the sorts: {list})"
        ),
        None => format!("unknown sort {s:?} in the marketplace filters; the sorts are {list}"),
    }))
}

/// `session:add_to_cart(listing, opts)`: `{ referer = url }` (default: the listing's page).
#[derive(Default)]
pub struct ListingOpts {
    pub referer: Option<String>,
}

impl mlua::FromLua for ListingOpts {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        if let Value::Table(t) = &v
            && t.contains_key("count")?
        {
            return Err(mlua::Error::runtime(
                "add_to_cart: `count` is for a product; a listing is one ticket (a listing's options: `referer`)",
            ));
        }
        let Some(k) = Keys::of(v, "add_to_cart's options for a listing", &["referer"])? else {
            return Ok(Self::default());
        };
        Ok(Self {
            referer: k.string("referer")?,
        })
    }
}

/// `session:add_to_cart(product, opts)`: `{ count = n }` (default 1).
pub struct ProductOpts {
    pub count: u32,
}

/// More than any shop lets one order hold.
const MAX_COUNT: i64 = 10_000;

impl mlua::FromLua for ProductOpts {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        let Some(k) = Keys::of(v, "add_to_cart's options for a product", &["count"])? else {
            return Ok(Self { count: 1 });
        };
        Ok(Self {
            count: k.integer("count", 1..=MAX_COUNT)?.unwrap_or(1) as u32,
        })
    }
}

/// One entry of a strategy's `targets`: `{ url = …, event = …, item = …, weight = … }`.
pub struct TargetEntry {
    pub url: Option<String>,
    pub event: Option<String>,
    pub item: Option<String>,
    /// A whole number; its range is `config::parse_weight`'s to check, as for `--event day2:3`.
    pub weight: Option<i64>,
}

/// The keys a target takes.
pub const TARGET_KEYS: &[&str] = &["url", "event", "item", "weight"];

/// A target that cannot be read: what is wrong, and the key it is about (an unknown key, or one
/// of the wrong type), so the report can point at the line that writes it.
#[derive(Debug)]
pub struct TargetError {
    pub key: Option<String>,
    pub message: String,
}

impl TargetEntry {
    /// Reads one entry of `targets`, strictly: an unknown key or a value of the wrong type (a
    /// `weight = "3"`) is an error naming that key.
    pub fn read(v: Value) -> Result<Self, TargetError> {
        let unknown = match &v {
            Value::Table(t) => {
                t.pairs::<Value, Value>()
                    .filter_map(Result::ok)
                    .find_map(|(k, _)| match k {
                        Value::String(s) if !TARGET_KEYS.contains(&&*s.to_string_lossy()) => {
                            Some(s.to_string_lossy())
                        }
                        _ => None,
                    })
            }
            _ => None,
        };
        let message = |e: mlua::Error| match e {
            mlua::Error::RuntimeError(m) => m,
            other => other.to_string(),
        };
        let k = match Keys::of(v, "a target", TARGET_KEYS) {
            Ok(Some(k)) => k,
            Ok(None) => {
                return Err(TargetError {
                    key: None,
                    message: "a target must be a table, got nil".into(),
                });
            }
            Err(e) => {
                return Err(TargetError {
                    key: unknown,
                    message: message(e),
                });
            }
        };
        let at = |key: &'static str| {
            move |e: mlua::Error| TargetError {
                key: Some(key.to_string()),
                message: message(e),
            }
        };
        Ok(Self {
            url: k.string("url").map_err(at("url"))?,
            event: k.string("event").map_err(at("event"))?,
            item: k.text("item").map_err(at("item"))?,
            weight: k
                .integer("weight", i64::MIN..=i64::MAX)
                .map_err(at("weight"))?,
        })
    }
}

impl mlua::FromLua for TargetEntry {
    fn from_lua(v: Value, _: &mlua::Lua) -> mlua::Result<Self> {
        Self::read(v).map_err(|e| mlua::Error::runtime(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::FromLua;

    #[test]
    fn a_near_miss_is_suggested_and_a_stranger_is_not() {
        assert_eq!(suggest("evnet", TARGET_KEYS), Some("event"));
        assert_eq!(suggest("URL", TARGET_KEYS), None);
        assert_eq!(suggest("wieght", TARGET_KEYS), Some("weight"));
        assert_eq!(suggest("colour", TARGET_KEYS), None);
        assert_eq!(
            unknown_key("colour", "a target", TARGET_KEYS),
            "unknown key `colour` in a target; it takes `url`, `event`, `item`, `weight`"
        );
    }

    #[test]
    fn a_sort_is_one_of_the_marketplaces() {
        assert!(sort_named("newest").is_ok());
        assert_eq!(
            sort_named("price-asc").unwrap_err().to_string(),
            "runtime error: unknown sort \"price-asc\" in the marketplace filters; did you mean \"price_asc\"? (the sorts: price_asc, price_desc, newest, oldest)"
        );
    }

    #[test]
    fn a_targets_wrong_type_names_its_key() {
        let lua = mlua::Lua::new();
        let read = |src: &str| {
            let v: Value = lua.load(src).eval().unwrap();
            TargetEntry::read(v)
                .map(|t| t.weight)
                .map_err(|e| (e.key, e.message))
        };
        assert_eq!(
            read("{ url = 'https://a.example', weight = 3 }").unwrap(),
            Some(3)
        );
        assert_eq!(
            read("{ url = 'https://a.example', weight = '3' }").unwrap_err(),
            (
                Some("weight".into()),
                "`weight` in a target must be a whole number, got the string \"3\": write weight = 3, without quotes".into()
            )
        );
        assert_eq!(
            read("{ url = 'https://a.example', weight = true }").unwrap_err(),
            (
                Some("weight".into()),
                "`weight` in a target must be a whole number, got a boolean".into()
            )
        );
        assert_eq!(
            read("{ url = 'https://a.example', evnet = 'x' }").unwrap_err(),
            (
                Some("evnet".into()),
                "unknown key `evnet` in a target; did you mean `event`?".into()
            )
        );
    }

    #[test]
    fn a_count_is_a_whole_number_in_range() {
        let lua = mlua::Lua::new();
        let read = |src: &str| -> Result<u32, String> {
            let v: Value = lua.load(src).eval().unwrap();
            ProductOpts::from_lua(v, &lua)
                .map(|o| o.count)
                .map_err(|e| e.to_string())
        };
        assert_eq!(read("nil"), Ok(1));
        assert_eq!(read("{ count = 3 }"), Ok(3));
        assert_eq!(read("{ count = 3.0 }"), Ok(3));
        assert_eq!(
            read("{ count = 1.5 }").unwrap_err(),
            "runtime error: `count` in add_to_cart's options for a product must be a whole number, got a number"
        );
        assert_eq!(
            read("{ count = 0 }").unwrap_err(),
            "runtime error: `count` in add_to_cart's options for a product must be a whole number from 1 to 10000, got 0"
        );
        assert_eq!(
            read("{ cuont = 2 }").unwrap_err(),
            "runtime error: unknown key `cuont` in add_to_cart's options for a product; did you mean `count`?"
        );
    }
}
