//! The LuaLS stubs (`scripts/types/race.lua`) held against the runtime in both directions: every
//! function and method the stubs declare is registered and every registered one is declared; every
//! field a real result carries (from runs against the simulator) is declared, with a declared type
//! that admits the value's Lua type, and every field the stubs promise without `|nil` is there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::Race;

fn stubs_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/types/race.lua"))
        .unwrap()
}

/// A stub class: its parent, and its fields (name -> declared type).
#[derive(Default)]
struct Class {
    parent: Option<String>,
    fields: BTreeMap<String, String>,
}

/// The stubs: classes by name, and every function (`race.area.name`, `race.Class:method`).
struct Stubs {
    classes: BTreeMap<String, Class>,
    functions: BTreeSet<String>,
}

fn stubs() -> Stubs {
    let text = stubs_text();
    let mut classes: BTreeMap<String, Class> = BTreeMap::new();
    let mut functions = BTreeSet::new();
    // `---@class race.Session` then `local Session = {}`: methods of `Session` are the class's.
    let mut locals: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("---@class ") {
            let (name, parent) = match rest.split_once(':') {
                Some((n, p)) => (n.trim(), Some(p.trim().to_string())),
                None => (rest.trim(), None),
            };
            classes.entry(name.to_string()).or_default().parent = parent;
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("---@field ") {
            let mut parts = rest.split_whitespace();
            let (name, ty) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            let (name, ty) = match name.strip_suffix('?') {
                Some(n) => (n, format!("{ty}|nil")),
                None => (name, ty.to_string()),
            };
            let c = current.as_ref().expect("a field outside a class");
            classes
                .get_mut(c)
                .unwrap()
                .fields
                .insert(name.to_string(), ty);
        } else if let Some(rest) = line.strip_prefix("local ") {
            if let (Some(c), Some((var, "{}"))) = (&current, rest.split_once(" = ")) {
                locals.insert(var.to_string(), c.clone());
            }
            current = None;
        } else if let Some(rest) = line.strip_prefix("function ") {
            let name = rest.split('(').next().unwrap().trim();
            let name = match name.split_once(':') {
                Some((var, m)) => format!("{}:{m}", locals.get(var).expect("a class's local")),
                None => name.to_string(),
            };
            functions.insert(name);
        } else if !line.starts_with("---") {
            current = None;
        }
    }
    Stubs { classes, functions }
}

impl Stubs {
    /// A class's fields with its parents'.
    fn fields(&self, class: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut c = Some(class.to_string());
        while let Some(name) = c {
            let class = self
                .classes
                .get(&name)
                .unwrap_or_else(|| panic!("no class {name} in the stubs"));
            for (k, v) in &class.fields {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
            c = class.parent.clone();
        }
        out
    }
}

/// Whether a declared type admits a value whose Lua type is `seen` ("integer" and "float" for
/// numbers, else `type(v)`).
fn admits(declared: &str, seen: &str) -> bool {
    // A `|` inside `table<…>` or `{…}` does not split alternatives.
    let mut alts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in declared.char_indices() {
        match ch {
            '<' | '{' | '(' => depth += 1,
            '>' | '}' | ')' => depth -= 1,
            '|' if depth == 0 => {
                alts.push(&declared[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    alts.push(&declared[start..]);
    alts.iter().any(|alt| match *alt {
        "string" => seen == "string",
        "integer" => seen == "integer",
        "number" => seen == "integer" || seen == "float",
        "boolean" | "true" | "false" => seen == "boolean",
        "nil" => seen == "nil",
        "any" => true,
        "race.Session" | "race.Task" | "race.Document" => seen == "userdata",
        a if a.starts_with('"') => seen == "string",
        a if a.starts_with("table") || a.ends_with("[]") || a.starts_with('{') => seen == "table",
        a if a.starts_with("race.") => seen == "table",
        _ => false,
    })
}

/// A Lua helper every script below starts with: `fields(class, t)` prints each field of `t`
/// with its Lua type.
const FIELDS: &str = r#"
local race = require("race")
local function fields(class, t)
  assert(type(t) == "table", class .. ": no value to read")
  for k, v in pairs(t) do
    local ty = type(v) == "number" and math.type(v) or type(v)
    print("field " .. class .. " " .. tostring(k) .. " " .. ty)
  end
end
"#;

/// Checks the `field CLASS KEY TYPE` lines of `stdout` against the stubs; returns the classes seen.
fn check_fields(stdout: &str) -> BTreeSet<String> {
    let stubs = stubs();
    let mut seen: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for line in stdout.lines() {
        let mut w = line.split_whitespace();
        if w.next() != Some("field") {
            continue;
        }
        let (class, key, ty) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
        seen.entry(class.into())
            .or_default()
            .entry(key.into())
            .or_default()
            .insert(ty.into());
    }
    for (class, keys) in &seen {
        let declared = stubs.fields(class);
        for (k, types) in keys {
            let d = declared
                .get(k)
                .unwrap_or_else(|| panic!("{class}.{k} is not in the stubs"));
            for ty in types {
                assert!(
                    admits(d, ty),
                    "{class}.{k} is declared {d}, but a real one's Lua type is {ty}"
                );
            }
        }
        for (f, d) in &declared {
            assert!(
                admits(d, "nil") || keys.contains_key(f),
                "{class}.{f} is in the stubs (not optional) but not in a real result"
            );
        }
    }
    seen.into_keys().collect()
}

#[test]
fn the_type_check_itself_tells_types_apart() {
    assert!(admits("integer|nil", "integer") && admits("integer|nil", "nil"));
    assert!(!admits("integer", "float") && admits("number", "float"));
    assert!(admits("table<string,string|number>", "table"));
    assert!(!admits("table<string,string|number>", "string"));
    assert!(admits("\"open\"|\"inactive\"", "string") && !admits("string", "table"));
    assert!(admits("race.Session", "userdata") && !admits("race.Listing", "userdata"));
}

/// Every function and method the stubs declare is registered, and every registered one is in
/// the stubs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stubs_name_exactly_the_registered_functions() {
    let d = Race::named("quiet")
        .env("PRETIX_RACE_TEST_HOOKS", "1")
        .script(
            r#"
            local race = require("race")
            local methods = race._test_methods
            race._test_methods, race._test_panic, race._test_close_early_browser = nil, nil, nil
            local function walk(prefix, t)
              for k, v in pairs(t) do
                if type(v) == "function" then print("fn " .. prefix .. "." .. k)
                elseif type(v) == "table" and k ~= "options" then walk(prefix .. "." .. k, v) end
              end
            end
            walk("race", race)
            assert(race.session:get(race.options.event_url))
            -- The userdata's methods, as the core registered them (not a list kept by hand).
            for class, ud in pairs({ ["race.Session"] = race.session,
                                     ["race.Document"] = race.html.parse("", "https://a.example/"),
                                     ["race.Task"] = race.spawn(function() end) }) do
              for _, m in ipairs(methods(ud)) do print("fn " .. class .. ":" .. m) end
            end
            -- Element tables share one metatable of methods.
            local el = race.html.parse("<p>x</p>", "https://a.example/"):select("p")[1]
            for k in pairs(getmetatable(el).__index) do print("fn race.Element:" .. k) end
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let registered: BTreeSet<String> = d
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("fn "))
        .map(str::to_string)
        .collect();
    assert!(
        registered.contains("race.Session:poll_shop") && registered.contains("race.Element:url"),
        "{registered:?}"
    );
    let stubbed = stubs().functions;
    let missing: Vec<_> = registered.difference(&stubbed).collect();
    let extra: Vec<_> = stubbed.difference(&registered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "registered but not in the stubs: {missing:?}; in the stubs but not registered: {extra:?}"
    );
}

/// A marketplace run: every record class a strategy meets there, field by field, typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_runs_results_match_the_stubs_field_types() {
    let script = FIELDS.to_string()
        + r#"
local s = race.session
local ev = race.options.event_url
fields("race.Options", race.options)
fields("race.Target", race.options.targets[1])
fields("race.Response", assert(s:get(ev)))
local _, err = s:discover(ev .. "nope/")
fields("race.Error", err)
local _, err2 = s:get("https://127.0.0.1:1/")
fields("race.Error", err2)
local page = assert(s:poll(ev .. "secondhand/"))
fields("race.Page", page)
fields("race.Listing", page.listings[1])
local result = assert(s:add_to_cart(page.listings[1]))
fields("race.CartResult", result)
fields("race.Cookie", s:cookies()[1])
fields("race.Handoff", s:handoff(result.checkout_url, { headless = true, expires = result.expires }))
fields("race.Stats", race.stats())
local doc = assert(race.html.parse(page.body, page.url))
fields("race.Element", doc:select("form")[1])
fields("race.Form", race.html.forms(page.body, page.url)[1])
fields("race.Below", race.shop.links_below({
  body = '<a href="/org/fest/3/"><span class="event-name">Day 3</span></a>',
  url = "https://shop.example/org/fest/",
})[1])
"#;
    let d = Race::named("instant").script(&script).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = check_fields(&d.stdout);
    for class in [
        "race.Options",
        "race.Target",
        "race.Response",
        "race.Error",
        "race.Page",
        "race.Listing",
        "race.CartResult",
        "race.Cookie",
        "race.Handoff",
        "race.Stats",
        "race.Element",
        "race.Form",
        "race.Below",
    ] {
        assert!(seen.contains(class), "{class} not read: {d:?}");
    }
}

/// A main shop's run: its page, products and cart result, typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shops_results_match_the_stubs_field_types() {
    let script = FIELDS.to_string()
        + r#"
local s = race.session
while true do
  local page = assert(s:poll_shop(race.options.event_url))
  fields("race.ShopPage", page)
  for _, p in ipairs(page.products) do fields("race.Product", p) end
  local p = page.products[1]
  if p.available then
    local result = assert(s:add_to_cart(p, { count = 1 }))
    fields("race.CartResult", result)
    if result.status == "in_cart" then
      -- The cart panel now holds look-alike forms: still four products, ours reserved.
      local again = assert(s:poll_shop(race.options.event_url))
      assert(#again.products == 4 and again.products[1].state == "reserved")
      s:handoff(result.checkout_url, { headless = true })
      return true
    end
  end
end
"#;
    let d = Race::new(
        pretix_race::sim::Scenario::named("shop")
            .unwrap()
            .with_retry_after("0"),
    )
    .args(["--interval", "0"])
    .script(&script)
    .run()
    .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = check_fields(&d.stdout);
    assert_eq!(
        seen,
        ["race.CartResult", "race.Product", "race.ShopPage"]
            .map(String::from)
            .into(),
        "{d:?}"
    );
}
