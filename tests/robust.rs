//! Robust on the day: no exit path loses a secured cart, an odd answer never ends a watch, and
//! the rules hold whatever a script does (tested from a hostile script's side).

use std::time::Duration;

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
