//! Documentation that runs: README Lua blocks, every example strategy, and the LuaLS stubs
//! naming exactly what the API registers.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{Race, hook::Hook};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every function the running API has, as `race.area.name` and `Session:method`.
async fn registered() -> BTreeSet<String> {
    let d = Race::named("quiet")
        .env("PRETIX_RACE_TEST_HOOKS", "1")
        .script(
            r#"
            local race = require("race")
            local methods = race._test_methods
            race._test_methods, race._test_panic, race._test_close_early_browser = nil, nil, nil
            local out = {}
            local function walk(prefix, t)
              for k, v in pairs(t) do
                if type(v) == "function" then out[#out + 1] = prefix .. "." .. k
                elseif type(v) == "table" and k ~= "options" then walk(prefix .. "." .. k, v) end
              end
            end
            walk("race", race)
            assert(race.session:get(race.options.event_url))
            -- The userdata's methods, as the core registered them (not a list kept by hand).
            for class, ud in pairs({ Session = race.session, Document = race.html.parse("", "https://a.example/"),
                                     Task = race.spawn(function() end) }) do
              for _, m in ipairs(methods(ud)) do out[#out + 1] = class .. ":" .. m end
            end
            -- Element tables share one metatable of methods.
            local el = race.html.parse("<p>x</p>", "https://a.example/"):select("p")[1]
            for k in pairs(getmetatable(el).__index) do out[#out + 1] = "Element:" .. k end
            print(table.concat(out, "\n"))
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    d.stdout.lines().map(str::to_string).collect()
}

/// Every `function race.x.y(` and `function Session:m(` the stubs declare.
fn stubbed() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("scripts/types/race.lua")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("function "))
        .map(|l| l.split('(').next().unwrap().trim().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stubs_name_exactly_the_registered_api() {
    let reg = registered().await;
    assert!(
        reg.contains("race.market.url") && reg.contains("Session:get"),
        "{reg:?}"
    );
    assert_eq!(stubbed(), reg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_strategy_secures_a_cart_in_a_rehearsal() {
    let dir = root().join("scripts/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "lua") {
            continue;
        }
        n += 1;
        // Examples that notify somewhere get a loopback receiver (no test leaves the machine).
        let hook = Hook::start().await;
        // `-- rehearsal: NAME [events=N]` in an example names the scenario it is rehearsed in.
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text
            .lines()
            .find_map(|l| l.strip_prefix("-- rehearsal: "))
            .unwrap_or("standard");
        let mut words = header.split_whitespace();
        let mut scenario =
            pretix_race::sim::Scenario::named(words.next().unwrap()).expect("a known scenario");
        for w in words {
            if let Some(n) = w.strip_prefix("events=") {
                scenario.events = n.parse().unwrap();
            }
        }
        let d = Race::new(scenario)
            .env("NTFY_SERVER", &hook.url)
            .env("NTFY_TOPIC", "test-topic")
            .script(&std::fs::read_to_string(&path).unwrap())
            .run()
            .await;
        assert_eq!(d.code, 0, "{}: {d:?}", path.display());
        assert!(
            d.stdout.contains("TICKET IN CART"),
            "{}: {d:?}",
            path.display()
        );
        if path.ends_with("ntfy.lua") {
            let b = &hook.bodies()[0];
            assert_eq!(b["topic"], "test-topic");
            assert!(
                b["click"]
                    .as_str()
                    .unwrap()
                    .ends_with("/rehearsal/checkout/questions/")
            );
            assert!(
                b["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Ticket – Type B, 210.00 EUR")
            );
        }
    }
    assert!(n >= 6, "examples found: {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_do_what_they_say() {
    let example =
        |name: &str| std::fs::read_to_string(root().join("scripts/examples").join(name)).unwrap();
    // Two tickets in one cart, handed over once.
    let d = Race::named("pair")
        .script(&example("two_tickets.lua"))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.posts().len(), 2, "{d:?}");
    assert_eq!(d.stdout.matches("=== TICKET IN CART").count(), 1, "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()).len(), 2, "{d:?}");
    // The deadline ends a quiet watch with its own message.
    let d = Race::named("quiet")
        .env("DEADLINE_MINUTES", "0.005")
        .script(&example("deadline.lua"))
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr
            .contains("deadline: nothing secured in 0.005 minutes"),
        "{d:?}"
    );
    // Several events: the second event's listing is the one won.
    let mut s = pretix_race::sim::Scenario::named("instant").unwrap();
    s.events = 2;
    let d = Race::new(s)
        .script(&example("several_events.lua"))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.posts()[0].path.starts_with("/rehearsal-2/"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_lua_blocks_run() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```lua\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(!blocks.is_empty());
    for b in blocks {
        let d = Race::named("standard").script(b).run().await;
        assert_eq!(d.code, 0, "README block:\n{b}\n{d:?}");
    }
}

#[test]
fn readme_names_the_two_commands_and_ci_runs_them() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- rehearse"));
    assert!(readme.contains("cargo test"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(ci.contains("cargo test"));
}

/// A stub class: its parent and its fields (name, optional).
type StubClass = (Option<String>, Vec<(String, bool)>);

/// `---@class` name -> its parent and fields, from the stubs.
fn stub_classes() -> std::collections::BTreeMap<String, StubClass> {
    let text = std::fs::read_to_string(root().join("scripts/types/race.lua")).unwrap();
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("---@class ") {
            let (name, parent) = match rest.split_once(':') {
                Some((n, p)) => (n.trim(), Some(p.trim().to_string())),
                None => (rest.trim(), None),
            };
            out.insert(name.to_string(), (parent, Vec::new()));
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("---@field ") {
            let mut parts = rest.split_whitespace();
            let (name, ty) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            let optional = ty.ends_with("|nil") || ty.ends_with('?') || name.ends_with('?');
            if let Some(c) = &current {
                out.get_mut(c)
                    .unwrap()
                    .1
                    .push((name.trim_end_matches('?').to_string(), optional));
            }
        } else if !line.starts_with("---") {
            current = None;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stubs_fields_match_real_results() {
    let d = Race::named("instant")
        .script(
            r#"
            local race = require("race")
            local s = race.session
            local function keys(class, t)
              for k in pairs(t) do print(class .. " " .. k) end
            end
            local ev = race.options.event_url
            keys("race.Options", race.options)
            keys("race.Target", race.options.targets[1])
            keys("race.Response", assert(s:get(ev)))
            local _, err = s:discover(ev .. "nope/")
            keys("race.Error", err)
            local _, err2 = s:get("https://127.0.0.1:1/")
            keys("race.Error", err2)
            local page = assert(s:poll(ev .. "secondhand/"))
            keys("race.Page", page)
            keys("race.Listing", page.listings[1])
            local result = assert(s:add_to_cart(page.listings[1]))
            keys("race.CartResult", result)
            keys("race.Cookie", s:cookies()[1])
            keys("race.Handoff", s:handoff(result.checkout_url, { headless = true, expires = result.expires }))
            keys("race.Stats", race.stats())
            local el = race.html.parse(page.body, page.url):select("form")[1]
            keys("Element", el)
            keys("race.Form", race.html.forms(page.body, page.url)[1])
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(keys_match_stubs(&d.stdout), 12, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stubs_fields_match_a_shops_real_results() {
    let d = Race::new(
        pretix_race::sim::Scenario::named("shop")
            .unwrap()
            .with_retry_after("0"),
    )
    .args(["--interval", "0"])
    .script(
        r#"
            local race = require("race")
            local s = race.session
            local function keys(class, t)
              for k in pairs(t) do print(class .. " " .. k) end
            end
            while true do
              local page = assert(s:poll_shop(race.options.event_url))
              keys("race.ShopPage", page)
              keys("race.Product", page.products[1])
              local p = page.products[1]
              if p.available then
                local result = assert(s:add_to_cart(p, { count = 1 }))
                keys("race.CartResult", result)
                if result.status == "in_cart" then
                  -- The cart panel now holds look-alike forms: still four products, ours reserved.
                  local again = assert(s:poll_shop(race.options.event_url))
                  assert(#again.products == 4 and again.products[1].state == "reserved")
                  s:handoff(result.checkout_url, { headless = true })
                  return true
                end
              end
            end
            "#,
    )
    .run()
    .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(keys_match_stubs(&d.stdout), 3, "{d:?}");
}

/// Checks `Class key` lines against the stubs: every key is documented, every documented
/// field that is not optional is there. Returns how many classes were seen.
fn keys_match_stubs(stdout: &str) -> usize {
    let classes = stub_classes();
    let fields_of = |class: &str| -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut c = Some(class.to_string());
        while let Some(name) = c {
            let (parent, fields) = classes
                .get(&name)
                .unwrap_or_else(|| panic!("no class {name}"));
            out.extend(fields.iter().cloned());
            c = parent.clone();
        }
        out
    };
    let mut seen: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for line in stdout.lines() {
        if let Some((class, key)) = line.split_once(' ') {
            if class.starts_with("race.") || class == "Element" {
                seen.entry(class.into()).or_default().insert(key.into());
            }
        }
    }
    for (class, keys) in &seen {
        let fields = fields_of(class);
        let documented: BTreeSet<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        for k in keys {
            // `base` is the element's own bookkeeping for :select.
            if class == "Element" && k == "base" {
                continue;
            }
            assert!(
                documented.contains(k.as_str()),
                "{class}.{k} is not in the stubs"
            );
        }
        for (f, optional) in &fields {
            assert!(
                *optional || keys.contains(f),
                "{class}.{f} is in the stubs but not in a real result"
            );
        }
    }
    seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_api_table_names_every_area() {
    let reg = registered().await;
    let mut areas: BTreeSet<String> = reg
        .iter()
        .filter_map(|r| r.strip_prefix("race."))
        .map(|r| r.split('.').next().unwrap().to_string())
        .collect();
    areas.extend(["options".to_string(), "session".to_string()]);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table: BTreeSet<String> = readme
        .lines()
        .filter(|l| l.starts_with("| `race."))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap();
            cell.split('`')
                .filter_map(|p| p.strip_prefix("race."))
                .map(|p| p.split(['.', '(', ':']).next().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(table, areas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_reads_exactly_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = crate::support::bare(&["--help"], dir.path()).await;
    assert_eq!(code, 0);
    let want = std::fs::read_to_string(root().join("tests/golden/help.txt")).unwrap();
    assert_eq!(
        out, want,
        "--help changed: if on purpose, update tests/golden/help.txt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_reads_exactly_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("strategy.lua"),
        "local race = require(\"race\")\n\nif race.options then\n  print(\"x\"\nend\n",
    )
    .unwrap();
    let (code, _, err) = crate::support::bare_env(
        &[
            "--url",
            "https://127.0.0.1:9",
            "--event",
            "x",
            "--headless",
            "--log-dir",
            "l",
            "strategy.lua",
        ],
        dir.path(),
        &[("NO_COLOR", "1")],
    )
    .await;
    assert_eq!(code, 3, "{err}");
    let want = std::fs::read_to_string(root().join("tests/golden/script_error.txt")).unwrap();
    assert_eq!(
        err, want,
        "the report changed: if on purpose, update tests/golden/script_error.txt"
    );
}
