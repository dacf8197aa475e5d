//! Robust on the day: no exit path loses a secured cart, an odd answer never ends a watch, and
//! the rules hold whatever a script does (tested from a hostile script's side).

use std::time::Duration;

use pretix_race::core::sim::{Fault, Scenario};

use crate::support::hook::Hook;
use crate::support::{Done, Race, mode};

/// The default, but it keeps watching after a cart (a couple wants two tickets).
const KEEP_GOING: &str = r#"
local race = require("race")
local s = require("race.default")
function s.on_cart(result)
  race.log.info("SECURED, keeping on")
  return false
end
return s
"#;

fn assert_cart_handed_over_at_exit(d: &Done) {
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
    let session = d
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("__Host-pretix_session="))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    assert_eq!(d.sim.cart_of(session), ["Ticket – Type A"], "{d:?}");
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
        .script(
            r#"
            local race = require("race")
            local page = assert(race.market.poll(race.session, race.options.event_url .. "secondhand/"))
            local r = assert(race.market.add_to_cart(race.session, page.listings[1]))
            assert(r.status == "in_cart")
            error("my bug after the cart")
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("my bug after the cart"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_that_returns_without_handing_over_still_hands_over() {
    for lua in [
        // Returns normally.
        "local race = require('race')\nlocal page = assert(race.market.poll(race.session, race.options.event_url .. 'secondhand/'))\nassert(race.market.add_to_cart(race.session, page.listings[1]))\nreturn true\n",
        // Gives up with a message.
        "local race = require('race')\nlocal page = assert(race.market.poll(race.session, race.options.event_url .. 'secondhand/'))\nassert(race.market.add_to_cart(race.session, page.listings[1]))\nreturn false, 'changed my mind'\n",
    ] {
        let d = Race::named("instant").script(lua).run().await;
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
        .script(
            r#"
            local race = require("race")
            local page = assert(race.market.poll(race.session, race.options.event_url .. "secondhand/"))
            assert(race.market.add_to_cart(race.session, page.listings[1]).status == "in_cart")
            race._test_panic()
            "#,
        )
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
            local a = race.handoff(race.session, race.options.event_url, { headless = true })
            local b = race.handoff(race.session, race.options.event_url, { headless = true })
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
        local a = assert(race.market.poll(race.session, url))
        local b = assert(race.market.poll(race.session, url))
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
