//! A strategy writer's mistakes, as they write them: each is loud, at their line, with the fix,
//! and a fallback never does what their own rule forbade (issue 18, parts A and B).

use crate::support::{Done, Race};

/// The first line of the log that contains `what`, from the strategy's file name on (the
/// timestamp, level and the run's temporary folder left out).
fn said(d: &Done, what: &str) -> String {
    let l = d
        .stderr
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} in:\n{}", d.stderr));
    let l = l.replace(&format!("{}/", d.dir.path().display()), "");
    let start = ["strategy.lua", "decision `"]
        .iter()
        .filter_map(|p| l.find(p))
        .min()
        .unwrap_or(0);
    l[start..].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choose_returning_one_listing_says_wrap_it_and_takes_nothing() {
    let d = Race::named("instant")
        .args(["--until", "2s"])
        .script(
            r#"local s = require("race.default")
function s.choose(listings)
  return listings[1]
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` failed"),
        "strategy.lua:3: decision `choose` failed: choose returned a single listing: wrap it in { } (return { listing }); it must return a list (table) of listings to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.posts().is_empty(), "{d:?}");
    // The end says choose failed, not that it picked nothing.
    let end = d
        .stderr
        .lines()
        .find(|l| l.contains("--until: nothing was secured in time; "))
        .unwrap_or_else(|| panic!("{d:?}"));
    let end = end.replace(&format!("{}/", d.dir.path().display()), "");
    let end = &end[end.find("--until:").unwrap()..];
    assert!(
        end.starts_with("--until: nothing was secured in time; choose failed on ")
            && end.ends_with(" (strategy.lua:3: choose returned a single listing: wrap it in { } (return { listing }))"),
        "{end}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choose_that_crashes_takes_nothing_its_rule_forbade() {
    // The rule (at most 200) never runs: a typo raises. The built-in would take the first
    // listing of `many`, whatever its price; the fallback takes nothing.
    let d = Race::named("many")
        .args(["--until", "2s"])
        .script(
            r#"local s = require("race.default")
function s.choose(listings)
  local out = {}
  for _, l in ipairs(listings) do
    if l.prcie <= 200 then out[#out + 1] = l end
  end
  return out
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` failed"),
        "strategy.lua:5: decision `choose` failed: a listing has no field `prcie`; did you mean `price`?; it must return a list (table) of listings to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.posts().is_empty(), "nothing was tried: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_decision_stops_before_the_first_request() {
    for (field, decision, line) in [
        ("chose", "choose", 3),
        ("wiat", "wait", 3),
        ("on_carts", "on_cart", 3),
    ] {
        let d = Race::named("instant")
            .script(&format!(
                "local s = require(\"race.default\")\nlocal function cheap(l) return l end\nfunction s.{field}(x)\n  return cheap(x)\nend\nreturn s\n"
            ))
            .run()
            .await;
        assert_eq!(d.code, 3, "{d:?}");
        let head = d
            .stderr
            .lines()
            .find(|l| l.contains("script error in"))
            .unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(
            &head[head.find("strategy.lua").unwrap()..],
            format!("strategy.lua:{line}: unknown decision `{field}`: did you mean `{decision}`?"),
            "{d:?}"
        );
        assert!(d.sim.seen().is_empty(), "no request: {d:?}");
    }
    // A helper of one's own, far from every decision, is fine.
    let d = Race::named("instant")
        .script("local s = require(\"race.default\")\nfunction s.pick_cheapest(x) return x end\nreturn s\n")
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choose_that_never_returns_is_cut_off_and_the_watch_goes_on() {
    // The first call loops (its own pcall cannot keep it alive); the next ones choose.
    let d = Race::named("instant")
        .script(
            r#"local s = require("race.default")
local calls = 0
function s.choose(listings)
  calls = calls + 1
  if calls == 1 then
    pcall(function()
      while true do end
    end)
  end
  return listings
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` (defined at"),
        "decision `choose` (defined at strategy.lua:3) failed: choose took longer than 1 s (cut off at strategy.lua:7); it must return a list (table) of listings to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.stdout.contains("=== TICKET IN CART"), "{d:?}");
    assert_eq!(d.posts().len(), 1, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_already_ends_in_the_event_says_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = crate::support::bare(
        &[
            "--url",
            "https://shop.example/org/day1",
            "--event",
            "day1",
            "--headless",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("× the url https://shop.example/org/day1 already ends in the event day1: give url = https://shop.example/org\n"),
        "{err}"
    );
    // The same in a strategy's targets, at its line.
    std::fs::write(
        dir.path().join("festival.lua"),
        "local s = require(\"race.default\")\ns.targets = {\n  { url = \"https://shop.example/org/day1\", event = \"day1\" },\n}\nreturn s\n",
    )
    .unwrap();
    let (code, _, err) = crate::support::bare(&["festival.lua", "--headless"], dir.path()).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("× script error in festival.lua:3: the strategy's targets: targets[1]: the url https://shop.example/org/day1 already ends in the event day1: give url = https://shop.example/org\n"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_loopback_port_fails_fast() {
    // Three refused connections, each backoff capped on loopback: seconds, not 79 s (the run is
    // bounded by the harness's 60 s).
    let d = Race::named("instant")
        .no_target()
        .args(["--url", "https://127.0.0.1:9", "--event", "x"])
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr
            .contains("help: check the --url and your connection"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn want_two_says_until_when_the_first_is_reserved() {
    let d = Race::named("pair").args(["--want", "2"]).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    let l = d
        .stderr
        .lines()
        .find(|l| l.contains("1 of 2 tickets in the cart"))
        .unwrap_or_else(|| panic!("{d:?}"));
    let said = &l[l.find("1 of 2").unwrap()..];
    let time = said
        .strip_prefix("1 of 2 tickets in the cart, reserved until ")
        .and_then(|r| r.strip_suffix("; watching on"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        time.len() == 5 && time.as_bytes()[2] == b':',
        "a time of day: {said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_choose_that_crashes_adds_nothing() {
    let d = Race::named("shop")
        .args(["--strategy", "shop", "--item", "7", "--until", "2s"])
        .script(
            r#"local s = require("race.shop_strategy")
function s.choose(products, opts)
  local out = {}
  for _, p in ipairs(products) do
    if p.prcie <= 10 then out[#out + 1] = p end
  end
  return out
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` failed"),
        "strategy.lua:5: decision `choose` failed: a product has no field `prcie`; did you mean `price`?; it must return a list (table) of products to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.posts().is_empty(), "nothing was added: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choose_returning_copies_of_listings_takes_nothing_and_says_return_them_themselves() {
    let d = Race::named("instant")
        .args(["--until", "2s"])
        .script(
            r#"local s = require("race.default")
function s.choose(listings)
  local out = {}
  for _, l in ipairs(listings) do
    out[#out+1] = { id = l.id, title = l.title, action = l.action, fields = l.fields }
  end
  return out
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` failed"),
        "strategy.lua:7: decision `choose` failed: choose returned a table that is not one of the listings it was given (a copy?): return the listings themselves; it must return a list (table) of listings to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.posts().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_choose_returning_copies_of_products_adds_nothing() {
    let d = Race::named("shop")
        .args(["--strategy", "shop", "--item", "7", "--until", "2s"])
        .script(
            r#"local s = require("race.shop_strategy")
function s.choose(products, opts)
  local out = {}
  for _, p in ipairs(products) do
    out[#out+1] = { id = p.id, title = p.title, action = p.action, fields = p.fields }
  end
  return out
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` failed"),
        "strategy.lua:7: decision `choose` failed: choose returned a table that is not one of the products it was given (a copy?): return the products themselves; it must return a list (table) of products to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.posts().is_empty(), "nothing was added: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_field_of_a_page_or_listing_is_a_script_error_at_its_line() {
    for (body, line, says) in [
        (
            "local page = race.session:poll(url)\nfor _, l in ipairs(page.listing) do end",
            4,
            "a response (or page) has no field `listing`; did you mean `listings`?",
        ),
        (
            "local page = race.session:poll(url)\nfor _, l in ipairs(page.listings) do\n  race.log.info(l.name)\nend",
            5,
            "a listing has no field `name`; its fields are `id`, `title`, `price`, `price_text`, `currency`, `action`, `fields`, `position`, `page_url`",
        ),
    ] {
        let d = Race::named("instant")
            .script(&format!(
                "local race = require(\"race\")\nlocal url = race.options.event_url .. \"secondhand/\"\n{body}\n"
            ))
            .run()
            .await;
        assert_eq!(d.code, 3, "{d:?}");
        let head = d
            .stderr
            .lines()
            .find(|l| l.contains("script error in"))
            .unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(
            &head[head.find("strategy.lua").unwrap()..],
            format!("strategy.lua:{line}: {says}"),
            "{d:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_on_the_strategy_table_no_one_reads_stops_before_the_first_request() {
    for (line2, says) in [
        (
            "s.max_price = 1",
            "strategy.lua:2: strategy.max_price is not read: options live in race.options (race.options.max_price = 1 in your file, or --max-price 1)",
        ),
        // Named by the flag (the option's key is `dates`, its flag `--date`).
        (
            "s.date = \"2027-07-10\"",
            "strategy.lua:2: strategy.date is not read: options live in race.options (race.options.dates = { \"2027-07-10\" } in your file, or --date 2027-07-10)",
        ),
        (
            "s.poll_inactive_marketplace = 60",
            "strategy.lua:2: strategy.poll_inactive_marketplace is not read: options live in race.options (race.options.poll_inactive = 60 in your file, or --poll-inactive-marketplace 60)",
        ),
        (
            "s.item = \"7\"",
            "strategy.lua:2: strategy.item is not read: options live in race.options (race.options.item = \"7\" in your file, or --item 7)",
        ),
        (
            "s.targts = { { url = \"https://shop.example\", event = \"org/day1\" } }",
            "strategy.lua:2: unknown field `targts`: did you mean `targets`?",
        ),
        (
            "s.rnu = function() end",
            "strategy.lua:2: unknown field `rnu`: did you mean `run`?",
        ),
        (
            "s.choose = \"cheap\" .. \"est\"",
            "strategy.lua:2: strategy.choose must be a function (the `choose` decision), got a string (\"cheapest\")",
        ),
    ] {
        let d = Race::named("instant")
            .script(&format!(
                "local s = require(\"race.default\")\n{line2}\nreturn s\n"
            ))
            .run()
            .await;
        assert_eq!(d.code, 3, "{d:?}");
        let head = d
            .stderr
            .lines()
            .find(|l| l.contains("script error in"))
            .unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(&head[head.find("strategy.lua").unwrap()..], says, "{d:?}");
        assert!(d.sim.seen().is_empty(), "no request: {d:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_files_targets_are_named_as_the_file_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    for (targets, says) in [
        (
            "s.targets = { url = \"https://shop.example/org\", event = \"day1\" }",
            "festival.lua:2: the strategy's targets: targets is one target, not a list of them: wrap it in { } (targets = { { url = …, event = … } })",
        ),
        (
            "s.targets = { { url = \"/org\", event = \"day1\" } }",
            "festival.lua:2: the strategy's targets: targets[1].url \"/org\" is not a URL: give the shop's full URL, e.g. url = \"https://tickets.example.com/org\"",
        ),
        (
            "s.targets = { { url = \"shop.example/org\", event = \"day1\" } }",
            "festival.lua:2: the strategy's targets: targets[1].url \"shop.example/org\" is not a URL: did you mean url = \"https://shop.example/org\"?",
        ),
        (
            "s.targets = { { url = \"https://shop.example\", event = \"org/day1\" } }",
            "festival.lua:2: the strategy's targets: targets[1].event \"org/day1\" is not an event slug (one path segment): end url in /org and give event = \"day1\"",
        ),
        (
            "s.targets = { { url = \"http://shop.example/org\", event = \"day1\" } }",
            "festival.lua:2: the strategy's targets: targets[1].url http://shop.example/org uses plain http: give url = \"https://shop.example/org\" (plain http is only for loopback hosts such as 127.0.0.1)",
        ),
    ] {
        std::fs::write(
            dir.path().join("festival.lua"),
            format!("local s = require(\"race.default\")\n{targets}\nreturn s\n"),
        )
        .unwrap();
        let (code, _, err) =
            crate::support::bare(&["festival.lua", "--headless"], dir.path()).await;
        assert_eq!(code, 3, "{err}");
        let head = err
            .lines()
            .find(|l| l.contains("script error in"))
            .unwrap_or_else(|| panic!("{err}"));
        assert_eq!(&head[head.find("festival.lua").unwrap()..], says, "{err}");
        assert!(!err.contains("--url \""), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_file_given_first_that_does_not_exist_is_named_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = crate::support::bare(&["festivl.lua", "--headless"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("× the strategy file festivl.lua (given as the first argument) cannot be read: No such file or directory (os error 2)\n"),
        "{err}"
    );
    assert!(!err.contains("--script"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_choose_that_takes_none_says_so_at_the_end() {
    let d = Race::named("shop")
        .args(["--strategy", "shop", "--item", "7", "--until", "2s"])
        .script(
            "local s = require(\"race.shop_strategy\")\nfunction s.choose(products, opts)\n  return {}\nend\nreturn s\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    let end = d
        .stderr
        .lines()
        .find(|l| l.contains("--until: nothing was secured in time; "))
        .unwrap_or_else(|| panic!("{d:?}"));
    let end = &end[end.find("--until:").unwrap()..];
    assert!(
        end.starts_with("--until: nothing was secured in time; choose took none of 2 products that could be added (")
            && end.ends_with(" polls)"),
        "{end}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_port_of_a_file_target_names_the_targets_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("festival.lua"),
        "local s = require(\"race.default\")\ns.targets = {\n  { url = \"https://127.0.0.1:9\", event = \"x\" },\n}\nreturn s\n",
    )
    .unwrap();
    let (code, _, err) = crate::support::bare(&["festival.lua", "--headless"], dir.path()).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "help: check the url of the strategy's target at festival.lua:3 and your connection\n"
        ),
        "{err}"
    );
    assert!(!err.contains("--url"), "{err}");
}

/// `race.session.get(url)` (a dot for a colon): says to call it with a colon, at the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_called_with_a_dot_says_to_use_a_colon() {
    let d = crate::support::Race::named("instant")
        .script("local race = require(\"race\")\nlocal page = race.session.get(race.options.event_url)\nreturn true\n")
        .run()
        .await;
    let err = &d.stderr;
    assert_eq!(d.code, 3, "{err}");
    assert!(
        err.contains(
            "race.Session:get is a method: call it with a colon (session:get(…)), not a dot"
        ),
        "{err}"
    );
    assert!(err.contains("strategy.lua:2"), "{err}");
}

/// `race.store.set(42, …)`: a key that is not a string raises at the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_key_that_is_not_a_string_raises_at_its_line() {
    let d = crate::support::Race::named("instant")
        .script("local race = require(\"race\")\nrace.store.set(42, \"v\")\nreturn true\n")
        .run()
        .await;
    let err = &d.stderr;
    assert_eq!(d.code, 3, "{err}");
    assert!(
        err.contains("race.store keys are strings: got 42 (a number)"),
        "{err}"
    );
    assert!(err.contains("strategy.lua:2"), "{err}");
}

/// A shop `choose` still written `choose(products, opts)`: its second argument is the page, and
/// reading an option off it says the options come third (issue 18: one `choose` shape).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_choose_reading_options_off_the_page_says_they_come_third() {
    let d = Race::named("shop")
        .args(["--strategy", "shop", "--item", "7", "--until", "2s"])
        .script(
            r#"local s = require("race.shop_strategy")
function s.choose(products, opts)
  local out = {}
  for _, want in ipairs(opts.items) do
    for _, p in ipairs(products) do
      if p.id == want then out[#out + 1] = p end
    end
  end
  return out
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `choose` failed"),
        "strategy.lua:4: decision `choose` failed: a page has no field `items`: `items` is an option, and this is a page; choose's arguments are (candidates, page, opts): the page second, the options third (function strategy.choose(products, page, opts)); it must return a list (table) of products to try, in order. Taking nothing from this page (your rule decides what is taken) (--strict stops instead)"
    );
    assert!(d.posts().is_empty(), "nothing was added: {d:?}");
}

/// Counts read as English ("1 poll", "1 listing seen"), and a nil is said as `nil` ("nil (a nil)"
/// was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_a_thing_is_singular_and_nil_is_nil() {
    let d = Race::named("instant").run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stderr
            .contains("done: 1 poll, 1 listing seen, 1 cart attempt (1 won, 0 lost), "),
        "{d:?}"
    );
    let d = Race::named("quiet")
        .args(["--until", "1s"])
        .script("local s = require(\"race.default\")\nfunction s.wait(opts)\n  return nil\nend\nreturn s\n")
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert_eq!(
        said(&d, "decision `wait` failed"),
        "strategy.lua:3: decision `wait` failed: it returned nil; it must return a number of seconds, 0 or more. Using the built-in `wait` this time (--strict stops instead)"
    );
    let d = Race::named("instant")
        .script("local race = require(\"race\")\nrace.store.set(nil, \"v\")\nreturn true\n")
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr
            .contains("race.store keys are strings: got nil; write it as a string"),
        "{d:?}"
    );
}

/// A decision that fails on every call is said once per target (each watched in a task of its
/// own), at the line of its `return`; the repeats are counted in the run's summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_decision_is_said_once_per_target_and_its_repeats_counted() {
    let d = Race::named("quiet")
        .script(
            r#"local race = require("race")
local s = require("race.default")
function s.wait(opts)
  return "soon"
end
local function watch()
  for _ = 1, 2 do race.time.sleep(s.decide("wait", { interval = 0.01 })) end
  return true
end
assert(race.session:get(race.options.event_url))
race.join(race.spawn(watch), race.spawn(watch))
return true
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let warned: Vec<_> = d
        .stderr
        .lines()
        .filter(|l| l.contains("decision `wait` failed"))
        .collect();
    assert_eq!(warned.len(), 2, "once for each of the two tasks: {d:?}");
    assert_eq!(
        said(&d, "decision `wait` failed"),
        "strategy.lua:4: decision `wait` failed: it returned the string \"soon\"; it must return a number of seconds, 0 or more. Using the built-in `wait` this time (--strict stops instead)"
    );
    assert!(
        d.stderr.contains("; the strategy's `wait` failed 4 times"),
        "{d:?}"
    );
}

/// Two tasks each in a decision: one loops while the other, begun later, waits on the API. The
/// loop is cut off (at its own line), and the quick one, never charged for the other's loop,
/// keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_decision_is_cut_off_and_another_tasks_quick_one_goes_on() {
    let d = Race::named("quiet")
        .script(
            r#"local race = require("race")
assert(race.session:get(race.options.event_url))
local began = false
local function quick()
  local ok, v = race.decision_call("quick", function()
    began = true
    race.time.sleep(0.2)
    return "ok"
  end)
  return tostring(ok) .. " " .. tostring(v)
end
local task
local ok, why = race.decision_call("loop", function()
  task = race.spawn(quick)
  while not began do race.time.sleep(0.01) end
  while true do end
end)
print("LOOP " .. tostring(ok) .. " " .. tostring(why))
print("QUICK " .. race.join(task))
return true
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let out = d
        .stdout
        .replace(&format!("{}/", d.dir.path().display()), "");
    assert!(
        out.contains("LOOP false loop took longer than 1 s (cut off at strategy.lua:16)\n"),
        "{d:?}"
    );
    assert!(out.contains("QUICK true ok\n"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_decision_on_the_shop_strategy_is_said_never_to_be_called() {
    let d = Race::new(pretix_race::sim::Scenario::named("shop").unwrap())
        .args(["--strategy", "shop", "--item", "7"])
        .script(
            "local s = require(\"race.shop_strategy\")\nfunction s.discover(opts)\n  return nil\nend\nreturn s\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr.contains("strategy.lua:2: the shop strategy has no `discover` decision: strategy.discover would never be called"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "no request: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choose_of_ones_own_is_told_the_flags_it_leaves_out() {
    // The README's "most expensive first" choose with --max-price: the flag is the built-in
    // choose's, so the start says it applies only if the user's calls it.
    let d = Race::named("quiet")
        .args(["--max-price", "100", "--until", "1s"])
        .script(
            "local s = require(\"race.default\")\nfunction s.choose(listings)\n  return listings\nend\nreturn s\n",
        )
        .run()
        .await;
    assert!(
        d.stderr.contains("your `choose` replaces the built-in one: --max-price is applied only if it calls the built-in (keep it: local built_in = strategy.choose, then return built_in(candidates, page, opts) or filter its result)"),
        "{d:?}"
    );
    // Without such a flag, nothing is said.
    let d = Race::named("quiet")
        .args(["--until", "1s"])
        .script(
            "local s = require(\"race.default\")\nfunction s.choose(listings)\n  return listings\nend\nreturn s\n",
        )
        .run()
        .await;
    assert!(!d.stderr.contains("replaces the built-in"), "{d:?}");
}
