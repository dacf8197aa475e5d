//! The cart is the cart POST's outcome, from the hostile side: a shop whose checkout page stalls
//! after its headers, a page whose CSRF tokens went stale, a script's malformed request, a log
//! folder with planted links or open to everyone, a checkout that never loads in the browser.

use pretix_race::sim::{Fault, Scenario, SimListing};

use crate::support::hook::Hook;
use crate::support::{Race, mode};

/// One listing from the second poll; `fault` on the first.
fn one_listing(fault: Fault) -> Scenario {
    let mut s = Scenario {
        listings_from_poll: 2,
        listings: vec![SimListing::new("s7a11c4r7x", "Ticket – Type A", 19_000)],
        ..Scenario::default()
    };
    s.faults.insert(1, fault);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_whose_checkout_stalls_after_its_headers_is_still_handed_over() {
    let hook = Hook::start().await;
    let d = Race::new(one_listing(Fault::CheckoutStall))
        .args(["--request-timeout", "1", "--webhook", hook.url.as_str()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    // The confirmation never came…
    assert!(d.stderr.contains("the checkout page did not load"), "{d:?}");
    assert!(!d.stderr.contains("could not add"), "{d:?}");
    // …and the cart was handed over all the same: printed, saved, announced.
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert!(d.stdout.contains("Checkout: https://127.0.0.1:"), "{d:?}");
    let session = d.handed_session();
    assert_eq!(d.sim.cart_of(&session), ["Ticket – Type A"], "{d:?}");
    let files = d.logged("cookies.txt");
    assert_eq!(files.len(), 1, "{d:?}");
    assert!(
        std::fs::read_to_string(&files[0])
            .unwrap()
            .contains(&session)
    );
    let carts = hook.events("ticket_in_cart");
    assert_eq!(carts.len(), 1, "{:?}", hook.bodies());
    assert!(carts[0]["cookies"].to_string().contains(&session));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_cart_whose_checkout_stalls_is_still_handed_over() {
    let mut s = Scenario::named("shop").unwrap();
    s.faults.insert(1, Fault::CheckoutStall);
    let d = Race::new(s)
        .args([
            "--strategy",
            "shop",
            "--item",
            "7",
            "--request-timeout",
            "1",
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("the checkout did not load"), "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert!(d.stdout.contains("/checkout/questions/\n"), "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Day Ticket"]);
    assert_eq!(d.logged("cookies.txt").len(), 1, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_csrf_token_is_renewed_and_the_cart_post_retried_at_once() {
    // Listings from the first poll, whose page carries stale tokens. The strategy tries once:
    // only the core's immediate retry can secure the cart.
    let mut s = one_listing(Fault::StaleCsrf);
    s.listings_from_poll = 1;
    let d = Race::new(s)
        .args(["--interval", "60"])
        .script(
            r#"
            local race = require("race")
            local s = race.session
            local url = race.options.event_url .. "secondhand/"
            local page = assert(s:poll(url))
            local r = assert(s:add_to_cart(page.listings[1]))
            assert(r.status == "in_cart", "not in the cart: " .. tostring(r.reason))
            s:handoff(r.checkout_url, { expires = r.expires })
            return true
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    // The refused POST, one fresh page, the POST again: nothing between them.
    let steps: Vec<String> = d
        .sim
        .seen()
        .iter()
        .skip_while(|s| s.method != "POST")
        .map(|s| format!("{} {}", s.method, s.path))
        .take(3)
        .collect();
    let buy = "POST /rehearsal/secondhand/buy/s7a11c4r7x/";
    assert_eq!(steps, [buy, "GET /rehearsal/secondhand/", buy], "{d:?}");
    // No pause was earned by the refusal: no backoff said.
    assert!(!d.stderr.contains("waiting"), "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Ticket – Type A"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_header_name_is_the_scripts_error_at_its_line_without_backoff() {
    let d = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            local s = race.session
            local url = race.options.event_url
            assert(s:get(url))
            s:get(url, { headers = { ["X Bad Name"] = "1" } })
            return true
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:6"), "{d:?}");
    assert!(
        d.stderr.contains("is not a valid HTTP header name"),
        "{d:?}"
    );
    assert!(!d.stderr.contains("network error"), "{d:?}");
    assert!(!d.stderr.contains("waiting"), "{d:?}");
    // Nothing was sent for it.
    assert_eq!(d.sim.request_count(), 1, "{d:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_planted_under_the_next_cookie_file_name_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, "another user's file\n").unwrap();
    let log = tempfile::tempdir().unwrap();
    std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // Under every name the hand-over could pick first in the next minutes: the cookie file a
    // link to nowhere yet (where another user would read it), the JSON a link to their file.
    let now = std::time::SystemTime::now();
    for s in 0..180u64 {
        let stamp = pretix_race::clock::compact(now + std::time::Duration::from_secs(s));
        let stem = log.path().join(format!("cart-{stamp}"));
        let nowhere = outside.path().join(format!("read-me-{stamp}"));
        std::os::unix::fs::symlink(&nowhere, stem.with_extension("cookies.txt")).unwrap();
        std::os::unix::fs::symlink(&victim, stem.with_extension("cookies.json")).unwrap();
    }
    let d = Race::named("instant")
        .args(["--log-dir", log.path().to_str().unwrap()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "another user's file\n"
    );
    let outside_files = std::fs::read_dir(outside.path()).unwrap().count();
    assert_eq!(outside_files, 1, "a file was made through a planted link");
    let session = d.handed_session();
    let written: Vec<_> = std::fs::read_dir(log.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.is_symlink() && p.to_string_lossy().ends_with(".cookies.txt"))
        .collect();
    assert_eq!(written.len(), 1, "{d:?}");
    assert!(
        std::fs::read_to_string(&written[0])
            .unwrap()
            .contains(&session)
    );
    assert_eq!(mode(&written[0]), 0o600);
    assert!(
        d.stdout.contains(&written[0].display().to_string()),
        "{d:?}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_or_state_dir_others_can_write_is_refused_at_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let log = tempfile::tempdir().unwrap();
    std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = Race::named("instant")
        .args(["--log-dir", log.path().to_str().unwrap()])
        .run()
        .await;
    assert_eq!(d.code, 2, "{d:?}");
    assert!(
        d.stderr.contains(&log.path().display().to_string()),
        "{d:?}"
    );
    assert!(d.stderr.contains("chmod go-w"), "{d:?}");
    assert_eq!(d.sim.request_count(), 0, "{d:?}");
    // The same for the state folder.
    let d = Race::named("instant")
        .args(["--state-dir", log.path().to_str().unwrap()])
        .run()
        .await;
    assert_eq!(d.code, 2, "{d:?}");
    assert!(d.stderr.contains("--state-dir"), "{d:?}");
    assert!(d.stderr.contains("chmod go-w"), "{d:?}");
    assert_eq!(d.sim.request_count(), 0, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_that_never_loads_in_the_browser_ends_within_the_bound() {
    let d = Race::new(one_listing(Fault::CheckoutStall))
        .chromium()
        .args(["--request-timeout", "1", "--handoff-timeout", "2"])
        .run()
        .await;
    kill_browsers_under(d.dir.path());
    // The browser part never finished: no "Browser:" line, the message instead, after the
    // printed session.
    let session = d
        .stdout
        .find("=== TICKET IN CART ===")
        .expect("the session");
    let message = d
        .stdout
        .find("The checkout did not load in the browser within 2 s")
        .unwrap_or_else(|| panic!("the message: {d:?}"));
    assert!(session < message, "{d:?}");
    assert!(d.stdout.contains("Your cart is not lost"), "{d:?}");
    assert_eq!(d.code, 0, "{d:?}");
}

/// Ends the browsers whose profile lies under `dir` (a hand-over that gave up on the browser
/// leaves its window to the person, and says no pid): their whole process groups.
fn kill_browsers_under(dir: &std::path::Path) {
    let needle = dir.display().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&needle) {
            // SAFETY: kill(2) on a process (and its group) this test's run started.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_the_checkout_page_stalls_hands_the_cart_over() {
    // The cart POST's redirect to the checkout is its outcome: recorded before the checkout page
    // is asked for, so a Ctrl-C while that page stalls (30 s here) cannot lose the cart.
    let hook = Hook::start().await;
    let mut r = Race::new(one_listing(Fault::CheckoutStall))
        .args(["--webhook", hook.url.as_str()])
        .spawn()
        .await;
    r.wait_for("IN CART", std::time::Duration::from_secs(20))
        .await;
    let d = r.signal("INT").await;
    assert_eq!(d.code, 130, "{d:?}");
    assert!(
        d.stdout
            .contains("=== TICKET IN CART (handed over as pretix-race stops"),
        "{d:?}"
    );
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Ticket – Type A"]);
    assert_eq!(d.logged("cookies.txt").len(), 1, "{d:?}");
    let carts = hook.events("ticket_in_cart");
    assert_eq!(carts.len(), 1, "{:?}", hook.bodies());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_a_shop_checkout_stalls_hands_the_cart_over() {
    // pretix's "added" message is the shop's outcome: the cart is recorded before
    // `checkout/start` is asked for, so a Ctrl-C while that page stalls cannot lose it.
    let mut s = Scenario::named("shop").unwrap();
    s.faults.insert(1, Fault::CheckoutStall);
    let mut r = Race::new(s)
        .args(["--strategy", "shop", "--item", "7"])
        .spawn()
        .await;
    r.wait_for("the shop said added", std::time::Duration::from_secs(20))
        .await;
    let d = r.signal("INT").await;
    assert_eq!(d.code, 130, "{d:?}");
    assert!(
        d.stdout
            .contains("=== TICKET IN CART (handed over as pretix-race stops"),
        "{d:?}"
    );
    assert!(d.stdout.contains("/checkout/start"), "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Day Ticket"]);
    assert_eq!(d.logged("cookies.txt").len(), 1, "{d:?}");
}
