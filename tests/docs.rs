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
            race._test_methods, race._test_panic = nil, nil
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
        reg.contains("race.market.poll") && reg.contains("Session:get"),
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
        let d = Race::named("standard")
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
    assert!(n >= 2, "examples found: {n}");
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
