//! What the watch is pointed at, as a user names it: the same event named twice (flags or a
//! strategy's `targets`) is a mistake said before the first request, not a watch at twice the
//! rate; a rehearsal says why a file's own targets are set aside; an error inside `run` is the
//! run's, not the file's top level.

use crate::support::{Race, bare};

/// `rehearse --scenario instant --script mine.lua` with `mine.lua` holding `script`, in a fresh
/// folder: (exit code, stdout, stderr).
async fn rehearse_file(script: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.lua"), script).unwrap();
    bare(
        &[
            "rehearse",
            "--scenario",
            "instant",
            "--script",
            "mine.lua",
            "--headless",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await
}

#[tokio::test]
async fn the_same_event_twice_on_the_command_line_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &[
            "--url",
            "https://tickets.example.com",
            "--event",
            "day1",
            "--event",
            "day2",
            "--event",
            "day1",
            "--headless",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--event day1 is given twice"), "{err}");
    assert!(err.contains("name each event once"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_target_twice_in_a_strategy_file_is_an_error_at_its_line() {
    let d = Race::named("quiet")
        .own_targets()
        .script(
            "local strategy = require(\"race.default\")\nstrategy.targets = {\n  { url = \"{BASE}\", event = \"rehearsal\" },\n  { url = \"{BASE}\", event = \"rehearsal\" },\n}\nreturn strategy\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr.contains("strategy.lua:4: the strategy's targets: targets[2] repeats targets[1] (https://127.0.0.1:"),
        "{d:?}"
    );
    assert!(
        d.stderr.contains("/rehearsal/): name each target once"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "no request: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_says_why_a_files_own_targets_are_set_aside() {
    // `rehearse --script` with a file naming a real shop: no --url was given, so the message
    // must not blame one.
    let (code, out, err) = rehearse_file(
        "local strategy = require(\"race.default\")\nstrategy.targets = { { url = \"https://tickets.example.com\", event = \"day1\" } }\nreturn strategy\n",
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("a rehearsal watches the simulated shop: the strategy's `targets` (real shops) are not used"),
        "{err}"
    );
    assert!(!err.contains("--url/--event name the targets"), "{err}");
    assert!(out.contains("=== TICKET IN CART"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_inside_run_before_any_request_is_the_runs_not_the_top_levels() {
    let d = Race::named("quiet")
        .script("local s = {}\nfunction s.run()\n  error(\"bo\" .. \"om\")\nend\nreturn s\n")
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("strategy.lua:3: boom"), "{d:?}");
    assert!(d.stderr.contains("the strategy raised an error"), "{d:?}");
    assert!(!d.stderr.contains("top level ran"), "{d:?}");
    // And one at the top level still says so.
    let d = Race::named("quiet")
        .script("local s = {}\nerror(\"bo\" .. \"om\")\nreturn s\n")
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("top level ran"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_still_checks_the_targets_it_sets_aside() {
    // A mistake in a file's targets must not wait for the day they are used.
    let (code, out, err) = rehearse_file(
        "local strategy = require(\"race.default\")\nstrategy.targets = {\n  { url = \"https://tickets.example.com\", event = \"day1\" },\n  { url = \"https://tickets.example.com\", event = \"day1\" },\n}\nreturn strategy\n",
    )
    .await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains("mine.lua:4: the strategy's targets: targets[2] repeats targets[1] (https://tickets.example.com/day1/): name each target once"),
        "{err}"
    );
}
