//! One connection per shop, not per session: sessions (cookie jars) of one origin share its
//! connection, each request carrying its own session's cookies; a server closing the connection,
//! or the reconnect before ~1000 streams, moves them all.

use std::collections::{HashMap, HashSet};

use pretix_race::sim::Scenario;

use crate::support::Race;

/// The `__Host-pretix_session` values printed in the hand-over blocks, in order.
fn handed_sessions(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("__Host-pretix_session="))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_share_one_connection_and_hold_two_carts() {
    let d = Race::named("pair")
        .args(["--interval", "0"])
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            local a, b = race.session, race.new_session()
            local pa, pb
            repeat
              pa, pb = assert(a:poll(url)), assert(b:poll(url))
            until #pa.listings == 2 and #pb.listings == 2
            -- Each session takes its own listing from its own page (its own CSRF token).
            local ra = assert(a:add_to_cart(pa.listings[1]))
            local rb = assert(b:add_to_cart(pb.listings[2]))
            assert(ra.status == "in_cart", ra.status)
            assert(rb.status == "in_cart", rb.status)
            a:handoff(ra.checkout_url, { headless = true })
            b:handoff(rb.checkout_url, { headless = true })
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.sim.connections(), 1, "both sessions on one connection");
    // Each request carried one session's cookie, and the two sessions stayed apart.
    let seen = d.sim.seen();
    let sessions: HashSet<_> = seen
        .iter()
        .filter_map(|s| s.cookie("__Host-pretix_session"))
        .collect();
    assert_eq!(sessions.len(), 2, "two sessions: {sessions:?}");
    let posts: Vec<_> = seen.iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts.len(), 2);
    let post_sessions: HashSet<_> = posts
        .iter()
        .map(|p| p.cookie("__Host-pretix_session").expect("a session cookie"))
        .collect();
    assert_eq!(
        post_sessions.len(),
        2,
        "each cart POST with its own session"
    );
    // Two carts, each handed over with its own session cookie.
    let handed = handed_sessions(&d.stdout);
    assert_eq!(handed.len(), 2, "{d:?}");
    assert_ne!(handed[0], handed[1]);
    for s in &handed {
        assert_eq!(d.sim.cart_of(s).len(), 1, "the cart of {s}");
    }
    let paths: HashSet<_> = posts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths.len(), 2, "two different listings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_closing_the_connection_moves_every_session() {
    let mut s = Scenario::named("quiet").unwrap();
    s.max_requests_per_connection = Some(4);
    let d = Race::new(s)
        .args(["--interval", "0"])
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            local function watch(session)
              for _ = 1, 8 do assert(session:poll(url)) end
              return true
            end
            local tasks = {}
            for i = 1, 3 do
              tasks[i] = race.spawn(watch, i == 1 and race.session or race.new_session())
            end
            race.join(table.unpack(tasks))
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!d.stderr.contains("network error"), "{d:?}");
    let seen = d.sim.seen();
    let polls: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .collect();
    assert_eq!(polls.len(), 24);
    // The replacement connections carried more than one session each: the sessions moved
    // together (a connection per session would carry one session's requests only).
    let mut on: HashMap<usize, HashSet<&str>> = HashMap::new();
    for p in &polls {
        if let Some(c) = p.cookie("__Host-pretix_session") {
            on.entry(p.connection).or_default().insert(c);
        }
    }
    assert!(on.len() >= 3, "{on:?}");
    let shared = on.iter().filter(|(c, s)| **c > 1 && s.len() >= 2).count();
    assert!(
        shared * 2 >= on.len() - 1,
        "sessions shared the replacement connections: {on:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnect_counts_the_connections_requests_not_a_sessions() {
    let d = Race::named("quiet")
        .args(["--interval", "0"])
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            local a, b = race.session, race.new_session()
            for _ = 1, 500 do
              assert(a:poll(url))
              assert(b:poll(url))
            end
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = d.sim.seen();
    // 500 polls each, 1000 on the shop's connection: it was replaced once, as for one session.
    assert_eq!(seen.iter().filter(|s| s.method == "GET").count(), 1000);
    assert_eq!(seen.iter().filter(|s| s.method == "HEAD").count(), 1);
    assert_eq!(d.sim.connections(), 2);
    let on_old = seen.iter().filter(|s| s.connection == 1).count();
    assert!(
        (950..=980).contains(&on_old),
        "{on_old} requests on the first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_start_together_open_one_connection() {
    // Several events start at once: their first requests leave together, before any connection
    // is up. One opens the connection; the others wait for it and share it.
    let d = Race::named("quiet")
        .args(["--interval", "0"])
        .script(
            r#"
            local race = require("race")
            local url = race.options.event_url .. "secondhand/"
            local function watch(session)
              for _ = 1, 3 do assert(session:poll(url)) end
              return true
            end
            local tasks = {}
            for i = 1, 8 do
              tasks[i] = race.spawn(watch, i == 1 and race.session or race.new_session())
            end
            race.join(table.unpack(tasks))
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let polls = d
        .sim
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/secondhand/"))
        .count();
    assert_eq!(polls, 24);
    assert_eq!(d.sim.connections(), 1);
}
