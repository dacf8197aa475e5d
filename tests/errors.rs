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
    assert!(d.stderr.contains("before any request"), "{d:?}");
    assert!(d.sim.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_while_running_names_the_line_in_the_users_file() {
    let d = Race::named("instant")
        .script(
            "local race = require('race')\nlocal s = require('race.default')\nfunction s.choose(listings)\n  return listings[1].nope.deeper\nend\nreturn s\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:4"), "{d:?}");
    assert!(d.stderr.contains("attempt to index"), "{d:?}");
    assert!(d.posts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misuse_of_the_api_raises_with_the_callers_line() {
    let d = Race::named("instant")
        .script(
            "local race = require('race')\n\nrace.market.add_to_cart(race.session, { action = 'https://127.0.0.1/cart/add' })\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:3"), "{d:?}");
    assert!(d.stderr.contains("not a marketplace buy URL"), "{d:?}");
    assert!(d.sim.seen().is_empty(), "nothing was POSTed");
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
    let (code, _, err) = bare(&["rehearse", "--scenario", "chaos"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("standard, instant"), "{err}");
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
    let sim = pretix_race::core::sim::Sim::start(
        pretix_race::core::sim::Scenario::named("instant").unwrap(),
    )
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
