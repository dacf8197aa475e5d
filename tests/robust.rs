//! Robust on the day: no exit path loses a secured cart, an odd answer never ends a watch, and
//! the rules hold whatever a script does (tested from a hostile script's side).

use std::time::Duration;

use pretix_race::sim::{Fault, Scenario};

use crate::support::hook::Hook;
use crate::support::{Done, Race, mode};

/// The default, but it keeps watching after a cart (a couple wants two tickets).
pub(crate) const KEEP_GOING: &str = r#"
local race = require("race")
local s = require("race.default")
function s.on_cart(result)
  race.log.info("SECURED, keeping on")
  return false
end
return s
"#;

/// A strategy's first lines: secure the first listing, without handing it over.
pub(crate) const SECURE_FIRST: &str = r#"
local race = require("race")
local page = assert(race.session:poll(race.options.event_url .. "secondhand/"))
assert(assert(race.session:add_to_cart(page.listings[1])).status == "in_cart")
"#;

pub(crate) fn assert_cart_handed_over_at_exit(d: &Done) {
    assert!(
        d.stdout
            .contains("=== TICKET IN CART (handed over as pretix-race stops"),
        "{d:?}"
    );
    assert!(d.stdout.contains("/rehearsal/checkout/questions/"), "{d:?}");
    assert!(d.stdout.contains("__Host-pretix_session="), "{d:?}");
    assert!(d.stdout.contains("cookieStore.set"), "{d:?}");
    let files = d.logged(".cookies.");
    assert_eq!(files.len(), 2, "{d:?}");
    #[cfg(unix)]
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert_eq!(
        d.sim.cart_of(&d.handed_session()),
        ["Ticket – Type A"],
        "{d:?}"
    );
    assert!(
        d.stderr.contains("handed over as the run ended"),
        "the summary says so: {d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_hands_over_a_secured_cart_first() {
    for (sig, code) in [("INT", 130), ("TERM", 130), ("HUP", 130)] {
        let mut r = Race::named("instant").script(KEEP_GOING).spawn().await;
        r.wait_for("SECURED, keeping on", Duration::from_secs(20))
            .await;
        r.wait_for("| empty", Duration::from_secs(20)).await;
        let d = r.signal(sig).await;
        assert_eq!(d.code, code, "{sig}: {d:?}");
        assert_cart_handed_over_at_exit(&d);
        let last = d.stderr.lines().last().unwrap();
        assert!(last.starts_with("stopped: "), "{sig}: {last}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_after_the_cart_hands_it_over() {
    let d = Race::named("instant")
        .script(&format!("{SECURE_FIRST}error('my bug after the cart')\n"))
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("my bug after the cart"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_that_returns_without_handing_over_still_hands_over() {
    // Returns normally; gives up with a message.
    for end in ["return true", "return false, 'changed my mind'"] {
        let d = Race::named("instant")
            .script(&format!("{SECURE_FIRST}{end}\n"))
            .run()
            .await;
        assert!(d.code == 0 || d.code == 1, "{d:?}");
        assert_cart_handed_over_at_exit(&d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_for_a_cart_handed_over_at_exit_follows_the_hand_over() {
    let hook = Hook::start().await;
    let mut r = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .script(KEEP_GOING)
        .spawn()
        .await;
    r.wait_for("SECURED, keeping on", Duration::from_secs(20))
        .await;
    let d = r.signal("TERM").await;
    assert_cart_handed_over_at_exit(&d);
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{d:?}");
    let b = &bodies[0];
    assert_eq!(b["event"], "ticket_in_cart");
    assert_eq!(b["handed_over_at_exit"], true);
    assert_eq!(b["ticket"], "Ticket – Type A");
    assert!(
        b["checkout_url"]
            .as_str()
            .unwrap()
            .ends_with("/rehearsal/checkout/questions/")
    );
    assert!(b["cookies"].as_array().unwrap().len() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_strategy_task_hands_the_cart_over() {
    let d = Race::named("instant")
        .env("PRETIX_RACE_TEST_HOOKS", "1")
        .script(&format!("{SECURE_FIRST}race._test_panic()\n"))
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d.stderr.contains("strategy task failed"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_over_carts_are_not_handed_over_twice() {
    let d = Race::named("instant").run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.stdout.matches("=== TICKET IN CART").count(), 1, "{d:?}");
    assert!(!d.stderr.contains("handed over as the run ended"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_of_a_page_that_is_not_checkout_says_so_and_names_never_clash() {
    let d = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            assert(race.session:get(race.options.event_url))
            local a = race.session:handoff(race.options.event_url, { headless = true })
            local b = race.session:handoff(race.options.event_url, { headless = true })
            assert(a.checkout == false)
            assert(a.cookie_file ~= b.cookie_file, a.cookie_file)
            print("FILES " .. a.cookie_file .. " " .. b.cookie_file)
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!d.stdout.contains("=== TICKET IN CART"), "{d:?}");
    assert_eq!(
        d.stdout
            .matches("=== SESSION HANDED OVER: NO CART CONFIRMED ===")
            .count(),
        2,
        "{d:?}"
    );
    assert!(d.stdout.contains("is not a checkout page"), "{d:?}");
    assert_eq!(d.logged(".cookies.txt").len(), 2, "{d:?}");
}

// ---- A. An odd answer never ends a watch --------------------------------------------------

fn scenario(faults: &[(u32, Fault)], listings_from: u32) -> Scenario {
    let mut s = Scenario::named("instant").unwrap();
    s.listings_from_poll = listings_from;
    for (n, f) in faults {
        s.faults.insert(*n, f.clone());
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrecognised_answers_are_saved_and_the_watch_goes_on() {
    let d = Race::new(scenario(
        &[
            (1, Fault::Garbage),
            (2, Fault::Cut),
            (3, Fault::Maintenance),
            (4, Fault::NoFilter),
            (6, Fault::Garbage),
        ],
        8,
    ))
    .run()
    .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert_eq!(d.stderr.matches("unrecognised answer").count(), 5, "{d:?}");
    // Garbage twice, saved once; each other shape once.
    assert_eq!(d.logged("-unrecognised").len(), 4, "{d:?}");
    assert!(!d.stderr.contains("inactive"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_unreadable_answers_in_a_row_slow_down_and_alert() {
    let hook = Hook::start().await;
    let faults: Vec<(u32, Fault)> = (1..=8).map(|n| (n, Fault::Maintenance)).collect();
    let mut r = Race::new(scenario(&faults, u32::MAX))
        .args(["--webhook", hook.url.as_str()])
        .spawn()
        .await;
    let line = r
        .wait_for("answers in a row we can't read", Duration::from_secs(20))
        .await;
    let secs: f64 = line
        .split("waiting ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!((23.0..=37.0).contains(&secs), "{line}");
    let d = r.signal("INT").await;
    let polls = d
        .sim
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .count();
    assert_eq!(polls, 5, "nothing more during the backoff: {d:?}");
    let events: Vec<String> = hook
        .bodies()
        .iter()
        .map(|b| b["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["watcher_failing"], "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_recognised_inactive_marketplace_stops_the_default() {
    for (fault, what) in [
        (Fault::InactivePage, "pretix's error page"),
        (Fault::RedirectAway, "a redirect to the event page"),
    ] {
        let d = Race::new(scenario(&[(1, Fault::Garbage), (2, fault)], u32::MAX))
            .run()
            .await;
        assert_eq!(d.code, 1, "{what}: {d:?}");
        assert!(
            d.stderr.contains("the marketplace is not active any more"),
            "{what}: {d:?}"
        );
        assert!(d.stderr.contains("--poll-inactive-marketplace"), "{d:?}");
    }
    // Error statuses are never "inactive": the watch goes on, and Lua sees ok == false.
    let d = Race::new(scenario(
        &[(
            1,
            Fault::Status {
                code: 503,
                retry_after: Some("0".into()),
            },
        )],
        u32::MAX,
    ))
    .script(
        r#"
        local race = require("race")
        local url = race.options.event_url .. "secondhand/"
        local a = assert(race.session:poll(url))
        local b = assert(race.session:poll(url))
        print(("STATES %s %s %s %s"):format(tostring(a.ok), a.state, a.status, b.state))
        "#,
    )
    .run()
    .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stdout.contains("STATES false unrecognised 503 open"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_for_3000_polls_then_the_listing_is_secured() {
    const POLLS: u32 = 3000;
    let mut r = Race::new(Scenario::chaos(POLLS))
        .args(["--interval", "0"])
        .spawn()
        .await;
    let pid = r.pid();
    // (requests seen, RSS in kB), sampled until the process has exited.
    let mut samples: Vec<(usize, u64)> = Vec::new();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
        let Some(rss) = rss else { break };
        samples.push((r.sim.request_count(), rss));
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.drain();
    }
    let d = r.wait_within(Duration::from_secs(10)).await;
    assert_eq!(
        d.code,
        0,
        "{}",
        d.stderr
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!d.stderr.contains("panicked"));
    assert!(d.stdout.contains("=== TICKET IN CART ==="));
    let seen = d.sim.seen();
    let polls = seen
        .iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .count();
    assert!(polls >= POLLS as usize, "{polls} polls");
    let post = seen
        .iter()
        .find(|s| s.method == "POST")
        .expect("a cart POST");
    assert!(post.path.ends_with("/buy/c4a0s7x2k9m1/"));
    // No connection leaks: every connection the server closed or dropped was replaced, not
    // kept, so at any moment only a few were open.
    let most_open = seen.iter().map(|s| s.open_connections).max().unwrap();
    assert!(most_open <= 3, "up to {most_open} connections open at once");
    assert!(
        d.sim.connections() > 400,
        "{} connections",
        d.sim.connections()
    );
    // Memory stays flat: under 2 MB of growth from poll 1000 to the end of the watch (the last
    // sample before the listing appeared; securing and handing over the cart is a one-off cost).
    let at_1000 = samples
        .iter()
        .find(|(n, _)| *n >= 1000)
        .expect("a sample at 1000")
        .1;
    let listing_at = seen.iter().position(|s| s.method == "POST").unwrap() - 1;
    let end = samples
        .iter()
        .rev()
        .find(|(n, _)| *n < listing_at)
        .expect("a sample before the listing")
        .1;
    assert!(
        end < at_1000 + 2048,
        "RSS grew from {at_1000} kB to {end} kB"
    );
}

// ---- E. Rules no script can bend ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_mix_of_requests_to_a_remote_host_is_paced_by_the_bucket() {
    // A hostile script: seven POSTs and two GETs as fast as it can, in several spellings of the
    // host. The first six go at once (the burst), the rest one per 2 s.
    let d = Race::named("quiet")
        .via_name("marketplace.test")
        .args(["--interval", "2"])
        .script(
            r#"
            local race = require("race")
            local base = race.options.event_url
            local loud = base:gsub("marketplace%.test", "MarketPlace.TEST")
            for i = 1, 7 do
              local r = assert(race.session:post((i % 2 == 0 and loud or base) .. "spam/" .. i, { n = i }))
              print(("POST %d waited %.3f"):format(i, r.waited))
            end
            for i = 1, 2 do
              local r = assert(race.session:get(base))
              print(("GET %d waited %.3f"):format(i, r.waited))
            end
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();
    assert_eq!(seen.len(), 9, "{d:?}");
    let t0 = seen[0].at;
    for (k, s) in seen.iter().enumerate().skip(6) {
        let earliest = Duration::from_secs(2 * (k as u64 - 5));
        let at = s.at - t0;
        assert!(
            at + Duration::from_millis(200) >= earliest,
            "request {} at {at:?}, before {earliest:?}: {d:?}",
            k + 1
        );
    }
    // The second GET also keeps the 2 s floor after the first.
    assert!(seen[8].at - seen[7].at + Duration::from_millis(200) >= Duration::from_secs(2));
    assert!(d.stdout.contains("POST 1 waited 0.000"), "{d:?}");
    assert!(!d.stdout.contains("POST 7 waited 0.000"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_defaults_cart_post_right_after_a_poll_is_never_held_back() {
    let d = Race::named("instant")
        .via_name("marketplace.test")
        .args(["--interval", "2"])
        .script(
            r#"
            local race = require("race")
            local s = require("race.default")
            local own = s.on_cart
            function s.on_cart(result)
              print("CART WAITED " .. result.response.waited)
              return own(result)
            end
            return s
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("CART WAITED 0.0"), "{d:?}");
    // The poll itself kept the floor after the discovery GET.
    let seen = d.sim.seen();
    assert!(seen[1].at - seen[0].at + Duration::from_millis(200) >= Duration::from_secs(2));
    assert_eq!(d.posts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_name_is_refused_before_any_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let d = Race::named("quiet")
        .args(["--resolve", "plain.test:127.0.0.1"])
        .env("PLAIN_PORT", &port)
        .script(
            r#"
            local race = require("race")
            local port = os.getenv("PLAIN_PORT")
            for _, try in ipairs({
              function() return race.session:get("http://plain.test:" .. port .. "/") end,
              function() return race.session:post("http://plain.test:" .. port .. "/x", { a = 1 }) end,
            }) do
              local r, err = try()
              assert(r == nil and err.kind == "refused", tostring(err))
              assert(tostring(err):find("plain http", 1, true), tostring(err))
            end
            assert(race.session:get(race.options.event_url))
            print("REFUSED")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("REFUSED"));
    assert!(
        listener.accept().is_err(),
        "no connection was made to the plain-http server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_port_does_not_stall_the_marketplace_on_the_same_host() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let d = Race::named("quiet")
        .env("DEAD_PORT", &port)
        .script(
            r#"
            local race = require("race")
            local r, err = race.session:get("https://127.0.0.1:" .. os.getenv("DEAD_PORT") .. "/")
            assert(r == nil and err.kind == "network", tostring(err))
            local page = assert(race.session:poll(race.options.event_url .. "secondhand/"))
            print("MARKET WAITED " .. page.waited)
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("MARKET WAITED 0.0"), "{d:?}");
    assert!(d.stderr.contains(&format!("127.0.0.1:{port}")), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_refuses_cart_posts_on_every_host() {
    let d = Race::named("instant")
        .arg("--dry-run")
        .args([
            "--resolve",
            "shop.test:127.0.0.1",
            "--allow-host",
            "shop.test",
        ])
        .script(
            r#"
            local race = require("race")
            local port = race.options.url:match(":(%d+)")
            local other = "https://shop.test:" .. port .. "/other/"
            for _, path in ipairs({ "secondhand/buy/abc/", "cart/add", "cart/add/" }) do
              local r, err = race.session:post(other .. path, { item_1 = 1 })
              assert(r == nil and err.kind == "dry_run", path .. ": " .. tostring(err))
            end
            -- Any other POST elsewhere is not a cart: it goes out.
            local ok = assert(race.session:post(other .. "contact/", { a = 1 }))
            assert(ok.status == 404)
            print("DRY")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("DRY"));
    let posts = d.posts();
    assert_eq!(posts.len(), 1, "{d:?}");
    assert!(posts[0].path.ends_with("/contact/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cannot_set_identity_headers_or_event_fields() {
    let d = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url
            for _, h in ipairs({ "User-Agent", "cOOkie", "host" }) do
              local ok, err = pcall(race.session.get, race.session, url, { headers = { [h] = "evil" } })
              assert(not ok, h)
              assert(tostring(err):find("cannot be set per request", 1, true), tostring(err))
              local ok2 = pcall(race.session.post, race.session, url, {}, { headers = { [h] = "evil" } })
              assert(not ok2, h)
            end
            assert(race.session:get(url, { headers = { ["X-Friendly"] = "yes" } }))
            for _, k in ipairs({ "version", "event", "timestamp", "target" }) do
              local ok, err = pcall(race.alert.event, "tickets_available", { [k] = "forged" })
              assert(not ok and tostring(err):find("cannot be overridden", 1, true), tostring(err))
            end
            print("GUARDED")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("GUARDED"));
    let seen = d.sim.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("pretix-race/")
    );
    assert!(seen[0].cookies.iter().all(|(_, v)| v != "evil"));
}
