//! Bounded reading, from the hostile side: a page built to freeze the HTML tree builder, an
//! answer that stalls or trickles, a script that feeds `race.html` more than it can hold. Each
//! costs a watch a bounded moment and the watch goes on.

use std::time::Duration;

use pretix_race::sim::{Fault, Scenario};

use crate::support::Race;

fn scenario(faults: &[(u32, Fault)], listings_from: u32) -> Scenario {
    let mut s = Scenario::named("instant").unwrap();
    s.listings_from_poll = listings_from;
    for (n, f) in faults {
        s.faults.insert(*n, f.clone());
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5mb_deeply_nested_page_is_unrecognised_said_once_and_a_later_listing_is_secured() {
    // Three different hostile pages (each differs from the last, so none is known by its
    // fingerprint), then the listing.
    let faults: Vec<(u32, Fault)> = (1..=3).map(|n| (n, Fault::Deep)).collect();
    let d = Race::new(scenario(&faults, 4)).run().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert_eq!(d.stderr.matches("unrecognised answer").count(), 3, "{d:?}");
    assert_eq!(
        d.stderr.matches("an answer too big to read").count(),
        1,
        "said once per watch, not per poll: {d:?}"
    );
    // Saved, each cut to 1 MB with a note.
    let saved = d.logged("-unrecognised");
    assert_eq!(saved.len(), 3, "{d:?}");
    for f in saved {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.len() < 1024 * 1024 + 4096, "{}", f.display());
        assert!(
            text.contains("(cut: the first 1048576 of "),
            "{}",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_page_never_freezes_ctrl_c() {
    let faults: Vec<(u32, Fault)> = (1..=10_000).map(|n| (n, Fault::Deep)).collect();
    let r = Race::new(scenario(&faults, u32::MAX)).spawn().await;
    // The first hostile page is out: the run is reading it (or long done with it).
    let served = async {
        loop {
            let deep_out = r
                .sim
                .seen()
                .iter()
                .any(|s| s.path.ends_with("/secondhand/") && s.replied.is_some());
            if deep_out {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("the hostile page is served");
    let d = r.signal("INT").await;
    assert_eq!(d.code, 130, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_trickling_answer_costs_one_bounded_wait_and_the_watch_goes_on() {
    // Headers then nothing; headers then a byte every 100 ms; no headers for 20 s.
    let faults = [
        (1, Fault::Stall),
        (2, Fault::Trickle(100)),
        (3, Fault::Slow(20_000)),
    ];
    let d = Race::new(scenario(&faults, 4))
        .args(["--stall-after", "1"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert_eq!(
        d.stderr.matches("the answer stalled").count(),
        3,
        "each stall is one network error: {d:?}"
    );
    // Not retried at once, and no backoff on top: the next poll is the fresh request.
    let polls = d
        .sim
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/secondhand/"))
        .count();
    assert_eq!(polls, 4, "{d:?}");
    assert!(!d.stderr.contains("waiting 3"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_html_and_json_refuse_what_they_cannot_hold() {
    let d = Race::named("instant")
        .args(["--memory-limit-mb", "32"])
        .script(
            r#"
            local race = require("race")
            local base = "https://a.example/"
            assert(race.session:get(race.options.event_url))
            -- Nested too deep, too large, too many tags: nil, err at once.
            for _, body in ipairs({ string.rep("<div>", 300000), string.rep("x", 3 * 1024 * 1024),
                                    string.rep("<br>", 100001), string.rep("<div></span>", 1000) }) do
              local doc, err = race.html.parse(body, base)
              assert(doc == nil and err.kind == "too_large", tostring(err))
              local forms, ferr = race.html.forms(body, base)
              assert(forms == nil and ferr.kind == "too_large", tostring(ferr))
            end
            -- Documents held until the next one's DOM (~24 MB by the estimate) would not fit
            -- under the cap beside them.
            local held, refused = {}, nil
            for i = 1, 200 do
              local page = "<p>" .. i .. "</p>" .. string.rep("<a>x</a>", 30000)
              local doc, err = race.html.parse(page, base)
              if not doc then refused = err break end
              held[#held + 1] = doc
            end
            assert(refused and refused.kind == "memory", tostring(refused))
            assert(#held > 5, #held)
            -- Let go of them, and there is room again.
            local n = #held
            held = nil
            collectgarbage()
            local doc = assert(race.html.parse("<p>1</p>" .. string.rep("<a>x</a>", 30000), base))
            assert(#doc:select("p") == 1)
            held = { n = n }
            -- JSON whose decoded value would not fit either (2 MB of text: 64 MB by the estimate).
            local big = "[" .. string.rep("0,", 1024 * 1024) .. "0]"
            local v, jerr = race.json.decode(big)
            assert(v == nil and jerr.kind == "memory", tostring(jerr))
            assert(race.json.decode("[1,2]")[2] == 2)
            print("REFUSED after " .. held.n .. ": " .. refused.message)
            return true
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("REFUSED "), "{d:?}");
}
