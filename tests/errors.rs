//! Bad flags and broken scripts stop before the first request, naming file and line.

use crate::support::{Race, bare};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_stops_before_any_request() {
    let d = Race::named("instant")
        .script("local race = require('race')\n\nif race.options then\n  print('x'\nend\n")
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("syntax error in"), "{d:?}");
    assert!(d.stderr.contains("strategy.lua:5"), "{d:?}");
    assert!(d.stderr.contains("does not parse"), "{d:?}");
    assert!(d.sim.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_error_stops_before_any_request() {
    let d = Race::named("instant")
        .script("local race = require('race')\nlocal s = require('race.default')\ns.choose = nil + 1\nreturn s\n")
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:3"), "{d:?}");
    assert!(d.stderr.contains("while the file's top level ran"), "{d:?}");
    assert!(d.sim.seen().is_empty());
}

const BROKEN_CHOOSE: &str = "local race = require('race')\nlocal s = require('race.default')\nfunction s.choose(listings)\n  return listings[1].nope.deeper\nend\nreturn s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_decision_is_reported_at_the_users_line_and_the_race_goes_on() {
    // A failed `choose` takes nothing from the page (issue 18: never what the rule forbade).
    let d = Race::named("instant")
        .args(["--until", "2s"])
        .script(BROKEN_CHOOSE)
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    let line = d
        .stderr
        .lines()
        .find(|l| l.contains("decision `choose` failed"))
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(line.contains("strategy.lua:4: "), "{line}");
    // An undocumented field raises where it is read (issue 18 fix c).
    assert!(line.contains("a listing has no field `nope`"), "{line}");
    assert!(line.contains("it must return a list"), "{line}");
    assert!(!line.contains("default.lua"), "{line}");
    assert!(d.posts().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_makes_a_broken_decision_fatal_at_the_users_line() {
    let d = Race::named("instant")
        .arg("--strict")
        .script(BROKEN_CHOOSE)
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:4"), "{d:?}");
    assert!(d.stderr.contains("a listing has no field `nope`"), "{d:?}");
    assert!(!d.stderr.contains("default.lua"), "{d:?}");
    assert!(d.posts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_that_returns_the_wrong_type_is_reported_at_its_return() {
    // `%d` with a fractional price raises; `wait` returns a string; `cart_fields` a number.
    let d = Race::named("standard")
        .script(
            r#"local race = require("race")
local s = require("race.default")
function s.wait(opts)
  return "soon"
end
function s.cart_fields(result, handed)
  return 42
end
local chose = 0
function s.choose(listings)
  chose = chose + 1
  if chose == 1 then
    race.log.info("%d", listings[1].price + 0.5)
  end
  return listings
end
return s
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let find = |what: &str| {
        d.stderr
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?}: {d:?}"))
            .to_string()
    };
    let wait = find("decision `wait` failed");
    assert!(
        wait.contains("strategy.lua:4: ") && wait.contains("the string \"soon\""),
        "{wait}"
    );
    assert!(wait.contains("a number of seconds"), "{wait}");
    let fields = find("decision `cart_fields` failed");
    assert!(fields.contains("strategy.lua:7: "), "{fields}");
    let choose = find("decision `choose` failed");
    assert!(
        choose.contains("strategy.lua:13: ") && choose.contains("integer representation"),
        "{choose}"
    );
    assert!(d.stdout.contains("TICKET IN CART"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misuse_of_the_api_raises_with_the_callers_line() {
    let d = Race::named("instant")
        .script(
            "local race = require('race')\nlocal page = assert(race.session:poll(race.options.event_url .. 'secondhand/'))\nlocal l = page.listings[1]\nl.action = 'https://127.0.0.1/cart/' .. 'add'\nrace.session:add_to_cart(l)\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:5"), "{d:?}");
    assert!(d.stderr.contains("not a marketplace buy URL"), "{d:?}");
    assert!(d.posts().is_empty(), "nothing was POSTed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--sort",
            "cheapest",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cheapest"), "{err}");
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--script",
            "missing.lua",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("missing.lua") && err.contains("--script"),
        "{err}"
    );
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--ca-cert",
            "nope.pem",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope.pem"), "{err}");
    let (code, _, err) = bare(&["rehearse", "--scenario", "mayhem"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("standard, instant"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_things_a_user_trips_over() {
    let dir = tempfile::tempdir().unwrap();
    // A bad --webhook is reported as --webhook.
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--webhook",
            "not a url",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--webhook \"not a url\" is not a URL"),
        "{err}"
    );
    // Durations with units, as the help promises.
    let (code, _, err) = bare(
        &[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--interval",
            "1h30m",
            "--poll-inactive-marketplace",
            "1x",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'1x' is not a duration"), "{err}");
    assert!(!err.contains("--interval"), "1h30m is a duration: {err}");
    // A rehearsal sends nothing off the machine unless asked.
    let (code, _, err) = bare(
        &["rehearse", "--webhook", "https://hooks.example.com/x"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a rehearsal sends nothing off this machine"),
        "{err}"
    );
    assert!(err.contains("--allow-remote-webhook"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ntfy_example_needs_a_topic_of_your_own() {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/examples/ntfy.lua"),
    )
    .unwrap();
    let d = Race::named("instant")
        .env("NTFY_TOPIC", "")
        .script(&script)
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("set NTFY_TOPIC to your own"), "{d:?}");
    assert!(d.sim.seen().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_documents_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = bare(&["--help"], dir.path()).await;
    assert_eq!(code, 0);
    for flag in [
        "--url",
        "--event",
        "--interval",
        "--item",
        "--sort",
        "--dry-run",
        "--headless",
        "--imessage",
        "--webhook",
        "--poll-inactive-marketplace",
        "--script",
        "--ca-cert",
        "--user-agent",
        "--log-dir",
        "rehearse",
        "price_asc",
        "SSL_CERT_FILE",
    ] {
        assert!(out.contains(flag), "{flag} missing from --help:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_is_honoured() {
    // With the simulator's CA in SSL_CERT_FILE (and no --ca-cert) the run succeeds ...
    let sim = pretix_race::sim::Sim::start(pretix_race::sim::Scenario::named("instant").unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let out = tokio::process::Command::new(crate::support::BIN)
        .args([
            "--url",
            sim.base_url().as_str(),
            "--event",
            sim.event(),
            "--interval",
            "0.05",
            "--headless",
        ])
        .env("SSL_CERT_FILE", &ca)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ... and without either, the connection is refused by certificate verification.
    let out = tokio::process::Command::new(crate::support::BIN)
        .args([
            "--url",
            sim.base_url().as_str(),
            "--event",
            sim.event(),
            "--interval",
            "0.05",
        ])
        .env_remove("SSL_CERT_FILE")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(err.contains("--ca-cert"), "the hint names the fix: {err}");
}
