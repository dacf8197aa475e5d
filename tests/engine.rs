//! The default strategy end to end: discovery, polling, lost races, the cart, the hand-over.

use std::collections::HashSet;
use std::time::Duration;

use pretix_race::sim::{Fault, Scenario, SimListing};

use crate::support::{Race, bare, hook::Hook, mode};

fn ua() -> String {
    format!("pretix-race/{}", env!("CARGO_PKG_VERSION"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_run_loses_one_race_then_secures_the_next_listing() {
    let d = Race::named("standard").run().await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();

    // Discovery first: the event page, then the marketplace it links to, with the sort filter.
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/rehearsal/")
    );
    assert_eq!(seen[1].path, "/rehearsal/secondhand/");
    assert_eq!(seen[1].query.as_deref(), Some("sort=price_asc"));

    // The cheaper listing first (lost to someone else), then the next one on the page.
    let posts = d.posts();
    let paths: Vec<&str> = posts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/rehearsal/secondhand/buy/r8k2m4p6q1w3e5t7/",
            "/rehearsal/secondhand/buy/z9x8c7v6b5n4m3l2/"
        ]
    );
    for p in &posts {
        // CSRF like a browser: token field, cookie, same-origin Referer and Origin.
        assert!(
            p.form
                .iter()
                .any(|(k, v)| k == "csrfmiddlewaretoken" && v.len() == 64),
            "{p:?}"
        );
        assert!(p.cookie("__Host-pretix_csrftoken").is_some());
        assert!(
            p.referer
                .as_deref()
                .unwrap()
                .ends_with("/rehearsal/secondhand/?sort=price_asc")
        );
        assert_eq!(
            p.origin.as_deref(),
            Some(d.sim.base_url().as_str().trim_end_matches('/'))
        );
    }

    // Every request says who we are, over HTTP/2, on one connection, with the session's cookies.
    assert!(
        seen.iter()
            .all(|s| s.user_agent.as_deref() == Some(ua().as_str()))
    );
    assert!(
        seen.iter().all(|s| s.version == "HTTP/2.0"),
        "{:?}",
        seen.iter().map(|s| &s.version).collect::<Vec<_>>()
    );
    assert_eq!(d.sim.connections(), 1);
    let sessions: HashSet<_> = seen[1..]
        .iter()
        .filter_map(|s| s.cookie("__Host-pretix_session"))
        .collect();
    assert_eq!(sessions.len(), 1, "one session throughout");
    let session = sessions.into_iter().next().unwrap();
    assert_eq!(d.sim.cart_of(session), ["Ticket – Type B"]);

    // The hand-over: checkout URL, every cookie, the console script, private cookie files.
    assert!(
        d.stdout.contains(&format!(
            "Checkout: {}rehearsal/checkout/questions/",
            d.sim.base_url()
        )),
        "{d:?}"
    );
    for name in [
        "__QXSESSION",
        "__Host-pretix_csrftoken",
        "__Host-pretix_session",
    ] {
        assert!(d.stdout.contains(&format!("{name}=")), "{name} printed");
        assert!(
            d.stdout.contains("await cookieStore.set({"),
            "console script"
        );
    }
    assert!(d.stdout.contains("Reserved until: "));
    let txt = d.logged(".cookies.txt");
    let json = d.logged(".cookies.json");
    assert_eq!((txt.len(), json.len()), (1, 1));
    assert_eq!(mode(&txt[0]), 0o600);
    assert_eq!(mode(&json[0]), 0o600);
    let netscape = std::fs::read_to_string(&txt[0]).unwrap();
    assert!(
        netscape.contains("#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t"),
        "{netscape}"
    );
    assert!(netscape.contains(session));
    let cookies: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json[0]).unwrap()).unwrap();
    assert_eq!(cookies.as_array().unwrap().len(), 3);

    // The log: one line per request in the documented shape, and the summary.
    assert!(d.stderr.contains("| 429 |"), "{d:?}");
    assert!(d.stderr.contains("lost the race for Ticket – Type A"));
    assert!(d.stderr.contains("IN CART: Ticket – Type B"));
    assert!(
        d.stderr
            .contains("done: 4 polls, 2 listings seen, 2 cart attempts (1 won, 1 lost)"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_sort_and_user_agent_flags_reach_the_site() {
    let mut s = Scenario::named("instant").unwrap();
    s.listings = vec![
        SimListing::new("cheap1", "Ticket", 5_000),
        SimListing::new("pricey2", "Up-and-coming Ticket", 9_000).item(966),
    ];
    let d = Race::new(s)
        .args([
            "--item",
            "966",
            "--sort",
            "price_desc",
            "--user-agent",
            "my-agent/1",
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();
    assert_eq!(seen[1].query.as_deref(), Some("item=966&sort=price_desc"));
    assert!(
        seen.iter()
            .all(|s| s.user_agent.as_deref() == Some("my-agent/1"))
    );
    assert_eq!(d.posts().len(), 1);
    assert!(d.posts()[0].path.ends_with("/buy/pricey2/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_marketplace_link_exits_with_a_hint_after_one_request() {
    let d = Race::named("inactive").run().await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr
            .contains("has no link to the secondhand marketplace"),
        "{d:?}"
    );
    assert!(d.stderr.contains("--poll-inactive-marketplace"), "{d:?}");
    assert_eq!(d.sim.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_inactive_marketplace_waits_for_the_link() {
    let d = Race::named("inactive")
        .args(["--poll-inactive-marketplace", "0.05"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let event_gets = d
        .sim
        .seen()
        .iter()
        .filter(|s| s.path == "/rehearsal/")
        .count();
    assert_eq!(
        event_gets, 3,
        "two pages without the link, then the one with it"
    );
    assert!(d.stdout.contains("TICKET IN CART"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_switched_off_while_polling_is_reported() {
    // Listings never come; the organiser switches the marketplace off after a while.
    let mut s = Scenario::named("quiet").unwrap();
    s.faults.insert(
        3,
        Fault::Status {
            code: 404,
            retry_after: None,
        },
    );
    let d = Race::new(s).run().await;
    // A 404 error page without the marketplace's structure: inactive.
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d.stderr.contains("not active any more"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_responses_are_saved_and_ordinary_ones_are_not() {
    let d = Race::named("busy").run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.logged("-503-status503").len(), 1);
    assert_eq!(d.logged("-409-status409").len(), 1);
    assert_eq!(d.logged("-baseline").len(), 1);
    assert_eq!(
        d.logged("-changed").len(),
        1,
        "the page with a banner differs from the baseline"
    );
    assert_eq!(d.logged("-listings").len(), 1);
    assert_eq!(d.logged("-cart-in_cart").len(), 1);
    let saved = std::fs::read_to_string(&d.logged("-changed")[0]).unwrap();
    assert!(saved.contains("Maintenance tonight"));
    assert!(
        !saved.contains("__Host-pretix_session="),
        "cookies are not written into response logs"
    );
    assert_eq!(mode(&d.logged("-changed")[0]), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_empty_pages_are_saved_once_as_the_baseline() {
    let mut s = Scenario::named("quiet").unwrap();
    s.listings_from_poll = 12;
    s.listings = Scenario::named("instant").unwrap().listings;
    let d = Race::new(s).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    // Eleven identical empty polls: one baseline file, no other file for any of them.
    assert_eq!(d.logged("-baseline").len(), 1, "{d:?}");
    let others: Vec<_> = d
        .logged("-200-")
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            !n.contains("-baseline") && !n.contains("-listings") && !n.contains("-cart-")
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_stream_is_retried_once_transparently() {
    let d = Race::named("busy").run().await;
    assert_eq!(d.code, 0, "{d:?}");
    // Poll 3 was dropped by the server: the very next request is the same GET, on a fresh
    // connection, and nothing else went out in between.
    let seen = d.sim.seen();
    let polls: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.path.ends_with("/secondhand/"))
        .collect();
    let (i, dropped) = polls[2];
    assert!(dropped.replied.is_none(), "poll 3 got no answer");
    let retry = &seen[i + 1];
    assert_eq!(
        (
            retry.method.as_str(),
            retry.path.as_str(),
            retry.query.as_deref()
        ),
        (
            dropped.method.as_str(),
            dropped.path.as_str(),
            dropped.query.as_deref()
        )
    );
    assert!(retry.connection > dropped.connection, "a fresh connection");
    assert!(retry.replied.is_some());
    assert!(!d.stderr.contains("network error"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_after_a_few_streams_is_survived_and_logged_at_verbose() {
    let mut s = Scenario::named("standard").unwrap();
    s.max_requests_per_connection = Some(3);
    let d = Race::new(s).args(["-v"]).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        d.stderr.lines().any(|l| l.contains(" debug ")
            && l.contains("the server is closing the connection (HTTP/2 GOAWAY")),
        "{d:?}"
    );
    // The server closed each connection after about three streams (one racing the GOAWAY may
    // still be served); the run moved to new connections without a failed request.
    let seen = d.sim.seen();
    let conns: std::collections::HashSet<_> = seen.iter().map(|s| s.connection).collect();
    assert!(conns.len() >= 2, "{conns:?}");
    assert!(!d.stderr.contains("network error"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_connection_is_opened_in_the_background_and_resumes_tls() {
    let d = Race::named("quiet")
        .args(["--interval", "0", "-v"])
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            for _ = 1, 1000 do
              assert(race.session:poll(url))
            end
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();
    let polls: Vec<_> = seen.iter().filter(|s| s.method == "GET").collect();
    let heads: Vec<_> = seen.iter().filter(|s| s.method == "HEAD").collect();
    assert_eq!(polls.len(), 1000);
    assert_eq!(heads.len(), 1, "one request opens the next connection");
    assert_eq!(d.sim.connections(), 2);
    // Opened a few polls before the reconnect mark, on the new connection, as its first request.
    let head = heads[0];
    assert_eq!(head.connection, 2);
    let before = polls.iter().filter(|p| p.at < head.at).count();
    assert!((940..950).contains(&before), "warmed after {before} polls");
    // The first poll on the new connection went out once it was up: no poll waited for its
    // handshake. The old one served at least 950 requests, and not many more.
    let first_on_new = polls.iter().find(|p| p.connection == 2).unwrap();
    assert!(head.replied.unwrap() <= first_on_new.at);
    let on_old = polls.iter().filter(|p| p.connection == 1).count();
    assert!((950..=980).contains(&on_old), "{on_old} polls on the first");
    assert!(polls.iter().skip(on_old).all(|p| p.connection == 2));
    // The new connection resumed the first one's TLS session (the clients share a TLS set-up).
    assert!(!d.sim.tls_resumed(1));
    assert!(d.sim.tls_resumed(2), "TLS resumed on the new connection");
    assert!(
        d.stderr
            .contains("moving to the connection opened in the background"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_follows_the_cart_with_the_documented_payload() {
    let hook = Hook::start().await;
    let d = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let got = hook.received();
    assert_eq!(got.len(), 1, "{d:?}");
    let (at, body) = &got[0];
    let post = &d.posts()[0];
    assert!(*at > post.at, "the alert goes out after the cart POST");
    let keys: HashSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "version",
            "expires",
            "timestamp",
            "target",
            "event",
            "ticket",
            "price",
            "checkout_url",
            "cookies",
            "cookie_script",
            "event_url"
        ])
    );
    assert_eq!(body["event"], "ticket_in_cart");
    assert_eq!(body["version"], 1);
    assert_eq!(body["ticket"], "Ticket – Type A");
    assert_eq!(body["price"], "190.00 EUR");
    assert!(
        body["checkout_url"]
            .as_str()
            .unwrap()
            .ends_with("/rehearsal/checkout/questions/")
    );
    assert!(
        body["target"]
            .as_str()
            .unwrap()
            .ends_with("/rehearsal/secondhand/")
    );
    assert_eq!(body["cookies"].as_array().unwrap().len(), 3);
    assert!(
        body["cookie_script"]
            .as_str()
            .unwrap()
            .contains("cookieStore.set")
    );
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_logged_not_fatal() {
    let hook = Hook::answering(&[500, 500, 500]).await;
    let d = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("answered HTTP 500"), "{d:?}");
    assert!(d.stdout.contains("TICKET IN CART"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_never_posts_and_announces_each_listing_once() {
    let hook = Hook::start().await;
    let mut r = Race::named("instant")
        .args(["--dry-run", "--webhook", hook.url.as_str()])
        .spawn()
        .await;
    r.wait_for(
        "dry run: would try Ticket – Type A",
        Duration::from_secs(20),
    )
    .await;
    // Let it poll a few more times over the same listing.
    for _ in 0..3 {
        r.wait_for("1 listing (0 new)", Duration::from_secs(20))
            .await;
    }
    // Saves still under way are flushed before the process exits: count them after it.
    let d = r.signal("INT").await;
    assert_eq!(d.code, 130, "{d:?}");
    assert_eq!(
        d.logged("-listings").len(),
        1,
        "the same listing page is saved once"
    );
    assert!(
        d.sim.seen().iter().all(|s| s.method == "GET"),
        "no POST in a dry run"
    );
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "tickets_available");
    assert_eq!(bodies[0]["version"], 1);
    assert_eq!(bodies[0]["listings"][0]["title"], "Ticket – Type A");
    assert_eq!(bodies[0]["listings"][0]["price"], "190.00 EUR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn german_marketplace_works_the_same() {
    let mut s = Scenario::named("standard").unwrap();
    s.locale = "de-informal".into();
    let d = Race::new(s).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("IN CART: Ticket – Type B"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearse_is_the_readme_first_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = bare(
        &["rehearse", "--headless", "--interval", "0.05"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("=== TICKET IN CART ==="), "{out}");
    assert!(err.contains("rehearsal: simulated marketplace"), "{err}");
    // Its files went to a fresh folder of their own, named at the end; none to where it ran.
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written to the current folder"
    );
    let files_dir = err
        .lines()
        .find_map(|l| l.split("rehearsal files: ").nth(1))
        .expect("the folder is printed");
    let files: Vec<_> = std::fs::read_dir(files_dir).unwrap().collect();
    assert!(files.len() >= 2, "{files:?}");
    let _ = std::fs::remove_dir_all(files_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_log_dir_stops_before_the_first_request() {
    // Nothing can be created under /proc, not even by root.
    let d = Race::named("instant")
        .args(["--log-dir", "/proc/pretix-race-test"])
        .run()
        .await;
    assert_eq!(d.code, 2, "{d:?}");
    assert!(
        d.stderr.contains("--log-dir /proc/pretix-race-test"),
        "{d:?}"
    );
    assert!(
        d.stderr.contains("the cart's cookie files go there"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "no request: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_decisions_without_lua_price_title_count_and_deadline() {
    // --max-price and --match: of twelve listings, only the child ticket (25.50) passes both.
    let d = Race::named("many")
        .args([
            "--max-price",
            "30",
            "--match",
            "CHILD",
            "--match",
            "nothing-like-this",
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let posts = d.posts();
    assert_eq!(posts.len(), 1, "{d:?}");
    assert!(d.stderr.contains("IN CART: Child Ticket"), "{d:?}");
    // --want 2: both tickets in one cart, handed over once.
    let d = Race::named("pair").args(["--want", "2"]).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.posts().len(), 2, "{d:?}");
    assert_eq!(d.stdout.matches("=== TICKET IN CART").count(), 1, "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()).len(), 2, "{d:?}");
    // --until: nothing secured in time ends with its own code and says so.
    let d = Race::named("quiet").args(["--until", "1s"]).run().await;
    assert_eq!(d.code, 4, "{d:?}");
    assert!(
        d.stderr.contains("--until: nothing was secured in time"),
        "{d:?}"
    );
    // The same flags for the shop: nothing under 10 EUR there.
    let d = Race::named("shop")
        .args([
            "--strategy",
            "shop",
            "--item",
            "7",
            "--max-price",
            "10",
            "--until",
            "1s",
        ])
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    assert!(d.posts().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnect_never_falls_between_a_poll_and_its_cart_posts() {
    let mut s = Scenario::named("pair").unwrap();
    s.listings_from_poll = 949;
    let d = Race::new(s)
        .args(["--interval", "0"])
        .script(
            r#"
            local race = require("race")
            local s = race.session
            local url = race.options.event_url .. "secondhand/"
            local page
            for _ = 1, 949 do page = assert(s:poll(url)) end
            assert(#page.listings == 2, #page.listings)
            -- Requests 950 and 951: past the reconnect mark, but actions: no new connection.
            for _, l in ipairs(page.listings) do
              assert(assert(s:add_to_cart(l)).status == "in_cart")
            end
            for _ = 1, 40 do assert(s:poll(url)) end
            s:handoff(page.listings[1].page_url, { headless = true })
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();
    let posts: Vec<_> = seen.iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts.iter().all(|p| p.connection == 1),
        "cart POSTs on the warm connection"
    );
    // The replacement was opened (in the background, one HEAD) before them; polls moved to it
    // only after the cart POSTs and their redirects.
    let head = seen.iter().find(|s| s.method == "HEAD").unwrap();
    assert_eq!(head.connection, 2);
    assert!(head.at < posts[0].at);
    let first_get_on_new = seen
        .iter()
        .find(|s| s.connection == 2 && s.method == "GET")
        .unwrap();
    assert!(first_get_on_new.path.ends_with("/secondhand/"));
    assert!(first_get_on_new.at > posts[1].replied.unwrap());
    assert_eq!(d.sim.connections(), 2);
}
