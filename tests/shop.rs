//! The main shop: a sold-out product that comes back, against the simulated shop (sold out,
//! reserved, available; a lost add; waiting pages; variations; the cart panel's decoys).

use pretix_race::sim::Scenario;

use crate::support::hook::Hook;
use crate::support::{Race, bare};

fn shop() -> Race {
    Race::new(Scenario::named("shop").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_out_product_that_comes_back_is_secured() {
    let d = shop()
        .args(["--strategy", "shop", "--item", "7"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let posts = d.posts();
    assert_eq!(
        posts.len(),
        2,
        "one add lost to someone faster, one won: {d:?}"
    );
    for p in &posts {
        assert!(p.path.ends_with("/rehearsal/cart/add"), "{}", p.path);
        let field = |k: &str| p.form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(field("item_7"), Some("1"));
        assert!(field("csrfmiddlewaretoken").is_some() && field("subevent") == Some(""));
        assert!(
            p.referer.as_deref().unwrap().ends_with("/rehearsal/"),
            "{p:?}"
        );
    }
    assert!(d.stderr.contains("went to someone faster"), "{d:?}");
    assert!(
        d.stderr.contains("the shop is still reserving"),
        "the waiting page was followed: {d:?}"
    );
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Day Ticket"]);
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert!(
        d.stdout.contains("Checkout: https://127.0.0.1:")
            && d.stdout.contains("/checkout/questions/\n"),
        "no trailing `?`: {d:?}"
    );
    // Nothing was added before it was available: the polls before it saw it sold out, then reserved.
    let polls_before = d
        .sim
        .seen()
        .iter()
        .take_while(|s| s.method != "POST")
        .filter(|s| s.path == "/rehearsal/")
        .count();
    assert_eq!(polls_before, 3, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variation_and_a_count() {
    let d = shop()
        .args([
            "--strategy",
            "shop",
            "--item",
            "9",
            "--item",
            "12",
            "--variation",
            "4",
            "--count",
            "2",
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let won = d.posts().pop().unwrap();
    assert!(
        won.form
            .iter()
            .any(|(k, v)| k == "variation_12_4" && v == "2"),
        "{won:?}"
    );
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Festival Shirt – XL"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_announces_and_never_adds() {
    let hook = Hook::start().await;
    let mut r = shop()
        .args([
            "--strategy",
            "shop",
            "--item",
            "7",
            "--dry-run",
            "--webhook",
            hook.url.as_str(),
        ])
        .spawn()
        .await;
    r.wait_for(
        "dry run: would add Day Ticket",
        std::time::Duration::from_secs(20),
    )
    .await;
    let d = r.signal("INT").await;
    assert!(d.posts().is_empty(), "{d:?}");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "tickets_available");
    assert_eq!(bodies[0]["listings"][0]["title"], "Day Ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_line_names_the_item_and_variation_watched_for() {
    let mut r = shop()
        .args([
            "--strategy",
            "shop",
            "--item",
            "9",
            "--item",
            "12",
            "--variation",
            "4",
            "--dry-run",
        ])
        .spawn()
        .await;
    let line = r
        .wait_for(
            "strategy: built-in shop",
            std::time::Duration::from_secs(20),
        )
        .await;
    assert!(
        line.contains("/rehearsal/ (items 9, 12, variation 4)"),
        "{line}"
    );
    r.signal("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_not_on_the_page_is_watched_for_and_the_products_are_named() {
    // pretix hides sold-out, not-yet-available and voucher-only products: absent is not an answer.
    let mut r = shop()
        .args(["--strategy", "shop", "--item", "99"])
        .spawn()
        .await;
    let line = r
        .wait_for("product 99 is not on", std::time::Duration::from_secs(20))
        .await;
    assert!(line.contains("watching for it"), "{line}");
    assert!(line.contains("7 Day Ticket"), "{line}");
    assert!(
        line.contains("12 (variation 4) Festival Shirt – XL"),
        "{line}"
    );
    // It keeps watching: more polls come.
    r.wait_for("#0003", std::time::Duration::from_secs(20))
        .await;
    let d = r.signal("INT").await;
    assert!(d.posts().is_empty(), "{d:?}");
    assert_eq!(d.stderr.matches("is not on").count(), 1, "said once: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_cannot_be_pretix_ids_and_a_variation_of_a_plain_product_are_refused() {
    let d = shop()
        .args(["--strategy", "shop", "--item", "Day Ticket"])
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr.contains("--item Day Ticket is not a product id"),
        "{d:?}"
    );
    let d = shop()
        .args(["--strategy", "shop", "--item", "7", "--variation", "XL"])
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr.contains("--variation XL is not a variation id"),
        "{d:?}"
    );
    // Item 7 is on the page without variations: no variation of it can come.
    let d = shop()
        .args(["--strategy", "shop", "--item", "7", "--variation", "4"])
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d.stderr.contains("product 7 has no variations"), "{d:?}");
    assert!(d.posts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_strategy_needs_an_item_and_rehearses() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--strategy",
            "shop",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--strategy shop needs --item"), "{err}");
    let (code, out, err) = bare(
        &[
            "rehearse",
            "--strategy",
            "shop",
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
    assert!(out.contains("=== TICKET IN CART ==="), "{out}");
    assert!(err.contains("rehearsal: simulated shop"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marketplace_strategy_on_a_shop_without_one_says_what_to_do() {
    let d = shop().run().await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d.stderr.contains("no open marketplace"), "{d:?}");
    assert!(d.stderr.contains("--strategy shop --item 7"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_page_that_is_not_there_says_to_check_the_url() {
    let d = Race::named("instant")
        .own_targets()
        .script(
            "local s = require(\"race.default\")\ns.targets = { { url = \"{BASE}\", event = \"nope\" } }\nreturn s\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d.stderr.contains("answered HTTP 404"), "{d:?}");
    assert!(
        d.stderr.contains("must include the organiser's path"),
        "{d:?}"
    );
    assert_eq!(d.sim.seen().len(), 1, "one request, then the hint: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_over_plain_http_is_handed_over_the_same_way() {
    let d = shop()
        .plain_http()
        .args(["--strategy", "shop", "--item", "7"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("Checkout: http://127.0.0.1:"), "{d:?}");
    assert!(d.stdout.contains("  pretix_session="), "{d:?}");
    assert!(!d.stdout.contains("__Host-"), "{d:?}");
    let files = d.logged(".cookies.txt");
    assert_eq!(files.len(), 1, "{d:?}");
    #[cfg(unix)]
    assert_eq!(crate::support::mode(&files[0]), 0o600);
    let session = d
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("pretix_session="))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    assert_eq!(d.sim.cart_of(session), ["Day Ticket"]);
    assert!(
        d.stdout
            .contains("console.error(\"pretix-race: this browser refused"),
        "{d:?}"
    );
    assert!(d.stdout.contains("use a private window"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_takes_over_a_plain_http_shops_cart() {
    let d = shop()
        .plain_http()
        .chromium()
        .args(["--strategy", "shop", "--item", "7"])
        .run()
        .await;
    let pid = d
        .stdout
        .split("(pid ")
        .nth(1)
        .and_then(|a| a.split(')').next())
        .and_then(|p| p.parse::<u32>().ok());
    if let Some(pid) = pid {
        crate::support::kill_browser(pid);
    }
    assert_eq!(d.code, 0, "{d:?}");
    assert!(pid.is_some(), "{d:?}");
    // The browser's own request for the checkout carried the session.
    let from_browser = d
        .sim
        .seen()
        .into_iter()
        .rfind(|s| {
            s.path.ends_with("/checkout/questions/")
                && !s
                    .user_agent
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("pretix-race")
        })
        .expect("the browser asked for the checkout");
    let session = from_browser
        .cookie("pretix_session")
        .expect("session cookie");
    assert_eq!(d.sim.cart_of(session), ["Day Ticket"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_page_in_front_of_the_shop_says_nothing_about_its_products() {
    // shop-busy: 503, 429, a reset, then a proxy's maintenance page (no pretix markup) before the
    // event page. The maintenance page is no evidence that product 7 is missing.
    let d = Race::new(Scenario::named("shop-busy").unwrap().with_retry_after("0"))
        .args(["--strategy", "shop", "--item", "7"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stderr
            .contains("unrecognised: not a pretix page (a maintenance, error or challenge page?)"),
        "{d:?}"
    );
    assert!(!d.stderr.contains("product 7 is not on"), "{d:?}");
    assert!(!d.stderr.contains("no products on"), "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Day Ticket"]);
    // A shop's run counts products, not listings.
    assert!(
        d.stderr
            .contains(" polls, 2 products seen available, 1 cart attempt (1 won, 0 lost)"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_named_for_an_event_without_dates_is_said_to_be_unused() {
    let d = shop()
        .args(["--strategy", "shop", "--item", "7", "--date", "2027-07-10"])
        .run()
        .await;
    assert_eq!(d.code, 0, "the event is watched as it is: {d:?}");
    assert!(
        d.stderr.contains("--date 2027-07-10 is not used: ")
            && d.stderr.contains("is not an event series' page"),
        "{d:?}"
    );
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Day Ticket"]);
}
