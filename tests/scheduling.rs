//! Honest scheduling on a real host: many events of one remote shop share its budget (one poll
//! per 2 s), fairly, by weight, and the start-up says what that means. The shop is the simulator
//! reached by a non-loopback name (`--resolve`), so the remote rules apply; nothing here measures
//! time: the simulator's record is counted.

use std::time::Duration;

use pretix_race::sim::Scenario;

use crate::support::Race;

fn events(n: u32) -> Scenario {
    let mut s = Scenario::named("quiet").unwrap();
    s.events = n;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_says_how_often_each_event_of_a_busy_shop_is_polled() {
    let mut r = Race::new(events(5))
        .via_name("marketplace.test")
        .args(["--interval", "5"])
        .spawn()
        .await;
    let line = r
        .wait_for("5 events on marketplace.test:", Duration::from_secs(20))
        .await;
    r.interrupt().await;
    assert!(line.contains("each is polled about every 10 s"), "{line}");

    // Weighted: the heavy event gets what its interval asks for, the rest share what is left.
    let mut r = Race::new(events(5))
        .via_name("marketplace.test")
        .weights(&[1, 1, 1, 1, 4])
        .args(["--interval", "5"])
        .spawn()
        .await;
    let line = r
        .wait_for("5 events on marketplace.test:", Duration::from_secs(20))
        .await;
    r.interrupt().await;
    assert!(
        line.contains("rehearsal about every 13 s")
            && line.contains("rehearsal-5 (weight 4) about every 5.0 s"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_weight_is_refused_before_any_request() {
    let d = Race::new(events(2))
        .via_name("marketplace.test")
        .weights(&[1, 0])
        .args(["--interval", "5"])
        .run()
        .await;
    assert_eq!(d.code, 2, "{d:?}");
    assert!(
        d.stderr.contains("is not a whole number from 1 to 1000"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_waiting_for_one_shop_take_turns_by_weight() {
    // Three sessions poll one remote shop as fast as they may (always one poll waiting each);
    // the host gives one poll per 2 s. Counted: the first ten, while all three still wait (the
    // polls sent last drain in whatever order they were left waiting).
    let d = Race::named("quiet")
        .via_name("marketplace.test")
        .args(["--interval", "2"])
        .script(
            r#"
            local race = require("race")
            local sent = 0
            local function watch(i, session, weight)
              session:set_weight(weight)
              local url = race.options.event_url .. "secondhand/?t=" .. i
              while sent < 13 do
                sent = sent + 1
                assert(session:poll(url))
              end
              return true
            end
            local tasks = {}
            for i, weight in ipairs({ 1, 3, 1 }) do
              tasks[i] = race.spawn(watch, i, i == 1 and race.session or race.new_session(), weight)
            end
            race.join(table.unpack(tasks))
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let mut seen = d.sim.seen();
    seen.sort_by_key(|s| s.at);
    seen.truncate(10);
    let count = |t: &str| {
        seen.iter()
            .filter(|s| {
                s.query
                    .as_deref()
                    .is_some_and(|q| q.ends_with(&format!("t={t}")))
            })
            .count()
    };
    let (a, heavy, c) = (count("1"), count("2"), count("3"));
    assert_eq!(a + heavy + c, 10);
    // Weighted round-robin: 2, 6, 2 (one off at the end at most).
    assert!(heavy >= 5, "{a} {heavy} {c}");
    assert!(
        (1..=3).contains(&a) && (1..=3).contains(&c),
        "{a} {heavy} {c}"
    );
    assert!(a.abs_diff(c) <= 1, "{a} {heavy} {c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_that_is_not_a_whole_number_is_misuse() {
    let d = Race::named("quiet")
        .script(
            r#"
            local race = require("race")
            race.session:set_weight(1.5)
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr
            .contains("set_weight: expected a whole number from 1 to 1000, got 1.5"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_files_targets_carry_their_weights() {
    // The weights reach race.options.targets, and the built-in loop gives each session its own.
    let mut two = pretix_race::sim::Scenario::named("quiet").unwrap();
    two.events = 2;
    let d = Race::new(two)
        .own_targets()
        .script(
            r#"
local strategy = require("race.default")
strategy.targets = {
  { url = "{BASE}", event = "rehearsal" },
  { url = "{BASE}", event = "rehearsal-2", weight = 3 },
}
function strategy.watch(opts, session)
  local race = require("race")
  race.log.info("watching with weight %s", tostring(opts.weight))
  assert(session:get(opts.event_url))
  return true
end
return strategy
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("watching with weight 3"), "{d:?}");
    // A weight that is not one is refused at its line, before any request.
    let d = Race::named("quiet")
        .own_targets()
        .script(
            "local strategy = require(\"race.default\")\nstrategy.targets = {\n  { url = \"{BASE}\", event = \"rehearsal\", weight = 0 },\n}\nreturn strategy\n",
        )
        .run()
        .await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stderr
            .contains("targets[1].weight: the weight \"0\" is not a whole number from 1 to 1000"),
        "{d:?}"
    );
    assert!(d.sim.seen().is_empty(), "{d:?}");
}
