//! The supervisor, tried from a hostile strategy's side: after a cart is secured, the script holds
//! the engine where no instruction hook reaches (one long C call, a `__gc` finalizer, a replaced
//! `error` under `pcall`). The cart must still be handed over (files, printed session, alert) and
//! the process must end, by itself (runaway) or on a signal.

use std::time::Duration;

use pretix_race::sim::{Fault, Scenario};

use crate::robust::{SECURE_FIRST, assert_cart_handed_over_at_exit};
use crate::support::hook::Hook;
use crate::support::{Done, Race};

/// One catastrophic pattern match: a single C call the instruction hook never sees.
const ONE_LONG_C_CALL: &str = r#"race.log.info("SECURED")
local x = ("a"):rep(2000):find(".-.-.-.-.-b")
"#;

/// A finalizer that never ends (Lua runs finalizers with hooks off), forced by a collection.
const LOOPING_FINALIZER: &str = r#"race.log.info("SECURED")
setmetatable({}, { __gc = function() while true do end end })
collectgarbage()
"#;

/// A script that replaces `error` and loops under `pcall`, so the runaway stop raised inside the
/// pcall would be swallowed if the prelude used the global `error`.
const REPLACED_ERROR: &str = r#"race.log.info("SECURED")
error = function() end
while true do
  pcall(function() while true do end end)
end
"#;

fn assert_alerted(hook: &Hook, d: &Done) {
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "one ticket_in_cart webhook: {d:?}");
    assert_eq!(bodies[0]["event"], "ticket_in_cart", "{d:?}");
    assert_eq!(bodies[0]["handed_over_at_exit"], true, "{d:?}");
}

async fn hostile_after_cart(tail: &str, runaway_after: &str) -> (Hook, crate::support::Running) {
    let hook = Hook::start().await;
    let mut r = Race::named("instant")
        .args([
            "--webhook",
            hook.url.as_str(),
            "--runaway-after",
            runaway_after,
        ])
        .script(&format!("{SECURE_FIRST}{tail}"))
        .spawn()
        .await;
    r.wait_for("SECURED", Duration::from_secs(20)).await;
    (hook, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_long_c_call_after_the_cart_is_stopped_and_the_cart_handed_over() {
    let (hook, r) = hostile_after_cart(ONE_LONG_C_CALL, "1").await;
    let d = r.wait_within(Duration::from_secs(60)).await;
    assert_eq!(d.code, 3, "{d:?}");
    assert!(d.stderr.contains("runaway script"), "{d:?}");
    assert!(d.stderr.contains("handing over without it"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
    assert_alerted(&hook, &d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_looping_finalizer_hands_the_cart_over() {
    let (hook, mut r) =
        hostile_after_cart(&format!("{LOOPING_FINALIZER}race.time.sleep(600)\n"), "300").await;
    // Held by the finalizer: no poll, no sleep. The runaway limit is far away (SIGINT comes
    // first), so it is the signal that must end it.
    r.drain();
    let d = {
        let pid = r.pid();
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill");
        r.wait_within(Duration::from_secs(60)).await
    };
    assert_eq!(d.code, 130, "{d:?}");
    assert!(d.stderr.contains("did not stop within 5 s"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
    assert_alerted(&hook, &d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_error_cannot_swallow_the_runaway_stop() {
    let (hook, r) = hostile_after_cart(REPLACED_ERROR, "1").await;
    let d = r.wait_within(Duration::from_secs(60)).await;
    assert_eq!(d.code, 3, "{d:?}");
    // Stopped by the hook itself, at the script's line, not by the supervisor's backstop.
    assert!(d.stderr.contains("runaway script"), "{d:?}");
    assert!(d.stderr.contains("strategy.lua:"), "{d:?}");
    assert!(!d.stderr.contains("handing over without it"), "{d:?}");
    assert_cart_handed_over_at_exit(&d);
    assert_alerted(&hook, &d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_slow_answer_is_not_computing() {
    // The first answers come 1.5 s late, or trickle in a byte every 4 ms (each byte wakes the
    // waiting script's coroutine for a moment), well past a 1 s runaway limit: waiting on the
    // network is never counted as the script computing.
    let mut s = Scenario::named("instant").unwrap();
    s.listings_from_poll = 3;
    s.faults.insert(1, Fault::Slow(1500));
    s.faults.insert(2, Fault::Trickle(4));
    let d = Race::new(s)
        .args(["--runaway-after", "1"])
        .script(
            r#"
local race = require("race")
local url = race.options.event_url .. "secondhand/"
while true do
  local page = race.session:poll(url)
  local l = page and page.listings and page.listings[1]
  if l then
    local r = race.session:add_to_cart(l)
    if r and r.status == "in_cart" then
      race.session:handoff(r.checkout_url)
      return true
    end
  end
end
"#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!d.stderr.contains("runaway"), "{d:?}");
    assert!(d.stdout.contains("TICKET IN CART"), "{d:?}");
}
