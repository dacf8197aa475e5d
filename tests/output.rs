//! Output that cannot fail: a closed stdout or stderr (a pipe whose reader left, a terminal gone
//! with SIGHUP) never panics and never keeps the cookie files or the alerts from going out.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::robust::KEEP_GOING;
use crate::support::hook::Hook;
use crate::support::{BIN, Done, Race, mode};

fn assert_files_and_alert(d: &Done, hook: &Hook, at_exit: bool) {
    let files = d.logged(".cookies.");
    assert_eq!(files.len(), 2, "exit {}", d.code);
    #[cfg(unix)]
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "exit {}: {bodies:?}", d.code);
    assert_eq!(bodies[0]["event"], "ticket_in_cart");
    assert_eq!(
        bodies[0]["handed_over_at_exit"].as_bool() == Some(true),
        at_exit
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_and_stderr_lose_neither_the_files_nor_the_alert() {
    let hook = Hook::start().await;
    let d = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .outputs_closed()
        .run()
        .await;
    assert_eq!(d.code, 0, "the run's outcome is unchanged");
    assert_files_and_alert(&d, &hook, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_after_the_terminal_went_away_hands_over_and_alerts() {
    let hook = Hook::start().await;
    let r = Race::named("instant")
        .args(["--webhook", hook.url.as_str()])
        .script(KEEP_GOING)
        .outputs_closed()
        .spawn()
        .await;
    // No stderr to read: wait until the simulator has seen the cart POST and a poll after it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = r.sim.seen();
        let post = seen.iter().position(|s| s.method == "POST");
        if post.is_some_and(|p| seen[p + 1..].iter().any(|s| s.path.contains("secondhand"))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no cart and poll after it: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let d = r.signal("HUP").await;
    assert_eq!(d.code, 130);
    assert_files_and_alert(&d, &hook, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_man_into_a_closed_pipe_end_quietly() {
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut child = tokio::process::Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // As `| head -0` does: the reader is gone before anything is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
