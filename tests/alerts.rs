//! Alerts: iMessage through a stand-in osascript, webhook events and retries, desktop skipping,
//! `alert-test`, and the rule that no alert precedes the cart POST.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use pretix_race::sim::{Fault, Scenario};

use crate::support::{
    Race, bare, bare_env, fake_osascript, hook::Hook, osascript_calls, path_with,
};

const HOSTILE: [&str; 5] = [
    r#"" & do shell script "touch /tmp/pwned" & ""#,
    "back\\slash \\\" and 'single' quotes",
    "two\nlines\r\nand a tab\t",
    "-e",
    "+49 (170) 123-4567",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_recipients_and_messages_arrive_verbatim_as_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, rec) = fake_osascript(tmp.path());
    let lua_list = HOSTILE
        .iter()
        .map(|h| format!("{h:?}").replace("\\'", "'"))
        .collect::<Vec<_>>()
        .join(", ");
    // The recipient is the person's own (--imessage), hostile as it may be; a strategy can send
    // it anything, and no one else.
    let to = HOSTILE[0];
    let d = Race::named("quiet")
        .env("PATH", &path_with(&bin))
        .args(["--imessage", to])
        .script(&format!(
            r#"
            local race = require("race")
            local hostile = {{ {lua_list} }}
            assert(race.session:get(race.options.event_url))
            for _, msg in ipairs(hostile) do
              assert(race.alert.imessage({to:?}, msg))
            end
            local ok, err = race.alert.imessage("+4917012345", "the session, stolen")
            assert(ok == nil and err.kind == "imessage", "another recipient is refused")
            assert(err.message:find("only the recipient given with --imessage", 1, true), err.message)
            "#
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let calls = osascript_calls(&rec);
    assert_eq!(calls.len(), HOSTILE.len(), "{d:?}");
    let got: HashSet<Vec<String>> = calls.iter().map(|(_, a, _)| a.clone()).collect();
    for msg in HOSTILE {
        assert!(
            got.contains(&vec!["-".to_string(), to.to_string(), msg.to_string()]),
            "{to:?} / {msg:?} in {got:?}"
        );
    }
    for (_, _, script) in &calls {
        assert_eq!(script, pretix_race::core::notify::imessage::SCRIPT);
        for h in HOSTILE {
            assert!(
                !script.contains(h),
                "the script text never holds a recipient or message"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cart_imessage_goes_out_once_after_the_cart_post() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, rec) = fake_osascript(tmp.path());
    let d = Race::named("standard")
        .env("PATH", &path_with(&bin))
        .args(["--imessage", "me@example.com"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let calls = osascript_calls(&rec);
    assert_eq!(calls.len(), 1, "once per run: {d:?}");
    let (at, args, _) = &calls[0];
    assert_eq!(args[0], "-");
    assert_eq!(args[1], "me@example.com");
    assert!(
        args[2].contains("/rehearsal/checkout/questions/"),
        "{args:?}"
    );
    assert!(args[2].contains("Ticket – Type B"), "{args:?}");
    let won = d.posts().last().unwrap().wall;
    let won_ns = won.duration_since(UNIX_EPOCH).unwrap().as_nanos();
    assert!(
        *at > won_ns,
        "the iMessage went out after the winning cart POST"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imessage_without_osascript_is_refused_before_any_request() {
    let empty = tempfile::tempdir().unwrap();
    let d = Race::named("instant")
        .env("PATH", empty.path().to_str().unwrap())
        .args(["--imessage", "+491701234567"])
        .run()
        .await;
    assert_eq!(d.code, 2, "{d:?}");
    assert!(
        d.stderr.contains("--imessage needs osascript (macOS)"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_transient_failures() {
    let hook = Hook::answering(&[500, 503]).await;
    let d = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(hook.received().len(), 3);
    assert!(d.stderr.contains("delivered (HTTP 200, try 3)"), "{d:?}");

    let hook = Hook::answering(&[400]).await;
    let d = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(hook.received().len(), 1, "a 400 is not retried");
    assert!(d.stderr.contains("answered HTTP 400"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_available_is_announced_when_it_opens() {
    let hook = Hook::start().await;
    let d = Race::named("inactive")
        .args([
            "--poll-inactive-marketplace",
            "0.05",
            "--webhook",
            hook.url.as_str(),
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let bodies = hook.bodies();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["marketplace_available", "ticket_in_cart"],
        "{bodies:?}"
    );
    let m = &bodies[0];
    assert_eq!(m["version"], 1);
    assert!(
        m["target"]
            .as_str()
            .unwrap()
            .ends_with("/rehearsal/secondhand/")
    );
    assert!(m["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_failing_is_sent_once_per_failing_streak() {
    let mut s = Scenario::named("quiet").unwrap();
    let busy = || Fault::Status {
        code: 503,
        retry_after: Some("0".into()),
    };
    for n in (1..=6).chain(9..=13) {
        s.faults.insert(n, busy());
    }
    let hook = Hook::start().await;
    let mut r = Race::new(s)
        .args(["--webhook", hook.url.as_str()])
        .spawn()
        .await;
    // Two streaks of failures with successes between them, then quiet polling.
    for _ in 0..4 {
        r.wait_for("| empty", Duration::from_secs(30)).await;
    }
    // Alerts still being delivered are drained before the process exits.
    let (code, stderr, _) = r.interrupt().await;
    assert_eq!(code, 130, "{stderr}");
    let failing: Vec<_> = hook
        .bodies()
        .into_iter()
        .filter(|b| b["event"] == "watcher_failing")
        .collect();
    assert_eq!(failing.len(), 2, "{failing:?}\n{stderr}");
    assert_eq!(failing[0]["failures"], 5);
    assert_eq!(failing[0]["last_error"], "HTTP 503");
    assert_eq!(failing[0]["version"], 1);
    assert!(
        failing[0]["target"]
            .as_str()
            .unwrap()
            .contains("/rehearsal/secondhand/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_notifications_are_skipped_quietly_without_a_service() {
    let d = Race::named("instant")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .arg("-v")
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let line = d
        .stderr
        .lines()
        .find(|l| l.contains("desktop notification skipped"))
        .expect("a debug line");
    assert!(line.contains(" debug "), "{line}");
    assert!(!d.stderr.contains("warn  desktop"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_reports_each_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, rec) = fake_osascript(tmp.path());
    let hook = Hook::start().await;
    let path = path_with(&bin);
    let (code, out, err) = bare_env(
        &[
            "alert-test",
            "--imessage",
            "+491701234567",
            "--webhook",
            &hook.url,
            "--desktop",
        ],
        tmp.path(),
        &[
            ("PATH", path.as_str()),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
        ],
    )
    .await;
    assert_eq!(code, 1, "the desktop channel fails here: {out}\n{err}");
    assert!(
        out.contains("imessage  delivered: sent to +491701234567"),
        "{out}"
    );
    assert!(
        out.contains(&format!("webhook   delivered: HTTP 200 from {}", hook.url)),
        "{out}"
    );
    assert!(
        out.contains("desktop   FAILED: no desktop notification: "),
        "{out}"
    );
    assert_eq!(osascript_calls(&rec).len(), 1);
    let b = &hook.bodies()[0];
    assert_eq!(
        (b["event"].as_str(), b["version"].as_u64()),
        (Some("test"), Some(1))
    );

    let (code, out, _) = bare_env(&["alert-test", "--webhook", &hook.url], tmp.path(), &[]).await;
    assert_eq!(code, 0, "{out}");

    let (code, _, err) = bare(&["alert-test"], tmp.path()).await;
    assert_eq!(code, 2, "a channel is required: {err}");
    let (code, _, err) = bare(
        &["alert-test", "--webhook", "http://hooks.example.com/x"],
        tmp.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plain http"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_notifications_for_the_cart_and_the_marketplace_opening() {
    let bus = crate::support::notifications::Bus::start().await;
    let mut s = Scenario::named("inactive").unwrap();
    s.listings[0].title = "<b>VIP</b> & <a href='x'>more</a>".into();
    let d = Race::new(s)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .args(["--poll-inactive-marketplace", "0.05"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let seen = bus.seen();
    assert_eq!(seen.len(), 2, "{seen:?}\n{d:?}");
    let (app, summary, body) = &seen[0];
    assert_eq!(
        (app.as_str(), summary.as_str()),
        ("pretix-race", "Marketplace is open")
    );
    assert!(body.contains("/rehearsal/secondhand/"), "{body}");
    let (_, summary, body) = &seen[1];
    assert_eq!(summary, "Ticket in your cart");
    // Markup in a ticket title is shown as text, never interpreted.
    assert!(
        body.starts_with("&lt;b&gt;VIP&lt;/b&gt; &amp; &lt;a href='x'&gt;more&lt;/a&gt; 190.00 EUR: finish checkout"),
        "{body}"
    );
    assert!(body.contains("Reserved until 20"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_shows_a_desktop_notification() {
    let bus = crate::support::notifications::Bus::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = bare_env(
        &["alert-test", "--desktop"],
        dir.path(),
        &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("desktop   delivered: shown"), "{out}");
    assert_eq!(bus.seen()[0].1, "pretix-race alert test");
}
