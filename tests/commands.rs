//! The tool's own commands besides a run: completions, the man page, and `check`.

use crate::support::bare;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_the_man_page_come_from_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _pretix__race"),
        ("zsh", "#compdef pretix-race"),
        ("fish", "complete -c pretix-race"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, out, err) = bare(&["completions", shell], dir.path()).await;
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(out.contains("max-price"), "{shell}: every flag is there");
    }
    let (code, out, err) = bare(&["man"], dir.path()).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(".ie") || out.contains(".TH pretix-race"),
        "{out}"
    );
    assert!(out.contains("poll\\-inactive\\-marketplace"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_rehearses_a_strategy_against_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = bare(&["check"], dir.path()).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains("cart secured")).collect();
    assert_eq!(rows.len(), 10, "{out}");
    assert!(out.contains("all 10 scenarios secured a cart"), "{out}");
    // A broken decision fails every scenario, at the user's line (strict).
    std::fs::write(
        dir.path().join("broken.lua"),
        "local race = require('race')\nlocal s = require('race.default')\nfunction s.choose(listings)\n  return listings[1].nope.deeper\nend\nreturn s\n",
    )
    .unwrap();
    let (code, out, err) = bare(&["check", "--script", "broken.lua"], dir.path()).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("FAIL"), "{out}");
    assert!(
        out.contains("broken.lua:4: decision `choose` failed"),
        "{out}"
    );
    assert!(err.contains("10 of 10 scenarios failed"), "{err}");
    // The shop strategy has its own scenario.
    let (code, out, err) = bare(&["check", "--strategy", "shop"], dir.path()).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("shop --strategy shop"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let d = crate::support::Race::named("standard")
        .args(["--log-format", "json"])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    let mut requests = 0;
    for line in d.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["ts"].is_string() && v["level"].is_string() && v["msg"].is_string(),
            "{line}"
        );
        if v.get("req").is_some() {
            requests += 1;
            assert!(
                v["status"].is_u64() && v["ttfb_ms"].is_number() && v["result"].is_string(),
                "{line}"
            );
        }
    }
    assert!(requests >= 6, "{}", d.stderr);
    // The hand-over block on stdout is unchanged.
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    // And a failure is a JSON line too.
    let d = crate::support::Race::named("quiet")
        .args(["--log-format", "json", "--until", "0.5s"])
        .run()
        .await;
    assert_eq!(d.code, 4, "{d:?}");
    let last: serde_json::Value = serde_json::from_str(d.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["exit_code"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_one_status_line_updates_in_place() {
    // `script` gives the run a real terminal (a pty), as a person's shell would.
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} rehearse --headless --interval 0.5 --log-dir {}",
        crate::support::BIN,
        dir.path().join("l").display()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // It is redrawn (every half second) with what it shows at that moment; which moments a
    // redraw catches depends on the machine's load, so only its shape is checked here (the
    // line's content, backoff countdown included, is a unit test of Stats::status_line).
    assert!(
        text.matches("\x1b[2Kwatching 1 event · ").count() >= 2,
        "{text}"
    );
    assert!(text.contains(" polls · last "), "{text}");
    // Events that matter scroll above it; routine empty polls are in the line, not the log.
    assert!(text.contains("lost the race for Ticket – Type A"), "{text}");
    assert!(!text.contains("| empty"), "{text}");
    assert!(text.contains("=== TICKET IN CART ==="), "{text}");
}
