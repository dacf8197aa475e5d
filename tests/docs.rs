//! Documentation that runs: README Lua blocks, every example strategy, and the README's API
//! table naming every area (the LuaLS stubs are held against the runtime in `stubs.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{Race, hook::Hook};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every function the running API has, as `race.area.name` and `race.Class:method` (the stubs
/// are held against it in `stubs.rs`).
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
            for class, ud in pairs({ ["race.Session"] = race.session, ["race.Document"] = race.html.parse("", "https://a.example/"),
                                     ["race.Task"] = race.spawn(function() end) }) do
              for _, m in ipairs(methods(ud)) do out[#out + 1] = class .. ":" .. m end
            end
            -- Element tables share one metatable of methods.
            local el = race.html.parse("<p>x</p>", "https://a.example/"):select("p")[1]
            for k in pairs(getmetatable(el).__index) do out[#out + 1] = "race.Element:" .. k end
            print(table.concat(out, "\n"))
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    d.stdout.lines().map(str::to_string).collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_api_table_names_every_area() {
    let reg = registered().await;
    let mut areas: BTreeSet<String> = reg
        .iter()
        .filter(|r| !r.contains(':'))
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
