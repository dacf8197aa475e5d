//! The scriptable engine: several events, a strategy's own targets, sessions and tasks, the
//! toolkit (html, json, url, store), and one failure rule.

use std::time::Duration;

use pretix_race::sim::Scenario;

use crate::support::hook::Hook;
use crate::support::{Race, bare};

fn events(n: u32, name: &str) -> Scenario {
    let mut s = Scenario::named(name).unwrap();
    s.events = n;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_events_are_watched_at_once_and_the_second_ones_listing_is_won() {
    let hook = Hook::start().await;
    // The listing shows up after ten polls in all, so both watches are polling by then.
    let mut s = events(2, "instant");
    s.listings_from_poll = 10;
    let d = Race::new(s)
        .args(["--webhook", hook.url.as_str()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();
    for ev in ["/rehearsal/secondhand/", "/rehearsal-2/secondhand/"] {
        assert!(
            seen.iter().any(|s| s.method == "GET" && s.path == ev),
            "{ev} polled: {d:?}"
        );
    }
    let posts = d.posts();
    assert_eq!(posts.len(), 1, "{d:?}");
    assert!(posts[0].path.starts_with("/rehearsal-2/secondhand/buy/"));
    assert!(
        d.stdout.contains("/rehearsal-2/checkout/questions/"),
        "{d:?}"
    );
    assert!(
        d.stderr.contains("[rehearsal-2] watching"),
        "the log names the event: {d:?}"
    );
    // The two watches use two sessions (two carts would be two checkouts).
    let sessions: std::collections::HashSet<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .filter_map(|s| s.cookie("__Host-pretix_session").map(str::to_string))
        .collect();
    assert_eq!(sessions.len(), 2, "{d:?}");
    let b = &hook.bodies()[0];
    assert_eq!(b["event"], "ticket_in_cart");
    assert!(
        b["target"]
            .as_str()
            .unwrap()
            .ends_with("/rehearsal-2/secondhand/"),
        "the alert names the event: {b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearse_several_events() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = bare(
        &[
            "rehearse",
            "--events",
            "2",
            "--headless",
            "--interval",
            "0",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/rehearsal-2/checkout/questions/"), "{out}");
    assert!(err.contains("[rehearsal] watching"), "{err}");
}

const NAMES_ITS_TARGETS: &str = r#"local strategy = require("race.default")
strategy.targets = {
  { url = "{BASE}", event = "rehearsal" },
}
return strategy
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_file_names_its_own_targets() {
    let d = Race::named("instant")
        .own_targets()
        .script(NAMES_ITS_TARGETS)
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert!(d.stderr.contains("the strategy names its target"), "{d:?}");
    // Flags given anyway take precedence.
    let d = Race::named("instant")
        .script(&NAMES_ITS_TARGETS.replace("{BASE}", "https://127.0.0.1:1"))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stderr.contains("the strategy's `targets` are not used"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategys_targets_are_checked_like_flags_before_any_request() {
    for (target, says, line) in [
        (
            r#"{ url = "http://tickets.example.com", event = "ev" }"#,
            "uses plain http",
            3,
        ),
        (
            r#"{ url = "https://tickets.example.com", event = "a/b" }"#,
            "is not an event slug",
            3,
        ),
        (
            r#"{ url = "https://tickets.example.com", event = "ev" }"#,
            "below the 2 s floor",
            3,
        ),
    ] {
        let script = format!(
            "local strategy = require(\"race.default\")\nstrategy.targets = {{\n  {target},\n}}\nreturn strategy\n"
        );
        let d = Race::named("instant")
            .own_targets()
            .script(&script)
            .run()
            .await;
        assert_eq!(d.code, 3, "{target}: {d:?}");
        assert!(d.stderr.contains(says), "{target}: {d:?}");
        assert!(
            d.stderr.contains(&format!("strategy.lua:{line}")),
            "{target}: {d:?}"
        );
        assert!(d.sim.seen().is_empty(), "no request: {d:?}");
    }
    // Nothing to watch at all.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(&["--headless"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing to watch"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_url_shorthand() {
    let d = Race::named("instant").event_url_shorthand().run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_tasks_and_the_method_shape() {
    let d = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            local other = race.new_session()
            local function watch(session, n)
              for _ = 1, n do
                local page = assert(session:poll(url))
                assert(page.state == "open" and page.ok)
              end
              return n, "extra"
            end
            local a = race.spawn(watch, race.session, 3)
            local b = race.spawn(watch, other, 5)
            local i, n, extra = race.select(a, b)
            assert((i == 1 and n == 3) or (i == 2 and n == 5), tostring(i))
            assert(extra == "extra")
            local x, y = race.join(a, b)
            assert(x == 3 and y == 5)
            -- Two cookie jars.
            local function session_cookie(s)
              for _, c in ipairs(s:cookies()) do
                if c.name == "__Host-pretix_session" then return c.value end
              end
            end
            assert(session_cookie(race.session) ~= session_cookie(other))
            -- A task that raises raises in join, at its line.
            local bad = race.spawn(function() error("boom in a task") end)
            local ok, err = pcall(race.join, bad)
            assert(not ok and tostring(err):find("boom in a task", 1, true), tostring(err))
            -- One failure rule: a status is data, a missing link is `nil, err`.
            local r = assert(race.session:get(race.options.event_url .. "nope/"))
            assert(r.status == 404 and r.ok == false)
            local m, e = other:discover(race.options.event_url .. "nope/")
            assert(m == nil and e.kind == "no_link" and e.status == 404 and e.readable == false, tostring(e))
            print("TASKS OK")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("TASKS OK"), "{d:?}");
    let polls = d
        .sim
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .count();
    assert_eq!(polls, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_every_task() {
    let mut r = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            local function nap() while true do race.time.sleep(0.01) end end
            local function poll() while true do race.session:poll(url); race.time.sleep(0.01) end end
            local a, b = race.spawn(nap), race.spawn(poll)
            race.log.info("TASKS STARTED")
            race.join(a, b)
            "#,
        )
        .spawn()
        .await;
    r.wait_for("TASKS STARTED", Duration::from_secs(20)).await;
    r.wait_for("| empty", Duration::from_secs(20)).await;
    let d = r.signal("INT").await;
    assert_eq!(d.code, 130, "{d:?}");
    assert!(
        d.stderr.lines().last().unwrap().starts_with("stopped: "),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runaway_watchdog_stops_a_spinning_task() {
    let d = Race::named("quiet")
        .args(["--runaway-after", "0.5"])
        .script(
            r#"local race = require("race")
assert(race.session:get(race.options.event_url))
local t = race.spawn(function()
  while true do end
end)
race.join(t)
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("runaway script"), "{d:?}");
    assert!(d.stderr.contains("strategy.lua:4"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_toolkit_reads_pages_json_urls_and_keeps_state() {
    let script = r#"
        local race = require("race")
        local ev = race.options.event_url
        local r = assert(race.session:get(ev))
        local doc = race.html.parse(r.body, r.url)
        local links = doc:select("a.btn")
        assert(#links >= 2, #links)
        assert(links[1].tag == "a" and links[1].text ~= "" and links[1]:attr("href"))
        local aside = doc:select("aside")[1]
        local inner = aside:select("a")[1]
        assert(race.url.join(r.url, inner:attr("href")) == ev .. "secondhand/", inner:attr("href"))
        assert(aside.html:find("<aside", 1, true))
        local ok, err = pcall(doc.select, doc, "a[")
        assert(not ok and tostring(err):find("not a CSS selector", 1, true), tostring(err))
        local page = assert(race.session:poll(ev .. "secondhand/"))
        local forms = race.html.forms(page.body, page.url)
        assert(#forms == 1 and forms[1].method == "get", #forms)
        assert(forms[1].action == page.url and forms[1].fields.sort == "price_asc", forms[1].action)
        -- JSON both ways, and text that is not JSON is an expected failure.
        local v = race.json.decode(race.json.encode({ a = 1, list = { 1, 2, 3 }, s = "é" }))
        assert(v.a == 1 and #v.list == 3 and v.s == "é")
        local bad, e = race.json.decode("{not json")
        assert(bad == nil and e.kind == "json", tostring(e))
        assert(race.url.query("https://x.example/p?a=1&b=2", { b = 3, c = "d e" }) == "https://x.example/p?a=1&b=3&c=d+e")
        -- State survives the run.
        local runs = (race.store.get("runs") or 0) + 1
        race.store.set("runs", runs)
        race.store.set("gone", { 1 })
        race.store.set("gone", nil)
        assert(race.store.get("gone") == nil)
        print("RUNS " .. runs)
    "#;
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("state");
    for n in 1..=2 {
        let d = Race::named("quiet")
            .args(["--state-dir", state_dir.to_str().unwrap()])
            .script(script)
            .run()
            .await;
        assert_eq!(d.code, 0, "{d:?}");
        assert!(d.stdout.contains(&format!("RUNS {n}")), "{d:?}");
    }
    #[cfg(unix)]
    assert_eq!(crate::support::mode(&state_dir.join("store.json")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_dry_run_does_not_announce_the_same_listing_again() {
    let hook = Hook::start().await;
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap().to_string();
    let mut sim_scenario = Scenario::named("instant").unwrap();
    sim_scenario.listings[0].id = "stays-up-1".into();
    for round in 0..2 {
        let mut r = Race::new(sim_scenario.clone())
            .args([
                "--dry-run",
                "--webhook",
                hook.url.as_str(),
                "--state-dir",
                &dir,
            ])
            .spawn()
            .await;
        for _ in 0..3 {
            r.wait_for("| 1 listing", Duration::from_secs(20)).await;
        }
        r.signal("INT").await;
        let announced = hook
            .bodies()
            .iter()
            .filter(|b| b["event"] == "tickets_available")
            .count();
        assert_eq!(announced, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_can_wait_for_delivery() {
    let hook = Hook::answering(&[500, 500, 500]).await;
    let good = Hook::start().await;
    let d = Race::named("quiet")
        .env("BAD", &hook.url)
        .env("GOOD", &good.url)
        .script(
            r#"
            local race = require("race")
            assert(race.session:get(race.options.event_url))
            local ok = assert(race.alert.webhook(os.getenv("GOOD"), { n = 1 }, { wait = true }))
            local no, err = race.alert.webhook(os.getenv("BAD"), { n = 2 }, { wait = true })
            assert(no == nil and err.kind == "webhook" and tostring(err):find("500", 1, true), tostring(err))
            print("WAITED")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("WAITED"));
    assert_eq!(good.bodies().len(), 1);
    assert_eq!(hook.bodies().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_reads_a_main_shops_products() {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shop_available.html"),
    )
    .unwrap();
    let script = format!(
        r#"
        local race = require("race")
        assert(race.session:get(race.options.event_url))
        local page = {{ body = [==[{page}]==], url = "https://shop.example/org/samplecon/" }}
        local products = race.shop.products(page)
        assert(#products == 6, #products)
        local day, shirt = products[1], products[6]
        assert(day.id == "7" and day.available and day.max == 1 and day.field == "item_7")
        assert(day.fields.csrfmiddlewaretoken == "tok-shop-1")
        assert(day.action:find("/org/samplecon/cart/add", 1, true))
        assert(products[3].state == "sold_out" and not products[3].available)
        assert(shirt.title == "Festival Shirt – XL" and shirt.variation == "4" and shirt.max == 2)
        print("PRODUCTS OK")
        "#
    );
    let d = Race::named("quiet").script(&script).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("PRODUCTS OK"), "{d:?}");
}
