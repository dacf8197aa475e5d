//! The browser hand-over, with a real Chromium (headless) against the simulator over HTTPS.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::{Race, bare, chromium, kill_browser};

/// The pid in "Browser: … (pid N) shows …".
fn browser_pid(stdout: &str) -> u32 {
    let after = stdout
        .split("(pid ")
        .nth(1)
        .expect("a Browser line with a pid");
    after.split(')').next().unwrap().parse().unwrap()
}

/// A strategy that runs `before`, polls until listings show and adds them to the cart until one
/// is in it, then runs `then` (Lua; `race`, the session `s` and the cart result `r` in scope).
fn carting_strategy(before: &str, then: &str) -> String {
    format!(
        r#"
        local race = require("race")
        local s = race.session
        {before}
        local url = race.options.event_url .. "secondhand/"
        local page
        repeat page = assert(s:poll(url)) until #page.listings > 0
        for _, l in ipairs(page.listings) do
          local r = assert(s:add_to_cart(l))
          if r.status == "in_cart" then {then} end
        end
        error("no cart")
        "#
    )
}

/// Closes the browser the run's report names, if any (its window outlives the run); its pid.
fn close_browser(d: &crate::support::Done) -> Option<u32> {
    let pid = d.stdout.contains("(pid ").then(|| browser_pid(&d.stdout));
    if let Some(pid) = pid {
        kill_browser(pid);
    }
    pid
}

/// The pid in "browser started early (pid N)", said at start-up.
fn early_pid(stderr: &str) -> u32 {
    let at = stderr
        .find("browser started early (pid ")
        .expect("said at start-up");
    browser_pid(&stderr[at..])
}

/// The browser asked the simulator for the checkout page, holding the session's cookie.
fn checkout_seen_by_browser(d: &crate::support::Done) {
    let from_browser = d
        .sim
        .seen()
        .into_iter()
        .rfind(|s| {
            s.path == "/rehearsal/checkout/questions/"
                && s.user_agent.as_deref().unwrap_or("").contains("Chrome")
        })
        .expect("the browser requested the checkout page");
    assert!(from_browser.cookie("__Host-pretix_session").is_some());
}

/// A cart left as the run ended: its session printed first, then the early browser's own tab on
/// the checkout, holding the cart (the browser is closed after).
fn shown_at_exit_in_the_early_tab(d: &crate::support::Done) {
    let pid = close_browser(d);
    let session = d.stdout.find("=== TICKET IN CART").expect("the session");
    let window = d.stdout.find("Browser: ").expect("the browser");
    assert!(session < window, "{d:?}");
    assert!(
        d.stdout
            .contains("The tab that showed the watch (--browser-early) now shows the checkout."),
        "{d:?}"
    );
    assert_eq!(
        pid,
        Some(early_pid(&d.stderr)),
        "the early browser showed it"
    );
    checkout_seen_by_browser(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_early_shows_the_watch_then_the_checkout_in_the_same_tab() {
    let d = Race::named("standard")
        .chromium()
        .args(["--browser-early", "-v"])
        .run()
        .await;
    let pid = close_browser(&d);
    assert_eq!(d.code, 0, "{d:?}");
    // Started at start-up, on our local status page, which it loaded.
    let started = d
        .stderr
        .find("browser started early (pid ")
        .expect("said at start-up");
    assert!(
        d.stderr[started..].contains("it shows the watch at http://127.0.0.1:"),
        "{d:?}"
    );
    assert!(
        d.stderr.contains("browser: the status page is shown"),
        "{d:?}"
    );
    let early_pid = early_pid(&d.stderr);
    assert_eq!(pid, Some(early_pid), "the hand-over used the early browser");
    // The same tab went on to the checkout (its history: the status page, then the checkout),
    // holding the cart.
    assert!(
        d.stdout
            .contains("The tab that showed the watch (--browser-early) now shows the checkout."),
        "{d:?}"
    );
    assert!(d.stdout.contains("Hand-over took "), "{d:?}");
    checkout_seen_by_browser(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_browser_closed_before_the_cart_is_replaced_by_a_fresh_one() {
    let d = Race::named("standard")
        .chromium()
        .args(["--browser-early", "--interval", "0"])
        .env("PRETIX_RACE_TEST_HOOKS", "1")
        .script(&carting_strategy(
            // Waits for the early browser, then closes its window as the person might.
            r#"assert(race._test_close_early_browser(), "an early browser")"#,
            "s:handoff(r.checkout_url) return",
        ))
        .run()
        .await;
    close_browser(&d);
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stderr
            .contains("the browser started early could not show the checkout"),
        "{d:?}"
    );
    // A fresh browser showed the checkout instead (not the early tab).
    assert!(d.stdout.contains("Hand-over took "), "{d:?}");
    assert!(!d.stdout.contains("The tab that showed the watch"), "{d:?}");
    assert!(
        d.sim.seen().iter().any(|s| {
            s.path == "/rehearsal/checkout/questions/"
                && s.user_agent.as_deref().unwrap_or("").contains("Chrome")
        }),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_left_by_a_failing_strategy_is_shown_in_the_early_browsers_tab() {
    let d = Race::named("standard")
        .chromium()
        .args(["--browser-early", "--interval", "0"])
        .script(&carting_strategy("", r#"error("a bug after the cart")"#))
        .run()
        .await;
    shown_at_exit_in_the_early_tab(&d);
    assert_ne!(d.code, 0, "the strategy failed: {d:?}");
    assert!(d.stderr.contains("a bug after the cart"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_held_at_ctrl_c_is_shown_in_the_early_browsers_tab() {
    let mut r = Race::named("standard")
        .chromium()
        .args(["--browser-early", "--interval", "0"])
        .script(&carting_strategy(
            "",
            r#"race.log.info("HOLDING THE CART") while true do race.time.sleep(0.05) end"#,
        ))
        .spawn()
        .await;
    r.wait_for("HOLDING THE CART", Duration::from_secs(20))
        .await;
    r.wait_for("browser started early (pid ", Duration::from_secs(20))
        .await;
    let d = r.signal("INT").await;
    shown_at_exit_in_the_early_tab(&d);
    assert_eq!(d.code, 130, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_opens_the_checkout_page_holding_the_cart() {
    let d = Race::named("standard").chromium().run().await;
    // The window stays open after the run: close it whatever happened, then look at the run.
    let pid = close_browser(&d);
    assert_eq!(d.code, 0, "{d:?}");
    assert!(pid.is_some(), "a Browser line with a pid: {d:?}");

    // The session first, then the window.
    let ticket = d.stdout.find("=== TICKET IN CART ===").unwrap();
    let window = d.stdout.find("Browser: ").unwrap();
    assert!(ticket < window, "{d:?}");
    assert!(d.stdout.contains("/rehearsal/checkout/questions/"));
    assert!(
        d.stdout
            .contains("The window is yours: it stays open after pretix-race exits")
    );
    assert!(
        d.stdout.contains("The cart is reserved until 20"),
        "the page's data-expires: {d:?}"
    );
    assert!(d.stdout.contains("Hand-over took "), "{d:?}");
    assert!(
        d.stderr.contains("browser for the hand-over: "),
        "said at start-up: {d:?}"
    );

    // The simulator saw the browser's checkout request carry every session cookie of ours.
    let seen = d.sim.seen();
    let ours = seen
        .iter()
        .rfind(|s| {
            s.user_agent
                .as_deref()
                .unwrap_or("")
                .starts_with("pretix-race")
        })
        .unwrap();
    let session = ours.cookie("__Host-pretix_session").unwrap().to_string();
    let from_browser = seen
        .iter()
        .rfind(|s| {
            s.path == "/rehearsal/checkout/questions/"
                && s.user_agent.as_deref().unwrap_or("").contains("Chrome")
        })
        .expect("the browser requested the checkout page");
    let names: HashSet<&str> = from_browser
        .cookies
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        names,
        HashSet::from([
            "__QXSESSION",
            "__Host-pretix_csrftoken",
            "__Host-pretix_session"
        ])
    );
    assert_eq!(
        from_browser.cookie("__Host-pretix_session"),
        Some(session.as_str())
    );
    assert_eq!(d.sim.cart_of(&session), ["Ticket – Type B"]);
    // The browser's profile (it holds the cookies) is private.
    let profile = d.logged("browser-profile-");
    assert_eq!(profile.len(), 1);
    assert_eq!(crate::support::mode(&profile[0]), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_fails_to_start_loses_nothing() {
    let d = Race::named("instant")
        .browser_env(&[])
        .args(["--browser", "/bin/false"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="));
    assert!(
        d.stdout
            .contains("No browser was opened: /bin/false exited before opening DevTools"),
        "{d:?}"
    );
    assert!(d.stdout.contains("paste the console script above"), "{d:?}");
    assert_eq!(d.logged(".cookies.txt").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_browser_is_warned_about_at_start_up_and_handled_at_success() {
    let empty = tempfile::tempdir().unwrap();
    let d = Race::named("instant")
        .browser_env(&[("PATH", empty.path().to_str().unwrap())])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let warn = d
        .stderr
        .find("no browser found")
        .expect("a start-up warning");
    let first_request = d.stderr.find("#0001").unwrap();
    assert!(warn < first_request, "{d:?}");
    assert!(
        d.stdout
            .contains("No browser was opened: no browser was found at start-up"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_early_without_a_browser_stops_before_any_request() {
    let empty = tempfile::tempdir().unwrap();
    let d = Race::named("instant")
        .args(["--browser-early"])
        .browser_env(&[("PATH", empty.path().to_str().unwrap())])
        .run()
        .await;
    assert_eq!(d.code, 2, "{d:?}");
    assert!(
        d.stderr.contains("no browser found for the hand-over"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_browser_path_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--browser",
            "/nonexistent/chrome",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--browser /nonexistent/chrome: no such file"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_test_simulate_verifies_the_cart_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let chromium = chromium();
    let (code, out, err) = bare(
        &[
            "handoff-test",
            "--simulate",
            "--headless-browser",
            "--browser",
            &chromium,
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "ok   the browser shows the checkout page (https://127.0.0.1:",
        "ok   the page lists the cart item \"Ticket – Type A\"",
        "ok   the page shows the reservation deadline (20",
        "ok   the simulator saw the browser's checkout request carry all 3 session cookies",
        "hand-over took ",
        "Hand-over verified.",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    // Headless: the browser was closed and its profile removed.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("live-responses"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("browser-profile-")
        })
        .collect();
    assert!(left.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_test_needs_a_target() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(&["handoff-test"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = bare(&["handoff-test", "--url", "https://t.example"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--event"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_test_live_opens_the_event_page_with_a_fresh_session_and_buys_nothing() {
    let sim = pretix_race::sim::Sim::start(pretix_race::sim::Scenario::named("instant").unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let wrapper = crate::support::headless_chromium(dir.path(), &sim);
    let (code, out, err) = bare(
        &[
            "handoff-test",
            "--url",
            sim.base_url().as_str(),
            "--event",
            sim.event(),
            "--ca-cert",
            ca.to_str().unwrap(),
            "--browser",
            wrapper.to_str().unwrap(),
            "--headless-browser",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Session cookies set by 127.0.0.1:"), "{out}");
    assert!(out.contains("__Host-pretix_session="), "{out}");
    assert!(
        out.contains(&format!("shows {}rehearsal/", sim.base_url())),
        "{out}"
    );
    let seen = sim.seen();
    assert!(seen.iter().all(|s| s.method == "GET"), "nothing is bought");
    let ours: Vec<_> = seen
        .iter()
        .filter(|s| {
            s.user_agent
                .as_deref()
                .unwrap_or("")
                .starts_with("pretix-race")
        })
        .collect();
    assert_eq!(ours.len(), 1, "one request: the event page");
    let browser = seen
        .iter()
        .find(|s| s.user_agent.as_deref().unwrap_or("").contains("Chrome"))
        .expect("the browser loaded the event page");
    assert_eq!(browser.path, "/rehearsal/");
    assert!(browser.cookie("__Host-pretix_session").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visible_window_is_an_ordinary_one() {
    // A real, visible window on a virtual display (Debian xvfb): no automation flag set.
    let dir = tempfile::tempdir().unwrap();
    let chromium = chromium();
    let bin = crate::support::BIN;
    let out = tokio::process::Command::new("xvfb-run")
        .args([
            "-a",
            bin,
            "handoff-test",
            "--simulate",
            "--browser",
            &chromium,
        ])
        .current_dir(dir.path())
        .env_remove("SSL_CERT_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("xvfb-run (Debian xvfb; see .ci/install-deps)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("(pid ") {
        let _ = std::panic::catch_unwind(|| kill_browser(browser_pid(&stdout)));
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok   the window is an ordinary one (navigator.webdriver is not set)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("The window is yours: it stays open after pretix-race exits"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_test_sends_a_test_imessage_once_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, rec) = crate::support::fake_osascript(dir.path());
    let path = crate::support::path_with(&bin);
    let chromium = chromium();
    let (code, out, err) = crate::support::bare_env(
        &[
            "handoff-test",
            "--simulate",
            "--headless-browser",
            "--browser",
            &chromium,
            "--imessage",
            "me@example.com",
        ],
        dir.path(),
        &[("PATH", path.as_str())],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Hand-over verified.\nTest iMessage sent to me@example.com."),
        "{out}"
    );
    let calls = crate::support::osascript_calls(&rec);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1[1], "me@example.com");
    assert!(calls[0].1[2].contains("verified"), "{:?}", calls[0].1);
}
