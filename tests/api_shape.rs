//! The API's one shape, from the user's side: each name an earlier release had raises with what
//! to write instead; `add_to_cart` takes a listing or a product and one options table, and says
//! what it takes otherwise; option tables name an unknown key (with a suggestion) and a wrong
//! type; a product's count cut to the shop's limit is logged; `el:url` resolves a link, and a
//! relative URL says how to; a typo'd target names its key; a store write that fails is `nil, err`.
//! Each message is asserted whole, on the report's headline (the source listing below it repeats
//! the script, so nothing is asserted that the script itself spells).

use crate::support::{Done, Race};

/// The report's headline (`× …`), without the marker and the test's own folder.
fn headline(d: &Done) -> String {
    d.stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("× "))
        .unwrap_or_else(|| panic!("no report: {d:?}"))
        .replace(&format!("{}/", d.dir.path().display()), "")
}

/// Runs `script` (after `local race = require("race")` on line 1) and expects exit 3 with this
/// headline.
async fn raises(scenario: &str, script: &str, want: &str) {
    let d = Race::named(scenario)
        .script(&format!("local race = require(\"race\")\n{script}"))
        .run()
        .await;
    assert_eq!(d.code, 3, "{script}: {d:?}");
    assert_eq!(headline(&d), want, "{script}: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_removed_name_says_what_to_write_instead() {
    let poll =
        "local page = assert(race.session:poll(race.options.event_url .. \"secondhand/\"))\n";
    for (script, want) in [
        (
            "race.handoff(race.session, race.options.event_url)\n".to_string(),
            "script error in strategy.lua:2: race.handoff is gone: use session:handoff(checkout_url, opts)",
        ),
        (
            "race.market.discover(race.session)\n".into(),
            "script error in strategy.lua:2: race.market.discover is gone: use session:discover(event_url)",
        ),
        (
            "race.market.poll(race.session, race.options.event_url)\n".into(),
            "script error in strategy.lua:2: race.market.poll is gone: use session:poll(url)",
        ),
        (
            format!("{poll}race.market.add_to_cart(race.session, page.listings[1])\n"),
            "script error in strategy.lua:3: race.market.add_to_cart is gone: use session:add_to_cart(listing, opts)",
        ),
        (
            "race.shop.poll(race.session, race.options.event_url)\n".into(),
            "script error in strategy.lua:2: race.shop.poll is gone: use session:poll_shop(event_url)",
        ),
        (
            "race.shop.add_to_cart(race.session, {})\n".into(),
            "script error in strategy.lua:2: race.shop.add_to_cart is gone: use session:add_to_cart(product, { count = n })",
        ),
        (
            "print(race.time.iso8601())\n".into(),
            "script error in strategy.lua:2: race.time.iso8601 is gone: use race.time.rfc3339()",
        ),
        (
            format!("{poll}if page.active then return end\n"),
            "script error in strategy.lua:3: page.active is gone: use page.state == \"open\"",
        ),
    ] {
        raises("instant", &script, want).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_to_cart_takes_a_listing_or_a_product_and_one_options_table() {
    let poll =
        "local page = assert(race.session:poll(race.options.event_url .. \"secondhand/\"))\n";
    for (script, want) in [
        // A table that merely looks like a listing is none.
        (
            "race.session:add_to_cart({ action = race.options.event_url .. \"secondhand/buy/1\" })\n".to_string(),
            "script error in strategy.lua:2: add_to_cart takes a listing from session:poll or a product from session:poll_shop / race.shop.products, got a table",
        ),
        (
            format!("{poll}race.session:add_to_cart(page.listings[1], {{ count = 2 }})\n"),
            "script error in strategy.lua:3: add_to_cart: `count` is for a product; a listing is one ticket (a listing's options: `referer`)",
        ),
        (
            format!("{poll}race.session:add_to_cart(page.listings[1], {{ refrer = page.url }})\n"),
            "script error in strategy.lua:3: unknown key `refrer` in add_to_cart's options for a listing; did you mean `referer`?",
        ),
        // The old shape: the referer as a bare string.
        (
            format!("{poll}race.session:add_to_cart(page.listings[1], page.url)\n"),
            "script error in strategy.lua:3: add_to_cart's options for a listing must be a table, got a string",
        ),
        (
            format!("{poll}race.session:add_to_cart(page.listings[1], {{ referer = 1 }})\n"),
            "script error in strategy.lua:3: `referer` in add_to_cart's options for a listing must be a string, got an integer",
        ),
    ] {
        raises("instant", &script, want).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn option_tables_name_an_unknown_key_and_a_wrong_type() {
    for (script, want) in [
        (
            "race.session:get(race.options.event_url, { header = { accept = \"text/html\" } })\n",
            "script error in strategy.lua:2: unknown key `header` in a request's options; did you mean `headers`?",
        ),
        (
            "race.session:handoff(race.options.event_url, { headless = \"yes\" })\n",
            "script error in strategy.lua:2: `headless` in handoff's options must be true or false, got a string",
        ),
        (
            "race.market.url(race.options.event_url, { srot = \"newest\" })\n",
            "script error in strategy.lua:2: unknown key `srot` in the marketplace filters; did you mean `sort`?",
        ),
        // The sorts are the marketplace's, the same list --sort takes.
        (
            "race.market.url(race.options.event_url, { sort = \"cheapest\" })\n",
            "script error in strategy.lua:2: unknown sort \"cheapest\" in the marketplace filters; the sorts are price_asc, price_desc, newest, oldest",
        ),
        (
            "race.market.url(race.options.event_url, { sort = \"newset\" })\n",
            "script error in strategy.lua:2: unknown sort \"newset\" in the marketplace filters; did you mean \"newest\"? (the sorts: price_asc, price_desc, newest, oldest)",
        ),
        (
            "race.alert.webhook(\"https://127.0.0.1:9/\", {}, { wiat = true })\n",
            "script error in strategy.lua:2: unknown key `wiat` in webhook's options; did you mean `wait`?",
        ),
        // A session method's URL says which method, which argument and what to pass.
        (
            "race.session:get({})\n",
            "script error in strategy.lua:2: session:get(url): url must be the page's absolute URL (a string, e.g. race.options.event_url), got a table",
        ),
    ] {
        raises("quiet", script, want).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_over_what_one_order_may_hold_is_cut_and_said() {
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
while true do
  local page = assert(s:poll_shop(race.options.event_url))
  local p = page.products[1]
  if p.available then
    local result = assert(s:add_to_cart(p, { count = 99 }))
    print("REQUESTED " .. result.requested .. " COUNT " .. result.count .. " MAX " .. p.max)
    if result.status == "in_cart" then
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
    assert!(d.stdout.contains("REQUESTED 99 COUNT 1 MAX 1"), "{d:?}");
    assert!(
        d.stderr
            .contains("Day Ticket: asked for 99, one order may hold 1: asking for 1"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn el_url_resolves_a_link_and_a_relative_url_says_how_to() {
    let d = Race::named("quiet")
        .script(
            r#"
local race = require("race")
local event = assert(race.session:get(race.options.event_url))
local doc = assert(race.html.parse('<a href="secondhand/">M</a><form action="../x/"></form>', event.url))
local a = doc:select("a")[1]
print("RAW " .. a:attr("href") .. " " .. a.attrs.href)
print("RESOLVED " .. a:url("href"))
print("FORM " .. doc:select("form")[1]:url("action"))
print("ABSENT " .. tostring(a:url("title")))
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let event = format!("{}rehearsal/", d.sim.base_url());
    assert!(d.stdout.contains("RAW secondhand/ secondhand/"), "{d:?}");
    assert!(
        d.stdout.contains(&format!("RESOLVED {event}secondhand/")),
        "{d:?}"
    );
    assert!(
        d.stdout.contains(&format!("FORM {}x/", d.sim.base_url())),
        "{d:?}"
    );
    assert!(d.stdout.contains("ABSENT nil"), "{d:?}");
    // The raw attribute given to a session is a relative URL: the report says how to resolve it.
    raises(
        "quiet",
        "local doc = assert(race.html.parse('<a href=\"second' .. 'hand/\">M</a>', race.options.event_url))\nrace.session:get(doc:select(\"a\")[1]:attr(\"href\"))\n",
        "script error in strategy.lua:3: \"secondhand/\" is a relative URL: resolve it with el:url(\"href\") or race.url.join(base, …)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_a_target_names_the_key_and_what_was_meant() {
    let d = Race::named("quiet")
        .own_targets()
        .script(
            "local strategy = require(\"race.default\")\nstrategy.targets = {\n  { url = \"{BASE}\",\n    evnet = \"rehearsal\" },\n}\nreturn strategy\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert_eq!(
        headline(&d),
        "script error in strategy.lua:4: the strategy's targets: targets[1]: unknown key `evnet` in a target; did you mean `event`?",
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "no request: {d:?}");
}

/// A target's value of the wrong type raises at the line that writes it, as an option table's
/// does (`weight = "3"` was taken as 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_in_a_target_raises_at_its_line() {
    let d = Race::named("quiet")
        .own_targets()
        .script(
            "local strategy = require(\"race.default\")\nstrategy.targets = {\n  { url = \"{BASE}\", event = \"rehearsal\" },\n  { url = \"{BASE}\", event = \"rehearsal\",\n    weight = \"3\" },\n}\nreturn strategy\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert_eq!(
        headline(&d),
        "script error in strategy.lua:5: the strategy's targets: targets[2]: `weight` in a target must be a whole number, got the string \"3\": write weight = 3, without quotes",
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "no request: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_write_that_fails_is_nil_err_and_a_value_json_cannot_hold_raises() {
    let state = tempfile::tempdir().unwrap();
    // Where the store's file goes, a folder: the write cannot replace it.
    std::fs::create_dir(state.path().join("store.json")).unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let d = Race::named("quiet")
        .args(["--state-dir", &state_dir])
        .script(
            r#"
local race = require("race")
assert(race.session:get(race.options.event_url))
local ok, err = race.store.set("runs", 1)
print("SET " .. tostring(ok) .. " " .. err.kind)
print("KEPT " .. tostring(race.store.get("runs")))
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("SET nil store"), "{d:?}");
    assert!(d.stdout.contains("KEPT nil"), "{d:?}");
    raises(
        "quiet",
        "race.store.set(\"f\", { print })\n",
        "script error in strategy.lua:2: not JSON: cannot serialize <function>",
    )
    .await;
}

/// One `choose` shape for both strategies: the candidates, the page they came from, then this
/// target's options (what `wait(opts)` gets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choose_gets_the_candidates_the_page_and_the_targets_options() {
    let d = Race::named("instant")
        .script(
            r#"local s = require("race.default")
local built_in = s.choose
function s.choose(listings, page, opts)
  print(("CHOOSE %d %s %s %s"):format(#listings, page.state, tostring(page.listings == listings), opts.event))
  return built_in(listings, page, opts)
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("CHOOSE 1 open true rehearsal\n"), "{d:?}");
    let d = Race::named("shop")
        .args(["--strategy", "shop", "--item", "7"])
        .script(
            r#"local s = require("race.shop_strategy")
local built_in = s.choose
function s.choose(products, page, opts)
  print(("CHOOSE %s %s %s"):format(tostring(page.products == products), page.url, table.concat(opts.items, ",")))
  return built_in(products, page, opts)
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stdout
            .contains(&format!("CHOOSE true {}rehearsal/ 7\n", d.sim.base_url())),
        "{d:?}"
    );
}

/// A function that takes no arguments says so when given one (`race.new_session(42)` was taken
/// silently), with the call to write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_argument_where_none_is_taken_raises_at_its_line() {
    for (script, want) in [
        (
            "local s = race.new_session(42)\n",
            "script error in strategy.lua:2: race.new_session takes no arguments, got 42: call race.new_session()",
        ),
        (
            "print(race.stats(\"polls\"))\n",
            "script error in strategy.lua:2: race.stats takes no arguments, got \"polls\": call race.stats()",
        ),
        (
            "print(race.time.now(true))\n",
            "script error in strategy.lua:2: race.time.now takes no arguments, got true: call race.time.now()",
        ),
        (
            "print(race.time.unix({}))\n",
            "script error in strategy.lua:2: race.time.unix takes no arguments, got a table: call race.time.unix()",
        ),
        (
            "print(race.time.rfc3339(0))\n",
            "script error in strategy.lua:2: race.time.rfc3339 takes no arguments, got 0: call race.time.rfc3339()",
        ),
        (
            "print(race.session:cookies(\"all\"))\n",
            "script error in strategy.lua:2: session:cookies takes no arguments, got \"all\": call session:cookies()",
        ),
    ] {
        raises("quiet", script, want).await;
    }
}

/// A page's base URL is absolute, or the call raises at its line (it would otherwise come back
/// later as advice about relative links).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_that_is_not_absolute_raises_at_its_line() {
    for (script, want) in [
        (
            "local doc = race.html.parse(\"<p>x</p>\", \"not a url\")\n",
            "script error in strategy.lua:2: race.html.parse(body, base_url): base_url must be an absolute URL like https://tickets.example.com/org/event/ (the page's own: page.url), got \"not a url\"",
        ),
        (
            "local forms = race.html.forms(\"\", \"/org/event/\")\n",
            "script error in strategy.lua:2: race.html.forms(body, base_url): base_url must be an absolute URL like https://tickets.example.com/org/event/ (the page's own: page.url), got \"/org/event/\"",
        ),
        (
            "local listings = race.market.listings(\"\")\n",
            "script error in strategy.lua:2: race.market.listings(body, base_url): base_url must be an absolute URL like https://tickets.example.com/org/event/ (the page's own: page.url), got nil",
        ),
    ] {
        raises("quiet", script, want).await;
    }
}

/// Every session method's URL argument, missing or of the wrong type, says which method, which
/// argument and what to pass (not mlua's conversion error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_methods_missing_url_says_what_to_pass() {
    for (script, want) in [
        (
            "local page = race.session:poll()\n",
            "script error in strategy.lua:2: session:poll(url): url must be the marketplace's URL (a string: what session:discover returned, or race.market.url(…)), got nil",
        ),
        (
            "local page = race.session:poll_shop(42)\n",
            "script error in strategy.lua:2: session:poll_shop(event_url): event_url must be the event page's URL (a string, e.g. race.options.event_url), got 42",
        ),
        (
            "local r = race.session:post(nil, {})\n",
            "script error in strategy.lua:2: session:post(url, form): url must be the form's absolute URL (a string: form.action from race.html.forms), got nil",
        ),
        (
            "local r = race.session:post(race.options.event_url, \"a=1\")\n",
            "script error in strategy.lua:2: session:post(url, form): form must be a table of fields ({ name = value }), got \"a=1\"",
        ),
        (
            "local url = race.session:discover(true)\n",
            "script error in strategy.lua:2: session:discover(event_url): event_url must be the event page's URL (a string, e.g. race.options.event_url), or nothing for the first target's, got true",
        ),
        (
            "race.session:handoff()\n",
            "script error in strategy.lua:2: session:handoff(checkout_url, opts): checkout_url must be the checkout page's URL (a string: result.checkout_url of add_to_cart), got nil",
        ),
    ] {
        raises("quiet", script, want).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_options_takes_only_its_own_keys_in_their_own_shapes() {
    // The place the "options live in race.options" errors send users checks what it is given:
    // a typo'd key or a value of the wrong shape raises at the line that writes it, not when
    // the built-in decision meets it as a ticket shows up (or never).
    for (script, want) in [
        (
            "race.options.max_prize = 100\n",
            "script error in strategy.lua:2: unknown key `max_prize` in race.options; did you mean `max_price`?",
        ),
        (
            "race.options.max_price = \"1\" .. \"00\"\n",
            "script error in strategy.lua:2: race.options.max_price must be a number, got a string (\"100\"): write race.options.max_price = 100, without quotes",
        ),
        (
            "race.options.matches = \"type\" .. \" b\"\n",
            "script error in strategy.lua:2: race.options.matches is a list of strings: write race.options.matches = { \"type b\" }",
        ),
        (
            "race.options.sort = \"cheap\" .. \"est\"\n",
            "script error in strategy.lua:2: race.options.sort = \"cheapest\" is no sort; it takes price_asc, price_desc, newest, oldest",
        ),
    ] {
        raises("quiet", script, want).await;
    }
    // What fits is taken, and read back (also through pairs).
    let d = Race::named("quiet")
        .script(
            "local race = require(\"race\")\nrace.options.max_price = 150\nrace.options.matches = { \"type a\" }\nlocal n = 0\nfor k in pairs(race.options) do n = n + 1 end\nprint(\"OPTIONS \" .. race.options.max_price .. \" \" .. race.options.matches[1] .. \" \" .. tostring(n > 10))\nassert(race.session:get(race.options.event_url))\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("OPTIONS 150 type a true"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_the_page_shows_sold_out_is_never_posted() {
    let d = Race::new(pretix_race::sim::Scenario::named("shop").unwrap())
        .script(
            r#"local race = require("race")
local page = assert(race.session:poll_shop(race.options.event_url))
for _, p in ipairs(page.products) do
  if not p.available then
    local r, err = race.session:add_to_cart(p)
    print("ADD " .. tostring(r) .. " " .. err.kind .. " | " .. err.message)
    break
  end
end
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stdout.contains("ADD nil unavailable | Day Ticket is sold out on the page: pretix would refuse it, so no cart add was sent (add only products whose `available` is true)"),
        "{d:?}"
    );
    assert!(d.posts().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_would_lose_part_of_a_value_raises() {
    let d = Race::named("quiet")
        .script(
            r#"local race = require("race")
for _, v in ipairs({ { [1] = 1, [3] = 3 }, { 1, 2, x = 3 }, { 1 / 0 } }) do
  local ok, err = pcall(race.json.encode, v)
  print("ENC " .. tostring(ok) .. " " .. tostring(err):gsub("^.-not JSON", "not JSON"))
end
print("FINE " .. race.json.encode({ 1, 2 }) .. " " .. race.json.encode({ a = { 1 } }))
assert(race.session:get(race.options.event_url))
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    for want in [
        "ENC false not JSON: a list with holes (an entry after a nil) would lose its later entries: fill the holes (e.g. with false) or use string keys",
        "ENC false not JSON: a table with both list entries and named keys is neither a JSON array nor an object: put the list under a key of its own",
        "ENC false not JSON: inf is no JSON number (JSON has no infinity or NaN)",
        "FINE [1,2] {\"a\":[1]}",
    ] {
        assert!(d.stdout.contains(want), "{want}: {d:?}");
    }
}
