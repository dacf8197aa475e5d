//! The Lua API from a script's side: primitives, reuse of the default, error channels, limits.

use std::time::Duration;

use pretix_race::sim::Scenario;

use crate::support::Race;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_the_default_and_change_one_decision() {
    // The most expensive listing instead of the page's first: one POST, for Type B.
    let d = Race::named("standard")
        .script(
            r#"
            local strategy = require("race.default")
            function strategy.choose(listings)
              table.sort(listings, function(a, b) return a.price > b.price end)
              return { listings[1] }
            end
            return strategy
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let posts = d.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].path.ends_with("/buy/z9x8c7v6b5n4m3l2/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_written_from_primitives() {
    let d = Race::named("standard")
        .script(
            r#"
            local race = require("race")
            local s = race.session
            local ev = assert(s:get(race.options.event_url))
            assert(ev.status == 200 and ev.ok and ev.size == #ev.body and ev.ttfb <= ev.ttlb)
            local market = assert(s:discover())
            local url = race.market.url(market, { sort = "price_desc" })
            assert(url:find("sort=price_desc", 1, true), url)
            while true do
              local page, err = s:poll(url)
              if page and #page.listings > 0 then
                -- The same parse, from the body, for scripts that fetch pages themselves.
                local again = race.market.listings(page.body, page.url)
                assert(#again == #page.listings and again[1].id == page.listings[1].id)
                local l = page.listings[1]
                assert(l.title == "Ticket – Type B" and l.price == 210 and l.currency == "EUR")
                assert(l.fields.csrfmiddlewaretoken and l.position == 1)
                local result = assert(s:add_to_cart(l))
                assert(result.status == "in_cart", result.status)
                assert(result.items[1] == "Ticket – Type B" and result.expires)
                local cookies = s:cookies()
                assert(#cookies == 3)
                print("SECURED " .. result.checkout_url)
                return true
              end
              race.time.sleep(0.01)
            end
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("SECURED https://127.0.0.1:"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_failures_return_nil_and_an_error() {
    let d = Race::named("inactive")
        .script(
            r#"
            local race = require("race")
            local url, err = race.session:discover()
            assert(url == nil)
            assert(err.kind == "no_link", err.kind)
            assert(tostring(err) == err.message and err.message:find("no link", 1, true))
            local r, err2 = race.session:get("https://127.0.0.1:1/")
            assert(r == nil and err2.kind == "network", tostring(err2))
            local x, err3 = race.alert.webhook("http://hooks.example.com/x", { a = 1 })
            assert(x == nil and err3.kind == "webhook" and err3.message:find("https", 1, true))
            print("CHECKED")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("CHECKED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_is_enforced_below_the_script() {
    let d = Race::named("instant")
        .arg("--dry-run")
        .script(
            r#"
            local race = require("race")
            local page = assert(race.session:poll(race.options.event_url .. "secondhand/"))
            local r, err = race.session:add_to_cart(page.listings[1])
            assert(r == nil and err.kind == "dry_run", tostring(err))
            local r2, err2 = race.session:post(page.listings[1].action, page.listings[1].fields)
            assert(r2 == nil and err2.kind == "dry_run")
            local r3, err3 = race.session:post(race.options.event_url .. "checkout/confirm/", {})
            assert(r3 == nil and err3.kind == "refused", tostring(err3))
            print("REFUSED")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("REFUSED"));
    assert!(d.posts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_time_log_and_stats() {
    let d = Race::named("quiet")
        .args(["--item", "965", "--sort", "newest", "--interval", "7", "--webhook", "https://hooks.example.com/x"])
        .script(
            r#"
            local race = require("race")
            local o = race.options
            assert(o.item == "965" and o.sort == "newest" and o.interval == 7 and o.dry_run == false)
            assert(o.webhook == "https://hooks.example.com/x" and o.poll_inactive == nil)
            assert(o.user_agent:find("^pretix%-race/"))
            for _ = 1, 200 do
              local j = race.time.jitter(10)
              assert(j >= 8 and j <= 12, j)
            end
            assert(race.time.jitter(10, 0) == 10)
            for _, bad in ipairs({ 0/0, -0.1, 1.5, math.huge }) do
              local ok, err = pcall(race.time.jitter, 1, bad)
              assert(not ok and tostring(err):find("must be from 0 to 1", 1, true), tostring(err))
            end
            local t0 = race.time.now()
            race.time.sleep(0.05)
            assert(race.time.now() - t0 >= 0.05)
            assert(race.time.rfc3339():match("^%d%d%d%d%-%d%d%-%d%dT"))
            race.log.info("formatted %d and %s", 42, "text")
            assert(race.stats().polls == 0)
            assert(race.session:get(race.options.event_url))
            print("OK " .. race.version)
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stdout
            .contains(&format!("OK {}", env!("CARGO_PKG_VERSION")))
    );
    assert!(d.stderr.contains("formatted 42 and text"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_limits_say_so_in_words() {
    let d = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            local function said(f)
              local ok, err = pcall(f)
              assert(not ok)
              return tostring(err)
            end
            local checks = {
              { function() os.execute("true") end, "os.execute is not available in strategies" },
              { function() os.exit(1) end, "os.exit is not available in strategies" },
              { function() io.open("/etc/passwd") end, "io.open is not available in strategies" },
              { function() coroutine.wrap(print) end, "coroutine.wrap is not available in strategies" },
              { function() string.dump(print) end, "string.dump is not available in strategies" },
              { function() dofile("x.lua") end, "dofile is not available in strategies" },
            }
            for i, c in ipairs(checks) do
              local msg = said(c[1])
              assert(msg:find(c[2], 1, true), msg)
              -- Reported at the caller's line, in the user's file.
              assert(msg:find("strategy.lua:%d+:"), msg)
            end
            -- Bytecode is refused everywhere: load, and require of a module file.
            local f, err = load("\27Lua binary", "x", "b")
            assert(f == nil and err:find("source text", 1, true), err)
            local g, err2 = load("\27LuaT\0")
            assert(g == nil and err2:find("binary", 1, true), err2)
            local ok, err3 = pcall(require, "evil")
            assert(not ok and tostring(err3):find("bytecode is refused", 1, true), tostring(err3))
            local ok4, err4 = pcall(require, "evil2")
            assert(not ok4 and tostring(err4):find("binary", 1, true), tostring(err4))
            assert(require("helper").twice(21) == 42)
            assert(race.session:get(race.options.event_url))
            print("SANDBOXED")
            "#,
        )
        .file("evil.lua", b"\x1bLuaT\x00\x19\x93\r\n\x1a\n\x04\x08\x08xV")
        .file("evil2.lua", b"\x1bLuaT\x00\x19")
        .file("helper.lua", b"return { twice = function(x) return 2 * x end }")
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("SANDBOXED"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_that_does_nothing_is_an_error() {
    for (lua, says) in [
        ("", "ended without a single request"),
        ("return 'watch please'", "returned a string"),
        (
            "return { choose = function(l) return l end }",
            "a table without a `run` function",
        ),
        ("return { run = 5 }", "whose `run` is a integer"),
        (
            "local race = require('race')\nrace.log.info('hi')\nreturn true",
            "ended without a single request",
        ),
    ] {
        let d = Race::named("instant").script(lua).run().await;
        assert_eq!(d.code, 3, "{lua}: {d:?}");
        assert!(d.stderr.contains(says), "{lua}: {d:?}");
        assert!(d.stderr.contains("is not a strategy"), "{lua}: {d:?}");
        assert!(
            d.stderr.contains("require(\"race.default\")"),
            "{lua}: {d:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_can_fail_with_a_message_and_hint() {
    let d = Race::named("quiet")
        .script("return function() return false, 'nothing under 50 EUR today', 'try again tomorrow' end\n")
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d.stderr.contains("nothing under 50 EUR today"));
    assert!(d.stderr.contains("try again tomorrow"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_runaway_loop_even_inside_pcall() {
    let mut r = Race::new(Scenario::named("quiet").unwrap())
        .script(
            r#"
            local race = require("race")
            race.log.info("spinning")
            while true do
              pcall(function() while true do end end)
            end
            "#,
        )
        .spawn()
        .await;
    r.wait_for("spinning", Duration::from_secs(20)).await;
    let (code, stderr, _) = r.interrupt().await;
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("stopped: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runaway_watchdog_cannot_be_swallowed_by_pcall() {
    let d = Race::named("quiet")
        .args(["--runaway-after", "0.5"])
        .script(
            r#"local race = require("race")
assert(race.session:get(race.options.event_url))
while true do
  pcall(function() while true do end end)
end
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("runaway script"), "{d:?}");
    assert!(d.stderr.contains("strategy.lua:4"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_capped() {
    let d = Race::named("quiet")
        .args(["--memory-limit-mb", "32"])
        .script("local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\n")
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr
            .contains("the strategy used more memory than it may"),
        "{d:?}"
    );
}

/// A poll's answer is built inside the VM in one go (values.rs `fields_table`): running out of
/// memory there is the same clean stop as anywhere else, not a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_memory_while_a_poll_answer_is_built_is_a_clean_stop() {
    let d = Race::named("quiet")
        .args(["--memory-limit-mb", "32"])
        .script(
            r#"local race = require("race")
local url = race.options.event_url .. "secondhand/"
local keep = {}
while pcall(function() keep[#keep + 1] = string.rep("x", 65536) .. #keep end) do end
keep[#keep] = nil
keep[#keep] = nil
collectgarbage()
local polls = 0
while true do
  keep[#keep + 1] = race.session:poll(url)
  polls = polls + 1
  race.log.info("kept " .. polls)
end
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr
            .contains("the strategy used more memory than it may"),
        "{d:?}"
    );
    // Polls were answered (and kept) before memory ran out.
    assert!(d.stderr.contains("kept 1"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_script_can_post_a_checkout_form() {
    let d = Race::named("instant")
        .script(
            r#"
            local race = require("race")
            local page = assert(race.session:poll(race.options.event_url .. "secondhand/"))
            local result = assert(race.session:add_to_cart(page.listings[1]))
            assert(result.status == "in_cart")
            local r, err = race.session:post(result.checkout_url, { email = "me@example.com" })
            assert(r == nil and err.kind == "refused", tostring(err))
            assert(tostring(err):find("a person checks out", 1, true))
            print("REFUSED")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("REFUSED"));
    assert!(d.posts().iter().all(|p| !p.path.contains("/checkout/")));
}
