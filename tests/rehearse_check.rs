//! Rehearse and check end, and say why (issue 18, part C): a rehearsal's time limit with a reason
//! built from what happened, `--until` enforced by the core, `check` reading each rehearsal's
//! structured result, and shop strategies rehearsed and checked as marketplace ones are.

use std::time::Duration;

use crate::support::{BIN, Race};

/// The binary with these arguments, ended within 60 s (a rehearsal or check that never ends
/// fails the test, and is killed: it must not outlive it).
async fn within(args: &[&str], cwd: &std::path::Path) -> (i32, String, String) {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("SSL_CERT_FILE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("it ends within 60 s")
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PICKS_NOTHING: &str = "local s = require(\"race.default\")\nfunction s.choose(listings)\n  return {}\nend\nreturn s\n";

/// The last line of stderr that contains `what`, from `what` on.
fn from<'a>(err: &'a str, what: &str) -> &'a str {
    let l = err
        .lines()
        .rev()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} in:\n{err}"));
    &l[l.find(what).unwrap()..]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_that_picks_nothing_ends_at_its_time_limit_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("none.lua"), PICKS_NOTHING).unwrap();
    let (code, _, err) = within(
        &[
            "rehearse",
            "--scenario",
            "instant",
            "--script",
            "none.lua",
            "--headless",
            "--time-limit",
            "2",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 4, "{err}");
    let said = from(&err, "nothing was secured");
    assert!(
        said.starts_with("nothing was secured in 2 s; choose picked nothing from 1 listing (")
            && said.ends_with(" polls)"),
        "{said}"
    );
    assert_eq!(
        from(&err, "help:"),
        "help: rehearse longer with --time-limit SECS, or look at what your strategy picks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_ends_a_strategy_that_never_returns() {
    // A loop of its own, with no timer: the core ends it at --until.
    let d = Race::named("quiet")
        .args(["--until", "1s"])
        .script(
            r#"local race = require("race")
local url = race.options.event_url .. "secondhand/"
while true do
  race.session:poll(url)
  race.time.sleep(0.05)
end
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    let said = from(&d.stderr, "--until:");
    assert!(
        said.starts_with("--until: nothing was secured in time; nothing could be added (")
            && said.ends_with(" polls, no listing or wanted product appeared)"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_why_each_scenario_failed_and_never_names_an_until() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("none.lua"), PICKS_NOTHING).unwrap();
    let (code, out, err) = within(
        &["check", "--script", "none.lua", "--timeout", "1"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!out.contains("--until"), "{out}");
    let instant = out
        .lines()
        .find(|l| l.starts_with("instant "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(instant.contains(" FAIL   nothing in time "), "{instant}");
    assert!(
        instant.contains("  nothing was secured in 1 s; choose picked nothing from 1 listing ("),
        "{instant}"
    );
    // One listing instead of a list fails every scenario, with the fix.
    std::fs::write(
        dir.path().join("single.lua"),
        "local s = require(\"race.default\")\nfunction s.choose(listings)\n  return listings[1]\nend\nreturn s\n",
    )
    .unwrap();
    let (code, out, err) = within(
        &["check", "--script", "single.lua", "--timeout", "5"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    let instant = out
        .lines()
        .find(|l| l.starts_with("instant "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        instant.ends_with("  script error in single.lua:3: decision `choose` failed: choose returned a single listing: wrap it in { } (return { listing }); it must return a list (table) of listings to try, in order"),
        "{instant}"
    );
}

const MY_SHOP: &str = "local s = require(\"race.shop_strategy\")\nlocal built_in = s.choose\nfunction s.choose(products, page, opts)\n  return built_in(products, page, opts)\nend\nreturn s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_strategy_of_ones_own_rehearses_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("myshop.lua"), MY_SHOP).unwrap();
    let (code, out, err) = within(&["rehearse", "--help"], dir.path()).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shop (the main shop"), "{out}");
    let (code, out, err) = within(
        &[
            "rehearse",
            "--strategy",
            "shop",
            "--script",
            "myshop.lua",
            "--headless",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("=== TICKET IN CART"), "{out}");
    assert!(err.contains("simulated shop (shop scenario)"), "{err}");
    let (code, out, err) = within(
        &["check", "--strategy", "shop", "--script", "myshop.lua"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("shop --strategy shop"), "{out}");
    assert!(out.contains("all 3 scenarios secured a cart"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_a_misspelled_decision_and_a_choose_that_never_returns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.lua"),
        "local s = require(\"race.default\")\nfunction s.chose(listings)\n  return listings\nend\nreturn s\n",
    )
    .unwrap();
    let (code, out, err) = within(&["check", "--script", "typo.lua"], dir.path()).await;
    assert_eq!(code, 1, "{out}\n{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert_eq!(rows.len(), 10, "{out}");
    assert!(
        rows.iter().all(|r| r.ends_with(
            "  script error in typo.lua:2: unknown decision `chose`: did you mean `choose`?"
        )),
        "{out}"
    );
    std::fs::write(
        dir.path().join("loops.lua"),
        "local s = require(\"race.default\")\nfunction s.choose(listings)\n  while true do end\nend\nreturn s\n",
    )
    .unwrap();
    let (code, out, err) = within(&["check", "--script", "loops.lua"], dir.path()).await;
    assert_eq!(code, 1, "{out}\n{err}");
    let instant = out
        .lines()
        .find(|l| l.starts_with("instant "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        instant.ends_with("  script error in loops.lua:2: decision `choose` (defined here) failed: choose took longer than 1 s (cut off at loops.lua:3); it must return a list (table) of listings to try, in order"),
        "{instant}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_script_is_stopped_at_the_rehearsals_time_limit_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("loop.lua"),
        "local race = require(\"race\")\nrace.session:discover()\nwhile true do local x = 1 end\n",
    )
    .unwrap();
    let (code, _, err) = within(
        &[
            "rehearse",
            "--scenario",
            "instant",
            "--script",
            "loop.lua",
            "--headless",
            "--time-limit",
            "1",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 3, "{err}");
    let said = from(&err, "loop.lua:3: ");
    assert!(
        said.starts_with(
            "loop.lua:3: runaway script: it computed for 1 s without waiting on the race API"
        ),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_script_is_rehearsed_and_checked_as_one_without_strategy_shop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("myshop.lua"), MY_SHOP).unwrap();
    let said = "the script is built on race.shop_strategy: rehearsing it against the shop's scenarios (as with --strategy shop)";
    let (code, out, err) = within(
        &[
            "rehearse",
            "--script",
            "myshop.lua",
            "--headless",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("=== TICKET IN CART"), "{out}");
    assert!(err.contains(said), "{err}");
    assert!(err.contains("simulated shop (shop scenario)"), "{err}");
    let (code, out, err) = within(&["check", "--script", "myshop.lua"], dir.path()).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with(said), "{out}");
    assert!(out.contains("all 3 scenarios secured a cart"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_script_under_strategy_shop_is_said_to_be_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.lua"),
        "return require(\"race.default\")\n",
    )
    .unwrap();
    let (code, _, err) = within(
        &[
            "rehearse",
            "--strategy",
            "shop",
            "--script",
            "m.lua",
            "--headless",
            "--time-limit",
            "5",
            "--log-dir",
            "l",
        ],
        dir.path(),
    )
    .await;
    assert!(
        err.contains("× this script is a marketplace strategy (built on race.default), but --strategy shop was given, and the event page lists products, no marketplace\n"),
        "{err}"
    );
    assert!(
        err.contains("help: drop --strategy shop to watch a marketplace, or build the script on race.shop_strategy to add the shop's products\n"),
        "{err}"
    );
    assert!(!err.contains("run with --strategy shop --item"), "{err}");
    assert_eq!(code, 1, "{err}");
}
